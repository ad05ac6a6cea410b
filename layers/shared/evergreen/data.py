"""The Frame: cleaned, typed columns and the target; how it is built from rows of text, split,
written and read back, and fed to models. numpy + stdlib only.

Conventions everywhere in Evergreen (the coercion itself is evergreen.features, shared with serving):
  - numeric features are float32, NaN for missing (values are parsed with correct rounding to
    float32, so what a model sees in training, in ONNX and after a CSV round trip is bit-identical);
  - categorical features are object arrays of str, "" for missing (values stripped of whitespace);
  - the target is str for classification and float64 for regression.

Typical flow (ingest): ``csvfile.read_csv`` -> ``schema.infer_schema`` (or the locked contract's
columns) -> ``build_frame`` -> ``split_frame`` -> ``frame_to_csv`` / ``dataset_version``. Later steps
read a split back with ``frame_from_csv`` and feed models with ``model_matrix`` (scikit-learn) or
``model_inputs`` (ONNX).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evergreen import features
from evergreen.contracts import ColumnSchema
from evergreen.csvfile import records
from evergreen.errors import DataError


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


# --- cleaning -------------------------------------------------------------------------------


def column(rows: Sequence[Sequence[str]], index: int) -> list[str]:
    return [row[index] for row in rows]


def describe(values: Sequence[Any], limit: int = 5) -> str:
    """The first `limit` distinct values, quoted (long ones cut): for error messages."""
    distinct = list(dict.fromkeys(values))
    shown = ", ".join(repr(v if not isinstance(v, str) or len(v) <= 40 else v[:37] + "...") for v in distinct[:limit])
    return shown + (f" and {len(distinct) - limit} more" if len(distinct) > limit else "")


@dataclass
class Targets:
    """A target column parsed: values (str classes / float64), and which rows are missing or invalid."""

    values: np.ndarray
    missing: np.ndarray  # bool
    invalid: np.ndarray  # bool: present but not a class of the schema / not a finite number
    invalid_values: list[str]


def parse_targets(texts: Sequence[str], problem_type: str, classes: Sequence[str] | None = None) -> Targets:
    """Labels go through the same text coercion as categorical features (stripped, NFC, missing
    tokens); a regression target through the numeric one (but kept float64). With `classes`, a
    label outside them is invalid."""
    n = len(texts)
    missing = np.zeros(n, dtype=bool)
    invalid = np.zeros(n, dtype=bool)
    bad: list[str] = []
    if problem_type == "classification":
        values = np.empty(n, dtype=object)
        known = set(classes) if classes is not None else None
        for i, text in enumerate(texts):
            try:
                label = features.category(text)
            except features.InvalidValue:
                label = None
            values[i] = label or ""
            if label == "":
                missing[i] = True
            elif label is None or (known is not None and label not in known):
                invalid[i] = True
                bad.append(text)
        return Targets(values, missing, invalid, bad)
    values = np.full(n, np.nan, dtype=np.float64)
    for i, text in enumerate(texts):
        try:
            number = features.parse_number(text)
        except features.InvalidValue:
            invalid[i] = True
            bad.append(text)
            continue
        if math.isnan(number):
            missing[i] = True
        else:
            values[i] = number
    return Targets(values, missing, invalid, bad)


@dataclass
class Cleaned:
    """build_frame's result: the typed Frame, a JSON-safe report, and the rows left out with why."""

    frame: Frame
    report: dict[str, Any]
    rejected: list[tuple[int, str]]  # (row index in the upload, reason): what goes to quarantine


