"""Serve the champion: parse requests, build ONNX feeds, predict, log predictions, take feedback.

This is the inference cold start and hot path, so it imports numpy, boto3 and evergreen's ONNX
runner only: never scikit-learn (nor pandas, pydantic or yaml). Requests are plain dicts; the
feeds are built straight from them with numpy (no DataFrame).

    POST /predict   {"model"?: str, "record": {...}} | {"model"?: str, "records": [{...}, ...]}
    ->  {"model", "model_version", "predictions": [{"prediction_id", "prediction", "probabilities"?}],
         "ignored_fields": [...]}
    POST /feedback  {"prediction_id": str, "label": ...} | {"feedback": [{"prediction_id", "label"}, ...]}
    ->  {"accepted": n, "results": [{"prediction_id", "status": "recorded"|"unknown_prediction", "quality"?}]}

Errors are `ServingError`s carrying an HTTP status (400 bad request, 503 no servable model); the
handler turns them into responses. Inputs follow evergreen.contracts.ColumnSchema: a float32
"numeric" tensor [N, k] with NaN for missing and a string "categorical" tensor [N, m] with "" for
missing.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from evergreen.onnx_model import ModelIntegrityError, OnnxModel
from evergreen.registry import get_alias
from evergreen.storage import from_dynamo, to_dynamo

logger = logging.getLogger(__name__)

MAX_RECORDS = 100
MAX_FEEDBACK = 100
MAX_CATEGORY_CHARS = 1024  # a category longer than this is not a category (and would bloat the log item)
MAX_IGNORED_FIELDS_REPORTED = 50
PREDICTION_TTL = timedelta(days=90)
DEFAULT_CHAMPION_TTL_SECONDS = 30.0
MODEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # = evergreen.spec.NAME_RE (not imported: pydantic)
_NUMERIC_TEXT_RE = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_FLOAT32_MAX = float(np.finfo(np.float32).max)

MetricEmitter = Callable[[str, float, Mapping[str, str]], None]  # (metric name, count, dimensions)


# ------------------------------------------------------------------------------------------- errors
class ServingError(Exception):
    """An error the caller should see, with its HTTP status. The message names the problem."""

    status = 500


class RequestError(ServingError):
    status = 400


class ModelUnavailable(ServingError):
    status = 503


class ChampionRefused(RuntimeError):
    """The registered champion cannot be served as registered (schema or graph contract)."""


# ------------------------------------------------------------------------------------------- parsing
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(body: str | bytes | None) -> dict[str, Any]:
    """The request body as a JSON object; NaN/Infinity are refused (they are not JSON)."""
    if body is None or not body.strip():
        raise RequestError("request body is empty: send a JSON object")
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestError(f"request body must be a JSON object, got {_json_type(value)}")
    return value


@dataclass(frozen=True)
class PredictRequest:
    model: str
    records: list[Any]  # each checked to be an object when features are built
    single: bool  # "record" (True) or "records" (False): only changes how errors name a record


def parse_predict_request(body: Mapping[str, Any], default_model: str) -> PredictRequest:
    model = body.get("model", default_model)
    if model is None:
        model = default_model
    if not isinstance(model, str) or not MODEL_NAME_RE.match(model):
        raise RequestError(f"'model' must be a model name matching {MODEL_NAME_RE.pattern}, got {_short(model)}")
    has_record, has_records = "record" in body, "records" in body
    if has_record and has_records:
        raise RequestError("give either 'record' or 'records', not both")
    if has_record:
        return PredictRequest(model, [body["record"]], single=True)
    if not has_records:
        raise RequestError("no record: send {\"record\": {...}} or {\"records\": [{...}, ...]}")
    records = body["records"]
    if not isinstance(records, list):
        raise RequestError(f"'records' must be a list of objects, got {_json_type(records)}")
    if not records:
        raise RequestError("no record: 'records' is empty")
    if len(records) > MAX_RECORDS:
        raise RequestError(f"too many records: {len(records)} (at most {MAX_RECORDS} per request)")
    return PredictRequest(model, records, single=False)


@dataclass(frozen=True)
class FeedbackItem:
    prediction_id: str
    label: Any


def parse_feedback_request(body: Mapping[str, Any]) -> list[FeedbackItem]:
    has_one, has_many = "prediction_id" in body, "feedback" in body
    if has_one and has_many:
        raise RequestError("give either 'prediction_id' + 'label' or 'feedback', not both")
    if has_one:
        return [_feedback_item(body, "")]
    if not has_many:
        raise RequestError("no feedback: send {\"prediction_id\": ..., \"label\": ...} or {\"feedback\": [...]}")
    items = body["feedback"]
    if not isinstance(items, list):
        raise RequestError(f"'feedback' must be a list of objects, got {_json_type(items)}")
    if not items:
        raise RequestError("no feedback: 'feedback' is empty")
    if len(items) > MAX_FEEDBACK:
        raise RequestError(f"too many feedback items: {len(items)} (at most {MAX_FEEDBACK} per request)")
    return [_feedback_item(item, f"feedback[{i}].") for i, item in enumerate(items)]


def _feedback_item(item: Any, where: str) -> FeedbackItem:
    if not isinstance(item, dict):
        raise RequestError(f"{where.rstrip('.') or 'request body'} must be an object, got {_json_type(item)}")
    pid = item.get("prediction_id")
    if not isinstance(pid, str) or not pid or len(pid) > 128:
        raise RequestError(f"{where}prediction_id must be a non-empty string (at most 128 chars), got {_short(pid)}")
    if "label" not in item or item["label"] is None:
        raise RequestError(f"{where}label is missing (null is not a label)")
    label = item["label"]
    if isinstance(label, (dict, list)):
        raise RequestError(f"{where}label must be a string or a number, got {_json_type(label)}")
    return FeedbackItem(pid, label)


# ------------------------------------------------------------------------------------------- features
@dataclass(frozen=True)
class Features:
    """The ONNX feeds for a batch, plus what the prediction log keeps of each record."""

    numeric: np.ndarray | None  # float32 [N, k], NaN for missing; None when the model has no numeric input
    categorical: np.ndarray | None  # object (str) [N, m], "" for missing; None when no categorical input
    received: list[dict[str, Any]]  # per record: the model's feature fields as received
    ignored_fields: list[str]  # fields no record's model uses, sorted


def build_features(records: list[Any], numeric: list[str] | tuple[str, ...],
                   categorical: list[str] | tuple[str, ...], *, single: bool = False) -> Features:
    """Records (dicts) -> feeds. Raises RequestError naming the record and field on bad input."""
    wanted = set(numeric) | set(categorical)
    num = np.empty((len(records), len(numeric)), dtype=np.float32) if numeric else None
    cat = np.empty((len(records), len(categorical)), dtype=object) if categorical else None
    received: list[dict[str, Any]] = []
    ignored: set[str] = set()
    for i, record in enumerate(records):
        where = "record" if single else f"records[{i}]"
        if not isinstance(record, dict):
            raise RequestError(f"{where} must be a JSON object, got {_json_type(record)}")
        present = wanted.intersection(record)
        if not present:
            raise RequestError(
                f"{where} has none of the model's features (numeric: {list(numeric)}, categorical: {list(categorical)})"
            )
        if len(present) < len(record):
            ignored.update(k for k in record if k not in wanted)
        for j, name in enumerate(numeric):
            num[i, j] = numeric_value(record.get(name), where, name)  # type: ignore[index]
        for j, name in enumerate(categorical):
            cat[i, j] = categorical_value(record.get(name), where, name)  # type: ignore[index]
        received.append({k: storable(record[k]) for k in record if k in wanted})
    return Features(num, cat, received, sorted(ignored)[:MAX_IGNORED_FIELDS_REPORTED])


def numeric_value(value: Any, where: str, name: str) -> float:
    """A number, a numeric string, or null/missing/"" (-> NaN). Anything else is a 400 naming the field."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise RequestError(f"{where}.{name} must be a number or a numeric string, got {_short(value)} (a boolean)")
    if isinstance(value, (int, float)):
        number = _finite(value)
    elif isinstance(value, str):
        if not value.strip():
            return math.nan
        if not _NUMERIC_TEXT_RE.match(value):
            raise RequestError(f"{where}.{name} must be a number or a numeric string, got {_short(value)}")
        number = _finite(float(value))
    else:
        raise RequestError(f"{where}.{name} must be a number or a numeric string, got {_json_type(value)}")
    if number is None or abs(number) > _FLOAT32_MAX:
        raise RequestError(f"{where}.{name} is out of range for a float32 feature: {_short(value)}")
    return number


