"""Feedback: one ground-truth label per prediction, checked against the logged prediction, then stored.

Labels are coerced as training coerces its target (evergreen.features): a classifier's label goes
through `features.category` (a str is NFC-normalized and stripped; 1 -> "1", True -> "True") and
must then be one of the model's classes, which are the keys of the logged `probabilities`; a
regressor's label through `features.parse_number` (a finite number or numeric string). Missing
values ("", "NA", ...) are not labels. Every label of a request is checked before anything is
written, so a bad one refuses the whole request with a 400 naming it.

The canonical label (class name, or float) is stored with evergreen.prediction_log.set_label: a
later different label replaces it, the same one again is acknowledged without a write. No metric
is published here: live quality is computed from the stored labels (prediction_log.labelled) on a
schedule, so retries and repeats cannot move it. The response still says how each label scores
(evergreen.monitoring.quality).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from evergreen import features, prediction_log
from evergreen.monitoring import quality
from evergreen.serving.errors import RequestError, shown, shown_repr
from evergreen.serving.requests import FeedbackItem


def record_feedback(items: list[FeedbackItem], predictions_table: Any) -> dict[str, Any]:
    """Store each label on its prediction -> {"accepted": n, "results": [...]}, one result per item."""
    stored = {fb.prediction_id: prediction_log.get(predictions_table, fb.prediction_id) for fb in items}
    labels = [canonical_label(item, fb) if (item := stored[fb.prediction_id]) is not None else None for fb in items]

    feedback_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    results: list[dict[str, Any]] = []
    for fb, label in zip(items, labels, strict=True):
        item = stored[fb.prediction_id]
        if item is None:
            results.append({"prediction_id": fb.prediction_id, "status": "unknown_prediction"})
            continue
        score = quality.score(str(item["problem_type"]), item["prediction"], label, item.get("regression_tolerance"))
        result: dict[str, Any] = {"prediction_id": fb.prediction_id, "status": "recorded", "quality": score.quality}
        if score.abs_error is not None:
            result["abs_error"] = score.abs_error
        if "label" in item and item["label"] == label:
            results.append({**result, "duplicate": True})
            continue
        if not prediction_log.set_label(predictions_table, fb.prediction_id, label, feedback_at):
            results.append({"prediction_id": fb.prediction_id, "status": "unknown_prediction"})  # expired meanwhile
            continue
        results.append({**result, "replaced": True} if "label" in item else result)
    accepted = sum(1 for r in results if r["status"] == "recorded")
    return {"accepted": accepted, "results": results}


def canonical_label(item: Mapping[str, Any], fb: FeedbackItem) -> str | float:
    """The label as stored: one of the classes (classification) or a float (regression); else a 400."""
    if item.get("problem_type") == "classification":
        classes = sorted(item.get("probabilities") or {})
        try:
            label = features.category(fb.label)
        except features.InvalidValue:
            label = None
        if label == "":
            raise RequestError(f"{fb.where}label {shown_repr(fb.label)} is a missing value, not a label")
        if label not in classes:
            raise RequestError(f"{fb.where}label {shown_repr(fb.label)} is not one of the model's classes "
                               f"{shown_repr(classes, limit=300)}")
        return label
    try:
        number = features.parse_number(fb.label)
    except features.InvalidValue as exc:
        raise RequestError(f"{fb.where}label {shown(fb.label)} {exc} (the model is a regressor)") from None
    if math.isnan(number):
        raise RequestError(f"{fb.where}label {shown(fb.label)} is a missing value, not a label")
    return number


def only_unknown(body: Mapping[str, Any]) -> bool:
    """Feedback where every id was unknown: the handler answers 404."""
    return bool(body["results"]) and all(r["status"] == "unknown_prediction" for r in body["results"])
