"""The Frame: cleaned, typed columns and the target; how it is built from an upload's Table, split,
and fed to models. numpy + stdlib only.

Conventions everywhere in Evergreen (the coercion itself is evergreen.features, shared with serving):
  - numeric features are float32, NaN for missing (values are rounded to float32 once, correctly,
    from their decimal text, so what a model sees in training and in ONNX is bit-identical);
  - categorical features are object arrays of str, "" for missing (values stripped of whitespace);
  - the target is str for classification and float64 for regression.

Typical flow (ingest): ``csvfile.read_table`` -> ``schema.infer_schema`` (or the locked contract's
columns) -> ``build_frame`` -> ``split_frame`` -> ``splits.write_split`` / ``splits.dataset_version``.
Later steps read a split back with ``splits.read_split`` and feed models with ``model_matrix``
(scikit-learn) or ``model_inputs`` (ONNX).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evergreen import features
from evergreen.contracts import ColumnSchema
from evergreen.errors import DataError
from evergreen.table import Table, Texts


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


def concat_frames(*frames: Frame) -> Frame:
    """The rows of `frames` in order; columns that every frame has."""
    names = [name for name in frames[0].columns if all(name in f.columns for f in frames)]
    return Frame(
        columns={name: np.concatenate([f.columns[name] for f in frames]) for name in names},
        target=np.concatenate([f.target for f in frames]),
    )


# --- cleaning -------------------------------------------------------------------------------


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
    invalid_counts: dict[str, int]  # each invalid text and its rows, first row first


def parse_targets(table: Table, name: str, problem_type: str, classes: Sequence[str] | None = None) -> Targets:
    """Labels go through the same text coercion as categorical features (stripped, NFC, missing
    tokens); a regression target through the numeric one (but kept float64). With `classes`, a
    label outside them is invalid. Each distinct text is parsed once."""
    if problem_type == "regression":
        column = table.columns[name]
        if not isinstance(column, Texts) and features.all_valid(column):
            values = column.values.astype(np.float64)
            return Targets(values, np.isnan(values), np.zeros(values.shape, dtype=bool), {})
    texts = table.texts(name)
    n_values = len(texts.values)
    missing = np.zeros(n_values + 1, dtype=bool)
    missing[n_values] = True  # the MISSING_CODE slot
    invalid = np.zeros(n_values + 1, dtype=bool)
    if problem_type == "classification":
        known = set(classes) if classes is not None else None
        unique = np.empty(n_values + 1, dtype=object)
        unique[n_values] = ""
        for j, text in enumerate(texts.values):
            try:
                label = features.category(text)
            except features.InvalidValue:
                label = None
            unique[j] = label or ""
            missing[j] = label == ""
            invalid[j] = label is None or (label != "" and known is not None and label not in known)
    else:
        unique = np.full(n_values + 1, np.nan, dtype=np.float64)
        for j, text in enumerate(texts.values):
            try:
                unique[j] = features.parse_number(text)
            except features.InvalidValue:
                invalid[j] = True
        missing[:n_values] = np.isnan(unique[:n_values]) & ~invalid[:n_values]
    counts = texts.counts()
    bad = {texts.values[j]: int(counts[j]) for j in np.flatnonzero(invalid[:n_values]).tolist()}
    return Targets(unique[texts.codes], missing[texts.codes], invalid[texts.codes], bad)


@dataclass
class Cleaned:
    """build_frame's result: the typed Frame, a JSON-safe report, and the rows left out with why."""

    frame: Frame
    report: dict[str, Any]
    rejected: list[tuple[int, str]]  # (row index in the upload, reason): what goes to quarantine


