"""Tabular data: CSV in, a typed and cleaned Frame out, and the arrays a model takes.

numpy + stdlib only: the inference and monitoring Lambdas import this without scikit-learn or pandas.

Conventions everywhere in Evergreen:
  - numeric features are float32, NaN for missing (values are parsed with correct rounding to
    float32, so what a model sees in training, in ONNX and after a CSV round trip is bit-identical);
  - categorical features are object arrays of str, "" for missing (values stripped of whitespace);
  - the target is str for classification and float64 for regression;
  - the tokens "", "NA", "N/A", "null", "NaN", "?" (any case, surrounding whitespace ignored) mean missing.

Typical flow (ingest): ``read_csv`` -> ``infer_schema`` -> ``build_frame`` -> ``split_frame`` ->
``frame_to_csv`` / ``profile`` / ``dataset_version``. Later steps read a split back with
``frame_from_csv`` and feed models with ``model_matrix`` (scikit-learn) or ``model_inputs`` (ONNX).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from evergreen.contracts import ColumnSchema
from evergreen.spec import ModelSpec

MISSING_TOKENS = frozenset({"", "na", "n/a", "null", "nan", "?"})
DELIMITERS = (",", ";", "\t")
SNIFF_RECORDS = 200  # records read per candidate delimiter when sniffing
TOP_CATEGORIES = 20  # categorical values kept by name in a profile; the rest count as OTHER
OTHER = "__other__"
QUANTILES = tuple(i / 10 for i in range(11))
# the smallest magnitude that rounds to float32 infinity (float32 max plus half its ulp)
_F32_LIMIT = 2.0**128 - 2.0**103
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


class DataError(ValueError):
    """The data cannot be used; the message names the problem precisely."""


@dataclass
class Frame:
    """Cleaned, typed columns plus the target. Feature columns keep the schema's names."""

    columns: dict[str, np.ndarray]
    target: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.target.shape[0])

    def take(self, index: np.ndarray) -> Frame:
        """The rows at `index` (integer positions), in that order."""
        index = np.asarray(index, dtype=np.intp)
        return Frame(columns={name: values[index] for name, values in self.columns.items()}, target=self.target[index])


# --- values ---------------------------------------------------------------------------------


def is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING_TOKENS


