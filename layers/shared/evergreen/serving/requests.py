"""Requests: the body (size, base64, UTF-8, JSON) and the shapes of /predict and /feedback.

Everything here is about the envelope; the values inside records are checked by
evergreen.serving.feeds and labels against their prediction by evergreen.serving.feedback.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evergreen.serving.errors import PayloadTooLarge, RequestError, is_unicode, json_type, shown

MAX_BODY_BYTES = 1_000_000
MAX_RECORDS = 100
MAX_FEEDBACK = 100
MAX_PREDICTION_ID_CHARS = 128
MAX_REQUEST_KEY_CHARS = 128
MAX_LABEL_CHARS = 256
MODEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # = evergreen.spec.NAME_RE (not imported: pydantic)


# ------------------------------------------------------------------------------------------- body
def parse_json_body(body: str | bytes | None, *, base64_encoded: bool = False) -> dict[str, Any]:
    """The request body as a JSON object. At most MAX_BODY_BYTES (413 beyond); base64 and UTF-8
    must be valid; NaN/Infinity are refused (they are not JSON); duplicate keys: the last one wins."""
    if body is None or not body.strip():
        raise RequestError("request body is empty: send a JSON object")
    if isinstance(body, str):
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError("request body is not valid Unicode text (it holds a lone surrogate)") from None
    else:
        raw = body
    if base64_encoded:
        _check_size(len(raw) * 3 // 4)
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError("request body is not valid base64") from None
    _check_size(len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"request body is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise RequestError("request body is nested too deeply to be parsed") from None
    except ValueError as exc:  # JSONDecodeError, and integers beyond Python's 4300-digit limit
        raise RequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestError(f"request body must be a JSON object, got {json_type(value)}")
    return value


def _check_size(size: int) -> None:
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is {size:,} bytes: at most {MAX_BODY_BYTES:,} bytes per request")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# ------------------------------------------------------------------------------------------- /predict
@dataclass(frozen=True)
class PredictRequest:
    model: str
    records: list[Any]  # each checked to be an object when the feeds are built
    single: bool  # "record" (True) or "records" (False): only changes how errors name a record
    request_key: str | None = None  # what a canary routes by (a user id, say); None: the records themselves


def parse_predict_request(body: Mapping[str, Any], default_model: str) -> PredictRequest:
    model = body.get("model", default_model)
    if model is None:
        model = default_model
    if not isinstance(model, str) or not MODEL_NAME_RE.match(model):
        raise RequestError(f"'model' must be a model name matching {MODEL_NAME_RE.pattern}, got {shown(model)}")
    key = body.get("request_key")
    if key is not None and (not isinstance(key, str) or not key or len(key) > MAX_REQUEST_KEY_CHARS or not is_unicode(key)):
        raise RequestError(f"'request_key' must be a non-empty string of valid Unicode text (at most "
                           f"{MAX_REQUEST_KEY_CHARS} characters), got {shown(key)}")
    has_record, has_records = "record" in body, "records" in body
    if has_record and has_records:
        raise RequestError("give either 'record' or 'records', not both")
    if has_record:
        return PredictRequest(model, [body["record"]], single=True, request_key=key)
    if not has_records:
        raise RequestError("no record: send {\"record\": {...}} or {\"records\": [{...}, ...]}")
    records = body["records"]
    if not isinstance(records, list):
        raise RequestError(f"'records' must be a list of objects, got {json_type(records)}")
    if not records:
        raise RequestError("no record: 'records' is empty")
    if len(records) > MAX_RECORDS:
        raise RequestError(f"too many records: {len(records)} (at most {MAX_RECORDS} per request)")
    return PredictRequest(model, records, single=False, request_key=key)


# ------------------------------------------------------------------------------------------- /feedback
@dataclass(frozen=True)
class FeedbackItem:
    prediction_id: str
    label: str | int | float | bool  # as received; checked against the prediction by evergreen.serving.feedback
    where: str  # how messages name the item: "" (single form) or "feedback[i]."


def parse_feedback_request(body: Mapping[str, Any]) -> list[FeedbackItem]:
    """The feedback items, each with a string id and a scalar label (strings at most MAX_LABEL_CHARS).

    One item per prediction: a request naming the same prediction_id twice is refused, since it
    could only mean two labels for one prediction."""
    has_one, has_many = "prediction_id" in body, "feedback" in body
    if has_one and has_many:
        raise RequestError("give either 'prediction_id' + 'label' or 'feedback', not both")
    if has_one:
        return [_feedback_item(body, "")]
    if not has_many:
        raise RequestError("no feedback: send {\"prediction_id\": ..., \"label\": ...} or {\"feedback\": [...]}")
    entries = body["feedback"]
    if not isinstance(entries, list):
        raise RequestError(f"'feedback' must be a list of objects, got {json_type(entries)}")
    if not entries:
        raise RequestError("no feedback: 'feedback' is empty")
    if len(entries) > MAX_FEEDBACK:
        raise RequestError(f"too many feedback items: {len(entries)} (at most {MAX_FEEDBACK} per request)")
    items = [_feedback_item(entry, f"feedback[{i}].") for i, entry in enumerate(entries)]
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        earlier = first.setdefault(item.prediction_id, i)
        if earlier != i:
            raise RequestError(f"feedback[{i}].prediction_id repeats feedback[{earlier}].prediction_id: "
                               "send one label per prediction")
    return items


def _feedback_item(entry: Any, where: str) -> FeedbackItem:
    if not isinstance(entry, dict):
        raise RequestError(f"{where.rstrip('.') or 'request body'} must be an object, got {json_type(entry)}")
    pid = entry.get("prediction_id")
    if not isinstance(pid, str) or not pid or len(pid) > MAX_PREDICTION_ID_CHARS or not is_unicode(pid):
        raise RequestError(f"{where}prediction_id must be a non-empty string of valid Unicode text (at most "
                           f"{MAX_PREDICTION_ID_CHARS} characters), got {shown(pid)}")
    label = entry.get("label")
    if label is None:
        raise RequestError(f"{where}label is missing (null is not a label)")
    if not isinstance(label, (str, int, float)):  # bool is an int
        raise RequestError(f"{where}label must be a string, a number or a boolean, got {json_type(label)}")
    if isinstance(label, str):
        if len(label) > MAX_LABEL_CHARS:
            raise RequestError(f"{where}label is longer than {MAX_LABEL_CHARS} characters")
        if not is_unicode(label):
            raise RequestError(f"{where}label is not valid Unicode text (it holds a lone surrogate)")
    return FeedbackItem(pid, label, where)