def categorical_value(value: Any, where: str, name: str) -> str:
    """A string (or a number/boolean, as str()); null/missing -> "" (the missing category)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)):  # bool included: str(True) == "True"
        text = str(value)
    else:
        raise RequestError(f"{where}.{name} must be a string, a number or null, got {_json_type(value)}")
    if len(text) > MAX_CATEGORY_CHARS:
        raise RequestError(f"{where}.{name} is longer than {MAX_CATEGORY_CHARS} characters")
    return text


def storable(value: Any) -> Any:
    """A value as received, except numbers DynamoDB cannot hold (38 digits, 1e-130..1e126) become strings."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**38 else str(value)
    magnitude = abs(value)
    return value if magnitude == 0 or (1e-130 < magnitude < 1e125) else str(value)


def _finite(value: int | float) -> float | None:
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        return None
    return number if math.isfinite(number) else None


# ------------------------------------------------------------------------------------------- models
@dataclass(frozen=True)
class Champion:
    """A loaded, verified champion model and the registry facts serving needs."""

    model_name: str
    version: int
    sha256: str
    model_key: str
    problem_type: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    classes: tuple[str, ...] | None
    regression_tolerance: float | None
    model: OnnxModel = field(repr=False)

    @property
    def signature(self) -> tuple[int, str, str]:
        return self.version, self.sha256, self.model_key


