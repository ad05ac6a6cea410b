"""Predict: request -> feeds -> onnxruntime -> response body, each prediction logged (evergreen.prediction_log).

A prediction whose inputs (or regression output) lie outside what training saw is answered all the
same, with `flags` (evergreen.serving.plausibility) in its response entry and its log item; an entry
without flags has no `flags` key, so the common answer is unchanged."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from evergreen import prediction_log
from evergreen.serving.champion import Champion, ModelCache
from evergreen.serving.feeds import build_feeds
from evergreen.serving.requests import PredictRequest


@dataclass(frozen=True)
class PredictOutcome:
    body: dict[str, Any]
    items: list[dict[str, Any]]  # the prediction log items, as written
    model_seconds: float  # onnxruntime time alone
    implausible: int | None = None  # predictions flagged; None: the champion has no contract, nothing was checked


def predict(request: PredictRequest, cache: ModelCache, predictions_table: Any) -> PredictOutcome:
    """The champion for request.model answers every record; nothing is logged unless all records are valid."""
    champion = cache.get(request.model)
    feeds = build_feeds(request.records, champion.numeric, champion.categorical, single=request.single)
    started = time.perf_counter()
    out = champion.model.run(feeds.numeric, feeds.categorical)
    model_seconds = time.perf_counter() - started
    checks = champion.plausibility
    flags = checks.flags(feeds.numeric, feeds.categorical, out.labels) if checks is not None else None
    predictions, items = format_predictions(champion, out.labels, out.probabilities, feeds.received,
                                            datetime.now(UTC), flags)
    prediction_log.write(predictions_table, items)
    body = {"model": champion.model_name, "model_version": champion.version, "predictions": predictions,
            "ignored_fields": feeds.ignored_fields}
    implausible = None if checks is None else sum(1 for row in flags or () if row)
    return PredictOutcome(body, items, model_seconds, implausible)


def format_predictions(champion: Champion, labels: np.ndarray, probabilities: np.ndarray | None,
                       received: list[dict[str, Any]], now: datetime,
                       flags: Sequence[list[str]] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Model outputs (and per-row plausibility flags) -> (response predictions, prediction log items). Pure."""
    created_at = now.isoformat(timespec="milliseconds")
    expires_at = int((now + prediction_log.PREDICTION_TTL).timestamp())
    predictions, items = [], []
    for i, label in enumerate(labels):
        pid = uuid.uuid4().hex
        entry: dict[str, Any] = {"prediction_id": pid}
        if champion.classes is not None:
            entry["prediction"] = str(label)
            entry["probabilities"] = {c: _f32(p) for c, p in zip(champion.classes, probabilities[i], strict=True)}  # type: ignore[index]
        else:
            entry["prediction"] = _f32(label)
        if flags is not None and flags[i]:
            entry["flags"] = flags[i]
        predictions.append(entry)
        items.append({**entry, "model_name": champion.model_name, "model_version": champion.version,
                      "problem_type": champion.problem_type, "created_at": created_at, "expires_at": expires_at,
                      "features": received[i],
                      **({"regression_tolerance": champion.regression_tolerance}
                         if champion.regression_tolerance is not None else {})})
    return predictions, items


def _f32(value: Any) -> float:
    """A float32 output as the shortest float that round-trips it (0.9 rather than 0.8999999761581421)."""
    return float(str(np.float32(value)))
