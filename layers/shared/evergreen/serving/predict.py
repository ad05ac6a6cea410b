"""Predict: request -> feeds -> onnxruntime -> response body, each prediction logged (evergreen.prediction_log).

A binary champion answers with its decision threshold: its OnnxModel makes the labels with it
(evergreen.serving.champion), so the response, the log and the plausibility flags all see those labels.

A prediction whose inputs (or regression output) lie outside what training saw is answered all the
same, with `flags` (evergreen.serving.plausibility) in its response entry and its log item; an entry
without flags has no `flags` key, so the common answer is unchanged.

A batch is formatted whole: its float32 outputs become the response's numbers in one call
(evergreen.serving.float32), its prediction ids come from one read of os.urandom, and each record
then only gets its two dicts, the response entry and the log item."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from evergreen import prediction_log
from evergreen.serving import float32, routing
from evergreen.serving.champion import Champion, ModelCache
from evergreen.serving.feeds import build_feeds
from evergreen.serving.requests import PredictRequest

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class PredictOutcome:
    body: dict[str, Any]
    items: list[dict[str, Any]]  # the prediction log items, as written
    model_seconds: float  # onnxruntime time alone
    implausible: int | None = None  # predictions flagged; None: the champion has no contract, nothing was checked


def predict(request: PredictRequest, cache: ModelCache, predictions_table: Any) -> PredictOutcome:
    """The model for request.model answers every record (the champion; in a canary, the challenger for
    its share of requests, evergreen.serving.routing); nothing is logged unless all records are valid.
    In shadow, the challenger's answers are logged beside the champion's (`shadow` of each log item)."""
    champion = cache.get(request.model)
    challenger = cache.challenger(request.model)
    rollout = challenger.rollout if challenger is not None else None
    answering = challenger if challenger is not None and routing.takes_challenger(request, rollout) else champion
    feeds = build_feeds(request.records, answering.numeric, answering.categorical, single=request.single)
    started = time.perf_counter()
    out = answering.model.run(feeds.numeric, feeds.categorical)
    model_seconds = time.perf_counter() - started
    checks = answering.plausibility
    flags = checks.flags(feeds.numeric, feeds.categorical, out.labels) if checks is not None else None
    predictions, items = format_predictions(answering, out.labels, out.probabilities, feeds.received,
                                            datetime.now(UTC), flags)
    if challenger is not None and rollout and rollout["mode"] == "shadow":
        for item, shadow in zip(items, shadow_answers(challenger, request), strict=True):
            if shadow:
                item["shadow"] = shadow
    prediction_log.write(predictions_table, items)
    body = {"model": answering.model_name, "model_version": answering.version, "predictions": predictions,
            "ignored_fields": feeds.ignored_fields}
    implausible = None if checks is None else sum(1 for row in flags or () if row)
    return PredictOutcome(body, items, model_seconds, implausible)


def shadow_answers(challenger: Champion, request: PredictRequest) -> list[dict[str, Any]]:
    """The challenger's answer to each record, as its shadow log entry ({} for all when it cannot answer
    these records: a shadow never fails the request the champion answered)."""
    try:
        feeds = build_feeds(request.records, challenger.numeric, challenger.categorical, single=request.single)
        out = challenger.model.run(feeds.numeric, feeds.categorical)
    except Exception:  # noqa: BLE001 - logged; the champion's answer stands
        logger.warning("shadow challenger could not answer", exc_info=True,
                       extra={"model_name": challenger.model_name, "model_version": challenger.version})
        return [{} for _ in request.records]
    entries, _ = format_predictions(challenger, out.labels, out.probabilities, feeds.received, datetime.now(UTC))
    return [{"model_version": challenger.version, "prediction": e["prediction"],
             **({"probabilities": e["probabilities"]} if "probabilities" in e else {})} for e in entries]


def format_predictions(champion: Champion, labels: np.ndarray, probabilities: np.ndarray | None,
                       received: list[dict[str, Any]], now: datetime,
                       flags: Sequence[list[str]] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Model outputs (and per-row plausibility flags) -> (response predictions, prediction log items); no I/O.

    Numbers are float32.shortest's (0.9, not 0.8999999761581421); a log item is its response entry plus
    the champion's facts, the times and the record's received fields."""
    ids = prediction_ids(len(labels))
    if champion.classes is not None:
        rows = float32.shortest(probabilities).tolist()
        predictions = [{"prediction_id": pid, "prediction": label, "probabilities": dict(zip(champion.classes, row))}
                       for pid, label, row in zip(ids, labels.tolist(), rows, strict=True)]
    else:
        predictions = [{"prediction_id": pid, "prediction": value}
                       for pid, value in zip(ids, float32.shortest(labels).tolist(), strict=True)]
    if flags is not None:
        for entry, row in zip(predictions, flags, strict=True):
            if row:
                entry["flags"] = row
    logged = {"model_name": champion.model_name, "model_version": champion.version,
              "problem_type": champion.problem_type, "created_at": now.isoformat(timespec="milliseconds"),
              "expires_at": int((now + prediction_log.PREDICTION_TTL).timestamp())}
    tolerance = {} if champion.regression_tolerance is None else {"regression_tolerance": champion.regression_tolerance}
    items = [{**entry, **logged, "features": features, **tolerance}
             for entry, features in zip(predictions, received, strict=True)]
    return predictions, items


# the bits uuid.uuid4() fixes: the version (4) in byte 6, the RFC 4122 variant in byte 8
_UUID_KEEP = np.array([255] * 6 + [0x0F, 255, 0x3F] + [255] * 7, dtype=np.uint8)
_UUID_SET = np.array([0] * 6 + [0x40, 0, 0x80] + [0] * 7, dtype=np.uint8)


def prediction_ids(n: int) -> list[str]:
    """n random version-4 UUIDs as 32 hex digits, as uuid.uuid4().hex, from one os.urandom call."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16)
    text = (raw & _UUID_KEEP | _UUID_SET).tobytes().hex()
    return [text[i:i + 32] for i in range(0, 32 * n, 32)]