def champion_from_bytes(model_name: str, alias: Mapping[str, Any], data: bytes) -> Champion:
    """Verify bytes against the champion alias item and build a servable Champion.

    Raises ModelIntegrityError (bytes are not the registered ones, unsafe graph) or ChampionRefused
    (the alias item or the graph does not honour the ColumnSchema contract).
    """
    columns = alias.get("columns")
    if not isinstance(columns, Mapping):
        raise ChampionRefused("the champion item has no 'columns' schema")
    numeric = _names(columns.get("numeric"), "numeric")
    categorical = _names(columns.get("categorical"), "categorical")
    if not numeric and not categorical:
        raise ChampionRefused("the champion's schema has no feature columns")
    problem_type = columns.get("problem_type")
    if problem_type not in ("classification", "regression"):
        raise ChampionRefused(f"unknown problem_type {problem_type!r}")
    classes = None
    if problem_type == "classification":
        classes = _names(columns.get("classes"), "classes")
        if not classes:
            raise ChampionRefused("a classifier's schema must list its classes")
    sha256 = alias.get("sha256")
    if not isinstance(sha256, str) or not sha256:
        raise ModelIntegrityError("the champion item has no sha256: refusing to serve unverified bytes")
    model = OnnxModel(data, numeric=list(numeric), categorical=list(categorical), classes=list(classes) if classes else None,
                      expected_sha256=sha256)
    _check_contract(model, numeric, categorical, classes)
    tolerance = alias.get("regression_tolerance")
    return Champion(
        model_name=model_name, version=int(alias["version"]), sha256=sha256, model_key=str(alias["model_key"]),
        problem_type=problem_type, numeric=numeric, categorical=categorical, classes=classes,
        regression_tolerance=float(tolerance) if isinstance(tolerance, (int, float)) else None, model=model,
    )


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ChampionRefused(f"the champion's schema '{what}' must be a list of strings")
    return tuple(value)