def build_frame(header: Sequence[str], rows: Sequence[Sequence[str]], schema: ColumnSchema) -> Cleaned:
    """Typed Frame of the rows with a usable target, through evergreen.features (the coercion serving
    uses too). Rows without a usable target are rejected; feature cells that cannot be coerced
    become missing and are counted per column with examples (``invalid_share`` judges them).

    Report: {"raw", "rows", "dropped", "dropped_missing_target", "dropped_invalid_target",
    "invalid_targets": [examples], "class_counts": {class: n} (classification),
    "invalid_cells": {column: {"count", "present", "examples", "reason"}}, "empty_columns": [names]}.
    """
    header = list(header)
    needed = [schema.target, *schema.numeric, *schema.categorical]
    absent = [n for n in needed if n not in header]
    if absent:
        raise DataError(f"columns {absent} of the schema are not in the data; columns are {header}")
    targets = parse_targets(column(rows, header.index(schema.target)), schema.problem_type, schema.classes)
    keep = np.flatnonzero(~targets.missing & ~targets.invalid)
    kept_rows = [rows[i] for i in keep]
    position = {name: i for i, name in enumerate(header)}
    columns: dict[str, np.ndarray] = {}
    invalid_cells: dict[str, dict[str, Any]] = {}
    for name, coerce in [*((n, features.numeric_column) for n in schema.numeric),
                         *((n, features.categorical_column) for n in schema.categorical)]:
        texts = column(kept_rows, position[name])
        columns[name], bad = coerce(texts)
        if bad:
            present = sum(1 for t in texts if not features.is_missing_text(t))
            invalid_cells[name] = {"count": len(bad), "present": present, "reason": bad[0].reason,
                                   "examples": list(dict.fromkeys(str(c.value)[:40] for c in bad))[:5]}
    frame = Frame(columns=columns, target=targets.values[keep])
    rejected = [(int(i), "missing target") for i in np.flatnonzero(targets.missing)]
    reason = "not one of the classes" if schema.problem_type == "classification" else "target is not a number"
    rejected += [(int(i), f"{reason}: {rows[i][position[schema.target]][:40]!r}") for i in np.flatnonzero(targets.invalid)]
    report: dict[str, Any] = {
        "raw": len(rows),
        "rows": frame.n_rows,
        "dropped": len(rows) - frame.n_rows,
        "dropped_missing_target": int(targets.missing.sum()),
        "dropped_invalid_target": int(targets.invalid.sum()),
        "invalid_targets": dict(Counter(targets.invalid_values).most_common(10)),
        "invalid_cells": invalid_cells,
        "empty_columns": [name for name, values in columns.items()
                          if not (np.any(values != "") if values.dtype == object else np.any(~np.isnan(values)))],
    }
    if schema.problem_type == "classification":
        counts = Counter(frame.target.tolist())
        report["class_counts"] = {c: int(counts.get(c, 0)) for c in schema.classes or []}
    return Cleaned(frame, report, sorted(rejected))


def invalid_share_problems(report: dict[str, Any], max_fraction: float) -> list[str]:
    """Columns where more than `max_fraction` of the present cells could not be coerced."""
    problems = []
    for name, info in report["invalid_cells"].items():
        if info["count"] > max_fraction * max(info["present"], 1):
            problems.append(
                f"column {name!r}: {info['count']} of {info['present']} values {info['reason']} "
                f"(e.g. {describe(info['examples'])}); at most {max_fraction:.0%} may be (spec data.max_invalid_fraction)")
    return problems


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


# --- serialization ----------------------------------------------------------------------------


def _header(schema: ColumnSchema) -> list[str]:
    return [*schema.numeric, *schema.categorical, schema.target]


def frame_to_csv(frame: Frame, schema: ColumnSchema) -> bytes:
    """Comma-separated UTF-8 with header numeric..., categorical..., target; "" for missing.

    float32 features are written as their shortest round-tripping text, regression targets as
    repr(float64), so ``frame_from_csv`` gives back bit-identical arrays.
    """
    numeric = [[features.format_float32(v) for v in frame.columns[name].tolist()] for name in schema.numeric]
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
    lines = records(text, ",", source)
    header = lines[0][1] if lines else []
    if header != _header(schema):
        raise DataError(f"{source}: header {header} does not match the schema's {_header(schema)}")
    rows = [fields for _, fields in lines[1:]]
    ragged = [line for line, fields in lines[1:] if len(fields) != len(header)]
    if ragged:
        raise DataError(f"{source}: line 1 has {len(header)} fields, line {ragged[0]} has a different count")
    cleaned = build_frame(header, rows, schema)
    if cleaned.report["dropped"]:
        raise DataError(f"{source}: {cleaned.report['dropped']} rows have a missing or invalid target")
    return cleaned.frame


def dataset_version(frame: Frame, schema: ColumnSchema) -> str:
    """"ds-" + 16 hex of sha256 over the schema and the cleaned CSV bytes (row order matters)."""
    digest = hashlib.sha256()
    digest.update(schema.model_dump_json().encode("utf-8"))
    digest.update(b"\n")
    digest.update(frame_to_csv(frame, schema))
    return "ds-" + digest.hexdigest()[:16]


# --- model inputs -----------------------------------------------------------------------------


def model_inputs(frame: Frame, schema: ColumnSchema) -> dict[str, np.ndarray]:
    """The ONNX input contract of a (clean) Frame: {"numeric": float32 [N, k], "categorical": object
    str [N, m]}; serving builds the same from a request with evergreen.features."""
    return features.model_inputs([frame.columns[n] for n in schema.numeric],
                                 [frame.columns[n] for n in schema.categorical], frame.n_rows)


def model_matrix(frame: Frame, schema: ColumnSchema) -> np.ndarray:
    """2-D object array for the scikit-learn Pipeline: numeric columns (float32-exact Python floats,
    NaN for missing) then categorical columns (str, "" for missing), in schema order."""
    inputs = model_inputs(frame, schema)
    k, m = len(schema.numeric), len(schema.categorical)
    matrix = np.empty((frame.n_rows, k + m), dtype=object)
    if k:
        matrix[:, :k] = inputs["numeric"].astype(np.float64)
    if m:
        matrix[:, k:] = inputs["categorical"]
    return matrix
