"""Rollouts: every challenger in shadow or canary judged on the labels logged since its rollout began
(evergreen.monitoring.rollout), and the verdict carried out through one audited alias move
(evergreen.aliases): promoted, rolled back, or left to wait for labels. Run by the monitor on its
schedule, so a rollout ends without a person.

A pinned model's challenger is never promoted (the verdict waits, and says so); a worse one is still
rolled back. A move that loses a race with another writer (a person's rollback, say) is left undone
and reported: the registry is as that writer left it.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict

from evergreen import aliases, prediction_log, registry
from evergreen.monitoring.rollout import judge
from evergreen.storage import Stores

log = logging.getLogger(__name__)
ACTOR = "monitor"


class RolloutSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_name: str
    mode: str
    champion_version: int
    challenger_version: int
    champion_labels: int
    challenger_labels: int
    champion_quality: float | None
    challenger_quality: float | None
    outcome: Literal["promoted", "rolled_back", "waiting", "conflict"]
    reason: str


def run(stores: Stores) -> list[RolloutSummary]:
    summaries = []
    for challenger in registry.champions(stores.registry, alias=registry.CHALLENGER):
        model, rollout = str(challenger["model_name"]), challenger["rollout"]
        champion = registry.get_alias(stores.registry, model)
        if champion is None:  # a challenger is only ever made beside a champion; a person removed it
            continue
        versions = int(champion["version"]), int(challenger["version"])
        verdict = judge(rollout, *versions, prediction_log.labelled(stores.predictions, model, since=rollout["started_at"]))
        outcome, reason = {"promote": "promoted", "rollback": "rolled_back", "wait": "waiting"}[verdict.action], verdict.reason
        pinned = registry.get_pin(stores.registry, model) if verdict.action == "promote" else None
        if pinned is not None:
            outcome, reason = "waiting", f"{reason}; not promoted: the model is pinned ({pinned.get('reason')})"
        try:
            if outcome == "promoted":
                aliases.promote_challenger(stores.registry, model, reason=reason, actor=ACTOR, automatic=True)
            elif outcome == "rolled_back":
                aliases.end_rollout(stores.registry, model, versions[1], reason=reason, actor=ACTOR)
        except registry.AliasesChanged as exc:
            outcome, reason = "conflict", str(exc)
        summary = RolloutSummary(model_name=model, mode=rollout["mode"], champion_version=versions[0],
                                 challenger_version=versions[1], champion_labels=verdict.champion.judged,
                                 challenger_labels=verdict.challenger.judged, champion_quality=verdict.champion.quality,
                                 challenger_quality=verdict.challenger.quality, outcome=outcome, reason=reason)
        log.info("rollout %s", outcome, extra=summary.model_dump())
        summaries.append(summary)
    return summaries