def build_frame(table: Table, schema: ColumnSchema) -> Cleaned:
    """Typed Frame of the rows with a usable target, through evergreen.features (the coercion serving
    uses too). Rows without a usable target are rejected; feature cells that cannot be coerced
    become missing and are counted per column with examples (``invalid_share`` judges them).

    Report: {"raw", "rows", "dropped", "dropped_missing_target", "dropped_invalid_target",
    "invalid_targets": {text: rows}, "class_counts": {class: n} (classification),
    "invalid_cells": {column: {"count", "present", "examples", "reason"}}, "empty_columns": [names]}.
    """
    needed = [schema.target, *schema.numeric, *schema.categorical]
    absent = [n for n in needed if n not in table.columns]
    if absent:
        raise DataError(f"columns {absent} of the schema are not in the data; columns are {table.header}")
    targets = parse_targets(table, schema.target, schema.problem_type, schema.classes)
    keep = np.flatnonzero(~targets.missing & ~targets.invalid)
    columns: dict[str, np.ndarray] = {}
    invalid_cells: dict[str, dict[str, Any]] = {}
    for name in [*schema.numeric, *schema.categorical]:
        if name in schema.numeric:
            coerced = features.numeric_of(table.columns[name], lambda name=name: table.texts(name))
            present = ~np.isnan(coerced.values[keep]) | coerced.invalid[keep]
        else:
            coerced = features.categorical_of(table.texts(name))
            present = (coerced.values[keep] != "") | coerced.invalid[keep]
        columns[name] = coerced.values[keep]
        count = int(coerced.invalid[keep].sum())
        if count:  # examples come from the whole column, a rejected row's too
            invalid_cells[name] = {"count": count, "present": int(present.sum()), "reason": coerced.examples[0][1],
                                   "examples": [text[:40] for text, _ in coerced.examples]}
    frame = Frame(columns=columns, target=targets.values[keep])
    rejected = [(int(i), "missing target") for i in np.flatnonzero(targets.missing)]
    reason = "not one of the classes" if schema.problem_type == "classification" else "target is not a number"
    bad_rows = np.flatnonzero(targets.invalid)
    if bad_rows.size:
        cells = table.texts(schema.target).cells(bad_rows)
        rejected += [(int(i), f"{reason}: {text[:40]!r}") for i, text in zip(bad_rows.tolist(), cells)]
    report: dict[str, Any] = {
        "raw": table.n_rows,
        "rows": frame.n_rows,
        "dropped": table.n_rows - frame.n_rows,
        "dropped_missing_target": int(targets.missing.sum()),
        "dropped_invalid_target": int(targets.invalid.sum()),
        "invalid_targets": dict(sorted(targets.invalid_counts.items(), key=lambda kv: -kv[1])[:10]),
        "invalid_cells": invalid_cells,
        "empty_columns": [name for name, values in columns.items()
                          if not (np.any(values != "") if values.dtype == object else np.any(~np.isnan(values)))],
    }
    if schema.problem_type == "classification":
        report["class_counts"] = class_counts(frame.target, schema.classes or [])
    return Cleaned(frame, report, sorted(rejected))


def class_counts(labels: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    """Rows per class, in the order of `classes`."""
    found = Counter(labels.tolist())
    return {c: int(found.get(c, 0)) for c in classes}


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


def class_shares(frame: Frame) -> dict[str, float]:
    """Each class's share of a classification frame's target."""
    labels, counts = np.unique(frame.target.astype(str), return_counts=True)
    return {str(label): float(count) / float(counts.sum()) for label, count in zip(labels, counts, strict=True)}


def sample_frame(frame: Frame, rows: int, seed: int, classification: bool) -> Frame:
    """At most `rows` rows of `frame`, drawn without replacement and deterministic for a seed; a
    classifier's sample keeps each class's share (and at least one row of every class). Rows keep
    their order. The frame itself when it is no larger."""
    if frame.n_rows <= rows:
        return frame
    rng = np.random.default_rng(seed)
    if not classification:
        return frame.take(np.sort(rng.choice(frame.n_rows, size=rows, replace=False)))
    groups = [np.flatnonzero(frame.target == label) for label in sorted(set(frame.target.tolist()))]
    picked = [group[rng.choice(group.size, size=max(1, round(rows * group.size / frame.n_rows)), replace=False)]
              for group in groups]
    return frame.take(np.sort(np.concatenate(picked)))


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