def _check_contract(model: OnnxModel, numeric: tuple[str, ...], categorical: tuple[str, ...],
                    classes: tuple[str, ...] | None) -> None:
    """Inputs are exactly the ColumnSchema tensors; one all-missing row runs (also warms the session up)."""
    expected = ({"numeric": len(numeric)} if numeric else {}) | ({"categorical": len(categorical)} if categorical else {})
    inputs = {i.name: i.shape for i in model.session.get_inputs()}
    if set(inputs) != set(expected):
        raise ChampionRefused(f"model inputs {sorted(inputs)} do not match the registered schema {sorted(expected)}")
    for name, width in expected.items():
        shape = inputs[name]
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != width):
            raise ChampionRefused(f"model input {name!r} has shape {shape}, the schema has {width} columns")
    out = model.run(np.full((1, len(numeric)), np.nan, dtype=np.float32) if numeric else None,
                    np.full((1, len(categorical)), "", dtype=object) if categorical else None)
    if out.labels.shape != (1,):
        raise ChampionRefused(f"model label output has shape {out.labels.shape} for one row")
    if classes is not None and (out.probabilities is None or out.probabilities.shape != (1, len(classes))):
        got = None if out.probabilities is None else out.probabilities.shape
        raise ChampionRefused(f"model probabilities have shape {got}, the schema has {len(classes)} classes")


@dataclass
class _Entry:
    champion: Champion | None  # what is served (may be older than the alias if the alias was refused)
    checked_at: float  # monotonic time of the last registry read
    refused: tuple[Any, ...] | None = None  # alias signature that failed deterministically: not re-downloaded
    unavailable: str | None = None  # why there is nothing to serve (503), when champion is None


class ModelCache:
    """The champion per model, re-read from the registry at most every `ttl_seconds`.

    A new alias version is loaded from S3 and verified (sha256 from the registry, graph checks,
    schema contract). If it fails, the error is logged, `ModelLoadFailure` is emitted and the
    previously loaded model keeps serving; with nothing loaded, `get` raises ModelUnavailable.
    A refused alias (same version, sha256 and key) is not downloaded again until it changes.
    Thread-safe: reads are lock-free, refreshes take a lock.
    """

    def __init__(self, *, registry: Any, s3: Any, bucket: str, ttl_seconds: float = DEFAULT_CHAMPION_TTL_SECONDS,
                 emit_metric: MetricEmitter | None = None, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 256) -> None:
        self.registry = registry
        self.s3 = s3
        self.bucket = bucket
        self.ttl_seconds = ttl_seconds
        self.emit_metric = emit_metric
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, model_name: str) -> Champion:
        entry = self._entries.get(model_name)
        if entry is None or self.clock() - entry.checked_at >= self.ttl_seconds:
            with self._lock:
                entry = self._entries.get(model_name)
                if entry is None or self.clock() - entry.checked_at >= self.ttl_seconds:
                    entry = self._refresh(model_name, entry)
                    self._store(model_name, entry)
        if entry.champion is None:
            raise ModelUnavailable(entry.unavailable or f"no champion model for {model_name!r} yet")
        return entry.champion

    def _store(self, model_name: str, entry: _Entry) -> None:
        self._entries[model_name] = entry
        if len(self._entries) > self.max_entries:  # bound the memory spent on names with nothing to serve
            for name in [n for n, e in self._entries.items() if e.champion is None and n != model_name]:
                del self._entries[name]
                if len(self._entries) <= self.max_entries:
                    break

    def _refresh(self, model_name: str, entry: _Entry | None) -> _Entry:
        now = self.clock()
        current = entry.champion if entry else None
        try:
            alias = get_alias(self.registry, model_name)
        except Exception:  # registry unreachable: keep serving what we have, try again after the TTL
            logger.exception("cannot read the champion alias", extra={"model_name": model_name})
            if current is not None:
                return _Entry(current, now, entry.refused if entry else None)
            raise ModelUnavailable(f"the model registry is unavailable; cannot load {model_name!r}") from None
        if alias is None:
            return _Entry(None, now, unavailable=f"no champion model for {model_name!r} yet")
        signature = (alias.get("version"), alias.get("sha256"), alias.get("model_key"))
        if current is not None and current.signature == signature:
            return _Entry(current, now)
        if entry is not None and entry.refused == signature:
            return _Entry(current, now, signature, entry.unavailable)
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=str(alias.get("model_key")))["Body"].read()
            champion = champion_from_bytes(model_name, alias, data)
        except (ModelIntegrityError, ChampionRefused) as exc:
            return self._failed(model_name, alias, current, now, f"was refused: {exc}", refused=signature)
        except Exception as exc:  # S3, onnxruntime: may be transient, retried after the TTL
            logger.exception("champion load failed", extra={"model_name": model_name})
            return self._failed(model_name, alias, current, now, f"could not be loaded: {type(exc).__name__}: {exc}")
        logger.info("champion loaded", extra={"model_name": model_name, "model_version": champion.version,
                                              "previous_version": current.version if current else None})
        return _Entry(champion, now)

    def _failed(self, model_name: str, alias: Mapping[str, Any], current: Champion | None, now: float, why: str,
                refused: tuple[Any, ...] | None = None) -> _Entry:
        reason = f"champion {model_name!r} version {alias.get('version')} {why}"
        logger.error(reason, extra={"model_name": model_name, "model_key": alias.get("model_key"),
                                    "serving_version": current.version if current else None})
        if self.emit_metric is not None:
            self.emit_metric("ModelLoadFailure", 1, {"Model": model_name})
        return _Entry(current, now, refused, None if current else reason)


