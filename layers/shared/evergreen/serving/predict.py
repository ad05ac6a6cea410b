"""Predict: request -> feeds -> onnxruntime -> response body, each prediction logged (evergreen.prediction_log)."""

from __future__ import annotations

import time
import uuid
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


def predict(request: PredictRequest, cache: ModelCache, predictions_table: Any) -> PredictOutcome:
    """The champion for request.model answers every record; nothing is logged unless all records are valid."""
    champion = cache.get(request.model)
    feeds = build_feeds(request.records, champion.numeric, champion.categorical, single=request.single)
    started = time.perf_counter()
    out = champion.model.run(feeds.numeric, feeds.categorical)
    model_seconds = time.perf_counter() - started
    predictions, items = format_predictions(champion, out.labels, out.probabilities, feeds.received,
                                            datetime.now(UTC))
    prediction_log.write(predictions_table, items)
    body = {"model": champion.model_name, "model_version": champion.version, "predictions": predictions,
            "ignored_fields": feeds.ignored_fields}
    return PredictOutcome(body, items, model_seconds)


def format_predictions(champion: Champion, labels: np.ndarray, probabilities: np.ndarray | None,
                       received: list[dict[str, Any]], now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Model outputs -> (response predictions, prediction log items). Pure."""
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
