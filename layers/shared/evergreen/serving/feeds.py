"""Request records -> ONNX feeds, through evergreen.features: the coercion ingest applies to CSV cells.

All the cells of one type are coerced in one call over the whole batch with `features.numeric_column` /
`features.categorical_column`, exactly as training coerces a CSV column, so " pro " is "pro", "NA"
is missing and "1e3" is 1000 on both paths. Where training counts an invalid cell as missing,
serving answers 400 naming the record, the field and the reason. The feeds follow
evergreen.contracts.ColumnSchema (as `data.model_inputs`): float32 "numeric" [N, k] with NaN for
missing, str "categorical" [N, m] with "" for missing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evergreen import features
from evergreen.serving.errors import RequestError, is_unicode, json_type, shown

MAX_FIELDS_PER_RECORD = 1000
MAX_FIELD_NAME_CHARS = 256
MAX_IGNORED_FIELDS_REPORTED = 50
MAX_LOGGED_FEATURE_BYTES = 300_000  # what a record leaves in its prediction log item (DynamoDB: 400 KB per item)


@dataclass(frozen=True)
class Feeds:
    """The ONNX feeds for a batch, plus what the prediction log keeps of each record."""

    inputs: dict[str, np.ndarray]  # {"numeric"?: float32 [N, k], "categorical"?: str [N, m]}, as data.model_inputs
    received: list[dict[str, Any]]  # per record: its fields as received (see _received)
    ignored_fields: list[str]  # fields no record's model uses, sorted (at most MAX_IGNORED_FIELDS_REPORTED)

    @property
    def numeric(self) -> np.ndarray | None:
        return self.inputs.get("numeric")

    @property
    def categorical(self) -> np.ndarray | None:
        return self.inputs.get("categorical")


def build_feeds(records: Sequence[Any], numeric: Sequence[str], categorical: Sequence[str], *,
                single: bool = False) -> Feeds:
    """Records (JSON objects) -> feeds. Raises RequestError naming the record and field on bad input."""
    wanted = set(numeric) | set(categorical)
    _check_records(records, single, wanted, numeric, categorical)
    ignored = set().union(*records) - wanted
    # one coercion call per type for the whole batch (row-major cells), then the [N, k] tensors
    n, k, m = len(records), len(numeric), len(categorical)
    num, bad_num = features.numeric_column([record.get(name) for record in records for name in numeric])
    cat, bad_cat = features.categorical_column([record.get(name) for record in records for name in categorical])
    invalid = [(c.row // k, c.row % k, numeric[c.row % k], c) for c in bad_num]
    invalid += [(c.row // m, k + c.row % m, categorical[c.row % m], c) for c in bad_cat]
    if invalid:
        row, _, name, cell = min(invalid, key=lambda bad: bad[:2])  # the first record, then the first column
        got = "" if isinstance(cell.value, (list, dict)) else f", got {shown(cell.value)}"
        raise RequestError(f"{_where(row, single)}.{name} {cell.reason}{got}")
    inputs = {}
    if k:
        inputs["numeric"] = num.reshape(n, k)
    if m:
        inputs["categorical"] = cat.reshape(n, m)
    received = [_received(record, wanted) for record in records]
    _check_logged_size(received, single)
    return Feeds(inputs, received, sorted(ignored)[:MAX_IGNORED_FIELDS_REPORTED])


def _where(i: int, single: bool) -> str:
    return "record" if single else f"records[{i}]"


def _check_records(records: Sequence[Any], single: bool, wanted: set[str], numeric: Sequence[str],
                   categorical: Sequence[str]) -> None:
    """RequestError unless every record is a usable object with at least one of the model's features.

    The batch is checked at once (C-level passes over its records and field names); only a batch that
    fails is gone through record by record, to name the first record and field at fault."""
    if (all(type(record) is dict for record in records)
            and max(map(len, records), default=0) <= MAX_FIELDS_PER_RECORD
            and max(map(len, itertools.chain.from_iterable(records)), default=0) <= MAX_FIELD_NAME_CHARS
            and all(map(str.isascii, itertools.chain.from_iterable(records)))
            and not any(map(wanted.isdisjoint, records))):
        return
    for i, record in enumerate(records):
        _check_record(record, _where(i, single), wanted, numeric, categorical)


def _check_record(record: Any, where: str, wanted: set[str], numeric: Sequence[str],
                  categorical: Sequence[str]) -> None:
    if not isinstance(record, dict):
        raise RequestError(f"{where} must be a JSON object, got {json_type(record)}")
    if len(record) > MAX_FIELDS_PER_RECORD:
        raise RequestError(f"{where} has {len(record):,} fields (at most {MAX_FIELDS_PER_RECORD:,} per record)")
    for name in record:
        if len(name) > MAX_FIELD_NAME_CHARS:
            raise RequestError(f"{where} has a field name longer than {MAX_FIELD_NAME_CHARS} characters: "
                               f"{shown(name)}")
        if not name.isascii() and not is_unicode(name):
            raise RequestError(f"{where} has a field name that is not valid Unicode text (a lone surrogate): "
                               f"{shown(name)}")
    if wanted.isdisjoint(record):
        raise RequestError(
            f"{where} has none of the model's features (numeric: {list(numeric)}, categorical: {list(categorical)})"
        )


_SCALARS = (str, int, float, bool)  # with null: the JSON values a record's other fields are logged with
_STORABLE = frozenset({str, bool, type(None)})  # logged as they are (storable would return them unchanged)


def _received(record: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    """What the prediction log keeps of a record: the model's fields and every other scalar field the
    request sent (a retrain, or a new contract version, can then use a column the model does not), as
    received; nested values of other fields are not kept (DynamoDB allows 32 levels)."""
    return {name: value if type(value) in _STORABLE else storable(value) for name, value in record.items()
            if name in wanted or value is None or isinstance(value, _SCALARS)}


def _check_logged_size(received: list[dict[str, Any]], single: bool) -> None:
    """RequestError naming the first record whose logged features, as JSON, exceed MAX_LOGGED_FEATURE_BYTES.

    One json.dumps of the batch answers for every record at once when the whole is within the limit;
    json.dumps escapes everything but ASCII, so its length is its size in bytes."""
    if len(json.dumps(received)) <= MAX_LOGGED_FEATURE_BYTES:
        return
    for i, kept in enumerate(received):
        size = len(json.dumps(kept))
        if size > MAX_LOGGED_FEATURE_BYTES:
            raise RequestError(f"{_where(i, single)} is too large to log: its features take {size:,} bytes "
                               f"(at most {MAX_LOGGED_FEATURE_BYTES:,})")


def storable(value: Any) -> Any:
    """A value as received, except numbers DynamoDB cannot hold (38 digits, 1e-130..1e126) become strings."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**38 else str(value)
    magnitude = abs(value)
    return value if magnitude == 0 or (1e-130 < magnitude < 1e125) else str(value)
