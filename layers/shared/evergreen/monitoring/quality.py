"""Live quality from ground-truth labels: each labelled prediction counts once, as stored.

Classification: a prediction is right when its label equals the predicted class. Regression: when
the absolute error is within the model's tolerance (the spec's `monitoring.regression_tolerance`,
else twice the champion's test error; None: not judged, only the error is reported).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Score:
    quality: float | None  # 1.0 right / 0.0 wrong; None when it cannot be judged (regression without tolerance)
    abs_error: float | None  # regression only


def score(problem_type: str, prediction: Any, label: Any, tolerance: float | None) -> Score:
    """One prediction against its (canonical) label."""
    if problem_type == "classification":
        return Score(1.0 if str(label) == str(prediction) else 0.0, None)
    error = abs(float(label) - float(prediction))
    return Score(None if tolerance is None else (1.0 if error <= tolerance else 0.0), error)


def problem_type_of(item: Mapping[str, Any]) -> str:
    """The item's `problem_type`; for items logged without one, a class name (str) means classification."""
    kind = item.get("problem_type")
    if kind in ("classification", "regression"):
        return str(kind)
    return "classification" if isinstance(item.get("prediction"), str) else "regression"


@dataclass(frozen=True)
class WindowQuality:
    labels: int  # labelled predictions in the window (each once)
    quality: float | None  # mean of the judged ones; None when none could be judged
    mean_abs_error: float | None  # regression only
    judged: int = 0  # labels that had a verdict (regression needs a tolerance)
    unreadable: int = 0  # labels that could not be scored (a non-numeric regression label): counted, not judged


def window_quality(items: Iterable[Mapping[str, Any]]) -> WindowQuality:
    """Quality of prediction-log items that carry a label (see evergreen.prediction_log).

    An item seen twice (same `prediction_id`) counts once: a prediction has one label, the stored one.
    """
    judged: list[float] = []
    errors: list[float] = []
    seen: set[str] = set()
    n = unreadable = 0
    for item in items:
        pid = item.get("prediction_id")
        if pid is not None:
            if str(pid) in seen:
                continue
            seen.add(str(pid))
        n += 1
        try:
            s = score(problem_type_of(item), item.get("prediction"), item["label"], item.get("regression_tolerance"))
        except (TypeError, ValueError):
            unreadable += 1
            continue
        if s.quality is not None:
            judged.append(s.quality)
        if s.abs_error is not None:
            errors.append(s.abs_error)
    return WindowQuality(
        labels=n,
        quality=sum(judged) / len(judged) if judged else None,
        mean_abs_error=sum(errors) / len(errors) if errors else None,
        judged=len(judged),
        unreadable=unreadable,
    )