def normalize_category(value: Any) -> str:
    """One categorical value as the models see it: stripped text, "" for missing.

    Accepts what a CSV or a JSON request holds: str, None, bool, int or float (NaN is missing).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        return "" if text.lower() in MISSING_TOKENS else text
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return normalize_category(str(value))


def _parse_number(text: str) -> float | None:
    """A finite float that fits float32, or None (missing tokens are handled by the caller)."""
    text = text.strip()
    if "_" in text:  # float() accepts "1_000"; a CSV should not
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or abs(value) >= _F32_LIMIT:
        return None
    return value


def _to_float32_exact(values: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """float64 values parsed from `texts` -> float32, correctly rounded from the decimal text.

    float() rounds the decimal to float64 and the cast rounds again; the two roundings differ from
    one correct rounding only when the float64 lands exactly on a midpoint between two float32
    neighbours. Those few values are decided again with exact decimal arithmetic.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(np.float32)
        finite = np.isfinite(values)
        back = out.astype(np.float64)
        direction = np.where(values > back, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
        neighbour = np.nextafter(out, direction)
        midpoint = (back + neighbour.astype(np.float64)) / 2
    for i in np.flatnonzero(finite & (values != back) & (values == midpoint)):
        exact = Decimal(texts[i].strip())  # Decimal comparisons are exact (no context rounding)
        mid = Decimal(float(midpoint[i]))
        if exact != mid:  # on the midpoint itself the cast already rounded half to even
            low, high = sorted((out[i], neighbour[i]))
            out[i] = high if exact > mid else low
    return out


def parse_numeric(texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """CSV texts -> float32 with NaN for missing; also the count of non-missing texts that did not parse."""
    parsed = np.full(len(texts), np.nan, dtype=np.float64)
    bad = 0
    for i, text in enumerate(texts):
        if is_missing(text):
            continue
        value = _parse_number(text)
        if value is None:
            bad += 1
        else:
            parsed[i] = value
    return _to_float32_exact(parsed, texts), bad


def format_float32(value: float) -> str:
    """The shortest text that parses back (via parse_numeric) to the same float32; "" for NaN."""
    value = np.float32(value)
    return "" if np.isnan(value) else str(value)


# --- reading CSV ------------------------------------------------------------------------------


def _decode(raw: bytes, source: str) -> str:
    if not raw or not raw.strip():
        raise DataError(f"{source}: file is empty")
    if b"\x00" in raw[:65536]:
        raise DataError(f"{source}: file is not UTF-8 text (it contains NUL bytes: binary, or UTF-16?)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: file is not UTF-8 text (invalid byte at offset {exc.start})") from exc


def _records(text: str, delimiter: str, source: str, limit: int | None = None) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank record; at most `limit` records."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    out: list[tuple[int, list[str]]] = []
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            out.append((reader.line_num, fields))
            if limit is not None and len(out) >= limit:
                break
    except csv.Error as exc:
        raise DataError(f"{source}: upload is not a CSV: line {reader.line_num}: {exc}") from exc
    return out


def _sniff_delimiter(text: str, source: str) -> str:
    """The delimiter among , ; tab whose first records are consistent and widest; ',' when unsure."""
    consistent: list[tuple[int, str]] = []
    widest: list[tuple[int, str]] = []
    for delimiter in DELIMITERS:
        try:
            sample = _records(text, delimiter, source, SNIFF_RECORDS)
        except DataError:
            continue
        if not sample:
            continue
        width = len(sample[0][1])
        widest.append((width, delimiter))
        if width > 1 and all(len(fields) == width for _, fields in sample):
            consistent.append((width, delimiter))
    # max() keeps the first of equals, i.e. DELIMITERS order
    for found in (consistent, widest):
        if found:
            return max(found, key=lambda item: item[0])[1]
    return ","


def read_csv(raw: bytes, *, source: str) -> tuple[list[str], list[list[str]]]:
    """Bytes of an upload -> (header, rows of str). Raises DataError naming what is wrong.

    The delimiter is sniffed among comma, semicolon and tab. Rejected: empty or binary files, text
    that is not UTF-8, a blank or duplicate header name, a first line that is all numbers (no
    header), rows whose field count differs from the header's, a header without data rows.
    Header names are stripped of surrounding whitespace; values are cleaned later (build_frame).
    """
    text = _decode(raw, source)
    delimiter = _sniff_delimiter(text, source)
    records = _records(text, delimiter, source)
    if not records:
        raise DataError(f"{source}: file is empty")
    header_line, header = records[0]
    header = [name.strip() for name in header]
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise DataError(f"{source}: header (line {header_line}) has blank column names at positions {blank}")
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise DataError(f"{source}: header (line {header_line}) has duplicate column names {duplicates}")
    if all(_parse_number(name) is not None for name in header):
        raise DataError(f"{source}: line {header_line} looks like data, not a header (every field is a number): {header[:5]}")
    rows: list[list[str]] = []
    for line, fields in records[1:]:
        if len(fields) != len(header):
            raise DataError(
                f"{source}: upload is not a CSV ({_DELIMITER_NAMES[delimiter]}-separated): line {header_line} has "
                f"{len(header)} fields, line {line} has {len(fields)}"
            )
        rows.append(fields)
    if not rows:
        raise DataError(f"{source}: the header has no data rows under it")
    return header, rows


# --- schema and frame -------------------------------------------------------------------------


def _column(rows: Sequence[Sequence[str]], index: int) -> list[str]:
    return [row[index] for row in rows]


def _describe(values: Sequence[str], limit: int = 5) -> str:
    distinct = list(dict.fromkeys(values))
    shown = ", ".join(repr(v) for v in distinct[:limit])
    return shown + (f" and {len(distinct) - limit} more" if len(distinct) > limit else "")


def infer_schema(header: Sequence[str], rows: Sequence[Sequence[str]], spec: ModelSpec) -> ColumnSchema:
    """Decide the feature columns, their types and the classes.

    spec.features.numeric / .categorical force a type; spec.features.drop removes columns; any other
    column is numeric when every non-missing value parses as a finite float (float32 range), else
    categorical. Columns whose values are all missing carry nothing and are left out, even when the
    spec names them (no imputer can be fitted on them). Column order follows the header.
    Classification classes are the sorted distinct target strings (at least 2); a regression
    target must be numeric. Rows with a missing target do not count towards spec.min_rows.
    """
    header = list(header)
    if spec.target not in header:
        raise DataError(f"target column {spec.target!r} not found; columns are {header}")
    features = spec.features
    for field, names in (("numeric", features.numeric), ("categorical", features.categorical)):
        absent = [n for n in names if n not in header]
        if absent:
            raise DataError(f"spec.features.{field} names columns that are not in the data: {absent}; columns are {header}")
    both = sorted(set(features.numeric) & set(features.categorical))
    if both:
        raise DataError(f"columns {both} are listed both as numeric and as categorical in spec.features")

    target_texts = [t.strip() for t in _column(rows, header.index(spec.target))]
    present = [t for t in target_texts if t.lower() not in MISSING_TOKENS]
    classes: list[str] | None = None
    if spec.problem_type == "classification":
        classes = sorted(set(present))
        if len(classes) < 2:
            found = f"only {classes[0]!r}" if classes else "no values"
            raise DataError(f"target column {spec.target!r} has {found}; classification needs at least 2 classes")
    else:
        bad = [t for t in present if _parse_number(t) is None]
        if bad:
            raise DataError(
                f"target column {spec.target!r} must be numeric for regression; {len(bad)} values are not: {_describe(bad)}"
            )
    if len(present) < spec.min_rows:
        raise DataError(
            f"only {len(present)} usable rows (rows with a target value); the spec requires at least {spec.min_rows}"
        )

    numeric: list[str] = []
    categorical: list[str] = []
    dropped = set(features.drop) | {spec.target}
    for index, name in enumerate(header):
        if name in dropped:
            continue
        values = [v for v in _column(rows, index) if not is_missing(v)]
        if not values:
            continue  # all missing, even if the spec names it: nothing to learn, and imputers cannot fit it
        if name in features.numeric:
            numeric.append(name)
        elif name in features.categorical:
            categorical.append(name)
        elif all(_parse_number(v) is not None for v in values):
            numeric.append(name)
        else:
            categorical.append(name)
    if not numeric and not categorical:
        raise DataError(f"no feature columns are left besides the target {spec.target!r}; columns are {header}")
    return ColumnSchema(
        numeric=numeric, categorical=categorical, target=spec.target, problem_type=spec.problem_type, classes=classes
    )


def _columns_from_texts(
    header: Sequence[str], rows: Sequence[Sequence[str]], schema: ColumnSchema
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    position = {name: i for i, name in enumerate(header)}
    columns: dict[str, np.ndarray] = {}
    unparseable: dict[str, int] = {}
    for name in schema.numeric:
        values, bad = parse_numeric(_column(rows, position[name]))
        columns[name] = values
        if bad:
            unparseable[name] = bad
    for name in schema.categorical:
        columns[name] = np.array([normalize_category(v) for v in _column(rows, position[name])], dtype=object)
    return columns, unparseable


def build_frame(header: Sequence[str], rows: Sequence[Sequence[str]], schema: ColumnSchema) -> tuple[Frame, dict[str, Any]]:
    """Typed Frame of the rows with a usable target, plus a report of what was dropped or coerced.

    Report: {"raw", "rows", "dropped", "dropped_missing_target", "dropped_invalid_target",
    "unparseable_numeric": {column: count}}. An invalid target is a class not in schema.classes, or
    a regression value that is not a finite number. Numeric feature values that do not parse
    become NaN and are counted per column.
    """
    header = list(header)
    needed = [schema.target, *schema.numeric, *schema.categorical]
    absent = [n for n in needed if n not in header]
    if absent:
        raise DataError(f"columns {absent} of the schema are not in the data; columns are {header}")
    target_texts = [t.strip() for t in _column(rows, header.index(schema.target))]
    missing = np.array([t.lower() in MISSING_TOKENS for t in target_texts], dtype=bool)
    if schema.problem_type == "classification":
        known = set(schema.classes or [])
        valid = np.array([t in known for t in target_texts], dtype=bool)
        target_all = np.array(target_texts, dtype=object)
    else:
        numbers = [None if m else _parse_number(t) for t, m in zip(target_texts, missing)]
        valid = np.array([v is not None for v in numbers], dtype=bool)
        target_all = np.array([np.nan if v is None else v for v in numbers], dtype=np.float64)
    keep = np.flatnonzero(valid & ~missing)
    kept_rows = [rows[i] for i in keep]
    columns, unparseable = _columns_from_texts(header, kept_rows, schema)
    target = target_all[keep]
    if schema.problem_type == "classification":
        target = target.astype(str).astype(object)
    frame = Frame(columns=columns, target=target)
    report = {
        "raw": len(rows),
        "rows": frame.n_rows,
        "dropped": len(rows) - frame.n_rows,
        "dropped_missing_target": int(missing.sum()),
        "dropped_invalid_target": int((~valid & ~missing).sum()),
        "unparseable_numeric": unparseable,
    }
    return frame, report


# --- splitting --------------------------------------------------------------------------------


def _split_counts(n: int, validation: float, test: float) -> tuple[int, int]:
    """(n_validation, n_test) for n rows; each at least 1 and train at least 1 when n >= 3."""
    n_test = int(round(n * test))
    n_val = int(round(n * validation))
    if n >= 3:
        n_test = min(max(n_test, 1), n - 2)
        n_val = min(max(n_val, 1), n - 1 - n_test)
    else:
        n_test = n_val = 0
    return n_val, n_test


def split_frame(frame: Frame, validation: float, test: float, seed: int, classification: bool) -> tuple[Frame, Frame, Frame]:
    """(train, validation, test): deterministic for a given frame and seed; rows keep file order.

    Classification is stratified: each class is shuffled and cut on its own, so a class with at
    least 3 rows appears in every split; rarer classes go to train only (so train always holds
    every class and a classifier's classes_ match the schema's).
    """
    rng = np.random.default_rng(seed)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    if classification:
        groups = [np.flatnonzero(frame.target == label) for label in sorted(set(frame.target.tolist()))]
    else:
        groups = [np.arange(frame.n_rows)]
    for group in groups:
        shuffled = group[rng.permutation(group.size)]
        n_val, n_test = _split_counts(group.size, validation, test)
        parts[2].append(shuffled[:n_test])
        parts[1].append(shuffled[n_test:n_test + n_val])
        parts[0].append(shuffled[n_test + n_val:])
    train, val, tst = (np.sort(np.concatenate(p)) if p else np.empty(0, dtype=np.intp) for p in parts)
    return frame.take(train), frame.take(val), frame.take(tst)


# --- profile (the drift baseline) -------------------------------------------------------------


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> list[int]:
    """Counts of non-NaN `values` in the bins between consecutive `edges` (as np.histogram: the last
    bin is closed). Values outside the edges count in the first or last bin, so live data can be
    compared with a profile's histogram directly. One edge (a constant column) -> one bin."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    edges = np.asarray(edges, dtype=np.float64)
    if edges.size < 2:
        return [int(values.size)]
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return [int(c) for c in counts]


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    """count, missing, mean, std, min, max, deciles and a histogram over the distinct deciles."""
    values = np.asarray(values)
    present = values[~np.isnan(values)].astype(np.float64)
    summary: dict[str, Any] = {"count": int(present.size), "missing": int(values.size - present.size)}
    if present.size == 0:
        summary.update(mean=None, std=None, min=None, max=None, quantiles=None, histogram=None)
        return summary
    quantiles = [float(q) for q in np.quantile(present, QUANTILES)]
    edges = [float(e) for e in np.unique(quantiles)]
    summary.update(
        mean=float(present.mean()),
        std=float(present.std()),
        min=float(present.min()),
        max=float(present.max()),
        quantiles=quantiles,
        histogram={"edges": edges, "counts": bin_counts(present, edges)},
    )
    return summary


def categorical_summary(values: np.ndarray, top: int = TOP_CATEGORIES) -> dict[str, Any]:
    """count, missing and the frequencies of the `top` commonest values, the rest under OTHER."""
    counts = Counter(v for v in values.tolist() if v != "")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    frequencies = {value: int(count) for value, count in ranked[:top]}
    rest = sum(count for _, count in ranked[top:])
    if rest:
        frequencies[OTHER] = int(rest)
    present = sum(counts.values())
    return {"count": int(present), "missing": int(len(values) - present), "distinct": len(counts), "frequencies": frequencies}


def profile(frame: Frame, schema: ColumnSchema) -> dict[str, Any]:
    """JSON-safe summary of every feature and the target, kept as the drift baseline."""
    if schema.problem_type == "classification":
        counts = Counter(frame.target.tolist())
        target = {"counts": {c: int(counts.get(c, 0)) for c in schema.classes or []}}
    else:
        target = numeric_summary(frame.target)
    return {
        "rows": frame.n_rows,
        "numeric": {name: numeric_summary(frame.columns[name]) for name in schema.numeric},
        "categorical": {name: categorical_summary(frame.columns[name]) for name in schema.categorical},
        "target": target,
    }


# --- serialization ----------------------------------------------------------------------------


def _header(schema: ColumnSchema) -> list[str]:
    return [*schema.numeric, *schema.categorical, schema.target]


def frame_to_csv(frame: Frame, schema: ColumnSchema) -> bytes:
    """Comma-separated UTF-8 with header numeric..., categorical..., target; "" for missing.

    float32 features are written as their shortest round-tripping text, regression targets as
    repr(float64), so ``frame_from_csv`` gives back bit-identical arrays.
    """
    numeric = [[format_float32(v) for v in frame.columns[name].tolist()] for name in schema.numeric]
    categorical = [frame.columns[name].tolist() for name in schema.categorical]
    if schema.problem_type == "classification":
        target = [str(v) for v in frame.target.tolist()]
    else:
        target = [repr(float(v)) for v in frame.target.tolist()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_header(schema))
    writer.writerows(zip(*numeric, *categorical, target))
    return out.getvalue().encode("utf-8")


def frame_from_csv(raw: bytes, schema: ColumnSchema, *, source: str = "dataset") -> Frame:
    """Read what ``frame_to_csv`` wrote (header must match the schema exactly)."""
    text = raw.decode("utf-8")
    records = _records(text, ",", source)
    header = records[0][1] if records else []
    if header != _header(schema):
        raise DataError(f"{source}: header {header} does not match the schema's {_header(schema)}")
    rows = [fields for _, fields in records[1:]]
    ragged = [line for line, fields in records[1:] if len(fields) != len(header)]
    if ragged:
        raise DataError(f"{source}: line 1 has {len(header)} fields, line {ragged[0]} has a different count")
    frame, report = build_frame(header, rows, schema)
    if report["dropped"]:
        raise DataError(f"{source}: {report['dropped']} rows have a missing or invalid target")
    return frame


def dataset_version(frame: Frame, schema: ColumnSchema) -> str:
    """"ds-" + 16 hex of sha256 over the schema and the cleaned CSV bytes (row order matters)."""
    digest = hashlib.sha256()
    digest.update(schema.model_dump_json().encode("utf-8"))
    digest.update(b"\n")
    digest.update(frame_to_csv(frame, schema))
    return "ds-" + digest.hexdigest()[:16]


# --- model inputs -----------------------------------------------------------------------------


def _as_sequence(values: Any) -> Any:
    if isinstance(values, (np.ndarray, list, tuple)):
        return values
    return [values]  # a scalar: one row


def _numeric_column(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        out = values.astype(np.float32)
    else:
        parsed: list[float] = []
        texts: list[str] = []
        for v in _as_sequence(values):
            if v is None or isinstance(v, (bool, np.bool_)):
                number = None
            elif isinstance(v, str):
                number = None if is_missing(v) else _parse_number(v)
            else:
                number = float(v)
                number = number if math.isfinite(number) and abs(number) < _F32_LIMIT else None
            parsed.append(np.nan if number is None else number)
            # the exact decimal of what was parsed: a number given as a float is its float64 value
            texts.append(v if isinstance(v, str) else ("" if number is None else str(Decimal(number))))
        out = _to_float32_exact(np.asarray(parsed, dtype=np.float64), texts)
    out[~np.isfinite(out)] = np.nan
    return out


def _categorical_column(values: Any) -> np.ndarray:
    return np.array([normalize_category(v) for v in _as_sequence(values)], dtype=object)


def model_inputs(data: Frame | Mapping[str, Any], schema: ColumnSchema) -> dict[str, np.ndarray]:
    """The ONNX input contract: {"numeric": float32 [N, k], "categorical": object str [N, m]}.

    A key is omitted when its group is empty. `data` is a Frame (already clean) or a mapping of
    column name -> values (list, array or a scalar for one row) as a request carries them: values
    are coerced exactly as training data was (numbers parsed to float32, categories stripped,
    missing tokens -> NaN / ""). Columns absent from a mapping are all missing; extra keys are
    ignored.
    """
    if isinstance(data, Frame):
        n = data.n_rows
        numeric = [data.columns[name] for name in schema.numeric]
        categorical = [data.columns[name] for name in schema.categorical]
    else:
        lengths = {name: len(_as_sequence(data[name])) for name in [*schema.numeric, *schema.categorical] if name in data}
        if not lengths:
            raise DataError(f"none of the model's columns are present; expected some of {schema.numeric + schema.categorical}")
        if len(set(lengths.values())) > 1:
            raise DataError(f"columns have different lengths: {lengths}")
        n = next(iter(lengths.values()))
        numeric = [_numeric_column(data[name]) if name in data else np.full(n, np.nan, np.float32) for name in schema.numeric]
        categorical = [_categorical_column(data[name]) if name in data else np.full(n, "", object) for name in schema.categorical]
    out: dict[str, np.ndarray] = {}
    if schema.numeric:
        out["numeric"] = np.ascontiguousarray(np.stack(numeric, axis=1).reshape(n, len(numeric)), dtype=np.float32)
    if schema.categorical:
        matrix = np.empty((n, len(categorical)), dtype=object)
        for j, column in enumerate(categorical):
            matrix[:, j] = column
        out["categorical"] = matrix
    return out


def model_matrix(data: Frame | Mapping[str, Any], schema: ColumnSchema) -> np.ndarray:
    """2-D object array for the scikit-learn Pipeline: numeric columns (float32-exact Python floats,
    NaN for missing) then categorical columns (str, "" for missing), in schema order."""
    inputs = model_inputs(data, schema)
    n = next(iter(inputs.values())).shape[0]
    k, m = len(schema.numeric), len(schema.categorical)
    matrix = np.empty((n, k + m), dtype=object)
    if k:
        matrix[:, :k] = inputs["numeric"].astype(np.float64)
    if m:
        matrix[:, k:] = inputs["categorical"]
    return matrix
