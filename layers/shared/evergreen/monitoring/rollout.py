"""A rollout judged on live labels: is the challenger worse than the champion it runs beside?

The labelled predictions since the rollout began (its `started_at`) are split by who answered:
    canary   each prediction was answered by one of them (its `model_version`);
    shadow   the champion answered and the challenger's answer was logged beside it (`shadow`), so
             every labelled prediction scores both, on the same requests.
Quality is evergreen.monitoring.quality's (right class; a regression error within tolerance). Once
both have `min_labels` judged labels, the challenger is promoted when its quality is at least the
champion's less `tolerance`, and rolled back otherwise; until then the verdict is to wait.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from evergreen.monitoring.quality import WindowQuality, window_quality


@dataclass(frozen=True)
class Verdict:
    action: Literal["promote", "rollback", "wait"]
    reason: str
    champion: WindowQuality
    challenger: WindowQuality


def challenger_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """A shadowed prediction as the challenger answered it (its logged answer, the same label)."""
    shadow = item["shadow"]
    return {**item, "model_version": shadow["model_version"], "prediction": shadow["prediction"],
            "probabilities": shadow.get("probabilities")}


def judge(rollout: Mapping[str, Any], champion_version: int, challenger_version: int,
          labelled: Iterable[Mapping[str, Any]]) -> Verdict:
    """The verdict on a rollout from the labelled predictions logged since it began."""
    items = list(labelled)
    if rollout["mode"] == "shadow":
        paired = [i for i in items if int(i["model_version"]) == champion_version
                  and int((i.get("shadow") or {}).get("model_version", -1)) == challenger_version]
        champ, chall = window_quality(paired), window_quality(challenger_view(i) for i in paired)
    else:
        champ = window_quality(i for i in items if int(i["model_version"]) == champion_version)
        chall = window_quality(i for i in items if int(i["model_version"]) == challenger_version)
    need, tolerance = int(rollout["min_labels"]), float(rollout["tolerance"])
    counts = f"champion v{champion_version} {_shown(champ)}, challenger v{challenger_version} {_shown(chall)}"
    if champ.judged < need or chall.judged < need or champ.quality is None or chall.quality is None:
        return Verdict("wait", f"{counts}; {need} judged labels each are needed", champ, chall)
    if chall.quality >= champ.quality - tolerance:
        return Verdict("promote", f"live quality {counts}: not worse (tolerance {tolerance:g})", champ, chall)
    return Verdict("rollback", f"live quality {counts}: worse by {champ.quality - chall.quality:.4f} "
                               f"(tolerance {tolerance:g})", champ, chall)


def _shown(q: WindowQuality) -> str:
    quality = "n/a" if q.quality is None else f"{q.quality:.4f}"
    return f"{quality} on {q.judged} labels"