# ------------------------------------------------------------------------------------------- predict
@dataclass(frozen=True)
class PredictOutcome:
    body: dict[str, Any]
    items: list[dict[str, Any]]  # the prediction log items, as written
    model_seconds: float  # onnxruntime time alone


def predict(request: PredictRequest, cache: ModelCache, predictions_table: Any) -> PredictOutcome:
    """Parse -> feeds -> onnxruntime -> log -> response body."""
    champion = cache.get(request.model)
    features = build_features(request.records, champion.numeric, champion.categorical, single=request.single)
    started = time.perf_counter()
    out = champion.model.run(features.numeric, features.categorical)
    model_seconds = time.perf_counter() - started
    predictions, items = format_predictions(champion, out.labels, out.probabilities, features.received,
                                            datetime.now(UTC))
    write_predictions(predictions_table, items)
    body = {"model": champion.model_name, "model_version": champion.version, "predictions": predictions,
            "ignored_fields": features.ignored_fields}
    return PredictOutcome(body, items, model_seconds)


def format_predictions(champion: Champion, labels: np.ndarray, probabilities: np.ndarray | None,
                       received: list[dict[str, Any]], now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Model outputs -> (response predictions, prediction log items). Pure."""
    created_at = now.isoformat(timespec="milliseconds")
    expires_at = int((now + PREDICTION_TTL).timestamp())
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


def write_predictions(table: Any, items: list[dict[str, Any]]) -> None:
    """PutItem for one, BatchWriteItem (25 per call, unprocessed items retried) for more."""
    if len(items) == 1:
        table.put_item(Item=to_dynamo(items[0]))
        return
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=to_dynamo(item))


# ------------------------------------------------------------------------------------------- feedback
@dataclass(frozen=True)
class Score:
    quality: float | None  # 1.0 right / 0.0 wrong; None when it cannot be judged (regression without tolerance)
    abs_error: float | None  # regression only


def score_feedback(problem_type: str, prediction: Any, label: Any, tolerance: float | None) -> Score:
    """Classification: str(label) == prediction. Regression: |label - prediction| <= tolerance. Pure.

    Raises ValueError when a regression label is not a number.
    """
    if problem_type == "classification":
        return Score(1.0 if str(label) == str(prediction) else 0.0, None)
    value = regression_label(label)
    error = abs(value - float(prediction))
    quality = None if tolerance is None else (1.0 if error <= tolerance else 0.0)
    return Score(quality, error)


def regression_label(label: Any) -> float:
    if isinstance(label, bool) or not isinstance(label, (int, float, str)):
        raise ValueError("a regression label must be a number")
    if isinstance(label, str) and not _NUMERIC_TEXT_RE.match(label):
        raise ValueError("a regression label must be a number")
    value = _finite(float(label))
    if value is None:
        raise ValueError("a regression label must be a finite number")
    return value


def _problem_type(item: Mapping[str, Any]) -> str:
    if item.get("problem_type") in ("classification", "regression"):
        return str(item["problem_type"])
    return "classification" if isinstance(item.get("prediction"), str) else "regression"


def record_feedback(items: list[FeedbackItem], predictions_table: Any, cloudwatch: Any, namespace: str) -> dict[str, Any]:
    """Store labels on their predictions and publish PredictionQuality/FeedbackCount/AbsoluteError.

    All labels are checked before anything is written (a bad one is a 400 naming it). A repeat of
    the label already stored is acknowledged without a second datapoint, so a retried request
    does not count twice. One put_metric_data call per request.
    """
    stored: dict[str, dict[str, Any] | None] = {}
    for fb in items:
        if fb.prediction_id not in stored:
            raw = predictions_table.get_item(Key={"prediction_id": fb.prediction_id}, ConsistentRead=True).get("Item")
            stored[fb.prediction_id] = from_dynamo(raw) if raw else None
    scores: list[Score | None] = []
    for i, fb in enumerate(items):
        item = stored[fb.prediction_id]
        if item is None:
            scores.append(None)
            continue
        try:
            scores.append(score_feedback(_problem_type(item), item.get("prediction"), fb.label,
                                         item.get("regression_tolerance")))
        except ValueError as exc:
            where = "label" if len(items) == 1 else f"feedback[{i}].label"
            raise RequestError(f"{where}: {exc} (prediction {fb.prediction_id} is a regression), "
                               f"got {_short(fb.label)}") from None

    feedback_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    results: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for fb, score in zip(items, scores, strict=True):
        item = stored[fb.prediction_id]
        if item is None or score is None:
            results.append({"prediction_id": fb.prediction_id, "status": "unknown_prediction"})
            continue
        result = {"prediction_id": fb.prediction_id, "status": "recorded", "quality": score.quality}
        if score.abs_error is not None:
            result["abs_error"] = score.abs_error
        if "label" in item and to_dynamo(item["label"]) == to_dynamo(storable(fb.label)):
            results.append({**result, "duplicate": True})
            continue
        if not _store_label(predictions_table, fb, score, feedback_at):
            stored[fb.prediction_id] = None  # expired (TTL) between the read and the write
            results.append({"prediction_id": fb.prediction_id, "status": "unknown_prediction"})
            continue
        item["label"] = storable(fb.label)
        results.append(result)
        model = str(item["model_name"])
        dims = [{"Name": "Model", "Value": model}]
        counts[model] = counts.get(model, 0) + 1
        if score.quality is not None:
            data.append({"MetricName": "PredictionQuality", "Dimensions": dims, "Value": score.quality, "Unit": "None"})
        if score.abs_error is not None:
            data.append({"MetricName": "AbsoluteError", "Dimensions": dims, "Value": score.abs_error, "Unit": "None"})
    for model, n in counts.items():
        data.append({"MetricName": "FeedbackCount", "Dimensions": [{"Name": "Model", "Value": model}],
                     "Value": float(n), "Unit": "Count"})
    if data:
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)
    accepted = sum(1 for r in results if r["status"] == "recorded")
    return {"accepted": accepted, "results": results}


def _store_label(table: Any, fb: FeedbackItem, score: Score, feedback_at: str) -> bool:
    from botocore.exceptions import ClientError

    names = {"#label": "label", "#at": "feedback_at", "#q": "quality", "#e": "abs_error"}
    values: dict[str, Any] = {":label": storable(fb.label), ":at": feedback_at}
    sets, removes = ["#label = :label", "#at = :at"], []
    for placeholder, value in (("#q", score.quality), ("#e", score.abs_error)):
        if value is None:
            removes.append(placeholder)
        else:
            sets.append(f"{placeholder} = :{placeholder[1:]}")
            values[f":{placeholder[1:]}"] = value
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    try:
        table.update_item(Key={"prediction_id": fb.prediction_id}, UpdateExpression=expression,
                          ConditionExpression="attribute_exists(prediction_id)",
                          ExpressionAttributeNames=names, ExpressionAttributeValues=to_dynamo(values))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def only_unknown(body: Mapping[str, Any]) -> bool:
    """Feedback where every id was unknown: the handler answers 404."""
    return bool(body["results"]) and all(r["status"] == "unknown_prediction" for r in body["results"])


# ------------------------------------------------------------------------------------------- helpers
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
