"""The gates a challenger passes before any promotion, each returning its reasons to refuse, with
the numbers (evaluation.decide refuses a challenger any gate names; numpy only).

  - slices: a large enough slice of the test rows on which it is worse than the champion by more
    than the spec's tolerance (evergreen.slices scores them);
  - fairness: a difference between the groups of a sensitive column above the spec's maximum;
  - sanity: a classifier that answers a single class, or whose balanced accuracy does not beat the
    majority-class predictor's, learned nothing worth serving, whatever its primary metric says
    (accuracy on 97% negatives rewards the constant answer);
  - budget: a served artifact larger, or slower on one row, than the spec allows (measured by Export);
  - pin: a model a person pinned (evergreen.aliases.pin) is not promoted until it is unpinned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from evergreen.contracts import FairnessReport, SliceScore
from evergreen.evaluation import improvement
from evergreen.metrics import score


def slice_regressions(slices: list[SliceScore], metric: str, higher_is_better: bool, min_rows: int,
                      tolerance: float) -> list[str]:
    """The slice gate: each slice of at least `min_rows` rows on which the challenger is worse than the
    champion by more than `tolerance`, named with its numbers."""
    blocks = []
    for s in slices:
        if s.rows < min_rows or s.challenger is None or s.champion is None:
            continue
        change = improvement(s.challenger, s.champion, higher_is_better)
        if change < -tolerance:
            blocks.append(f"slice {s.column}={s.slice} ({s.rows} test rows): challenger {metric} {s.challenger:.4f} "
                          f"vs champion {s.champion:.4f}, {change:+.4f}, beyond the tolerance {tolerance:g}")
    return blocks


def fairness_breaches(reports: list[FairnessReport], max_parity: float | None,
                      max_opportunity: float | None) -> list[str]:
    """The fairness gate: each difference above the maximum the spec sets, named with its groups."""
    blocks = []
    for r in reports:
        for name, value, limit, rate in (
                ("demographic parity difference", r.demographic_parity_difference, max_parity, "selection_rate"),
                ("equal opportunity difference", r.equal_opportunity_difference, max_opportunity, "true_positive_rate")):
            if limit is None or value is None or value <= limit:
                continue
            rates = ", ".join(f"{g} {v[rate]:.3f}" for g, v in r.groups.items()
                              if v["rows"] >= r.min_rows and v[rate] is not None)
            blocks.append(f"{name} on {r.column} is {value:.4f}, above the maximum {limit:g} ({rate}: {rates})")
    return blocks


def sanity(y_true: np.ndarray, labels: np.ndarray, majority: np.ndarray, classes: list[str] | None) -> list[str]:
    """The sanity gate on a classifier's test answers `labels` (the majority-class predictor's: `majority`)."""
    if classes is None:
        return []
    answered = sorted(set(np.asarray(labels).astype(str).tolist()))
    if len(answered) == 1 and len(set(np.asarray(y_true).astype(str).tolist())) > 1:
        return [f"the challenger answers a single class ({answered[0]!r}) on every test row"]
    ours = score("balanced_accuracy", y_true, labels, None, classes)
    theirs = score("balanced_accuracy", y_true, majority, None, classes)
    if ours <= theirs:
        return [f"the challenger's balanced accuracy {ours:.4f} does not beat the majority-class predictor's "
                f"{theirs:.4f} on the test split"]
    return []


def served_budget(size_bytes: int | None, p50_ms: float | None, max_mb: float, max_p50_ms: float) -> list[str]:
    """The budget gate on the exported ONNX model: its size and its median single-row predict time."""
    blocks = []
    if size_bytes is not None and size_bytes > max_mb * 2**20:
        blocks.append(f"the ONNX model is {size_bytes / 2**20:.1f} MB, over the budget of {max_mb:g} MB "
                      "(promotion.max_onnx_mb)")
    if p50_ms is not None and p50_ms > max_p50_ms:
        blocks.append(f"the ONNX model answers one row in {p50_ms:.2f} ms (median), over the budget of "
                      f"{max_p50_ms:g} ms (promotion.max_p50_ms)")
    return blocks


def pinned(pin: Mapping[str, Any] | None) -> list[str]:
    """The pin gate: the registry's pin item (None: not pinned)."""
    if pin is None:
        return []
    return [f"the model is pinned at champion v{pin.get('version')} by {pin.get('actor')} ({pin.get('reason')}): "
            "nothing is promoted until it is unpinned"]
