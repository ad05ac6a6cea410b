"""Inferring an upload's columns: which are features, of what type, and the target's classes.

Used for a model's first data and when the spec declares a new contract version; otherwise the
locked contract (evergreen.contract) decides the columns and this inference is not consulted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evergreen import features
from evergreen.contracts import ColumnSchema
from evergreen.data import describe, parse_targets
from evergreen.errors import DataError
from evergreen.spec import ModelSpec
from evergreen.table import Table, Texts

MAX_CLASSES = 100
# two encodings of a binary label in one column ('yes'/'no' and '1'/'0') are almost always a mistake
BINARY_ENCODINGS = ({"yes", "no"}, {"true", "false"}, {"1", "0"}, {"1.0", "0.0"}, {"y", "n"}, {"t", "f"})


@dataclass
class Inferred:
    schema: ColumnSchema
    notices: list[str] = field(default_factory=list)


def check_width(header: Sequence[str], spec: ModelSpec) -> None:
    features_in_file = len(header) - (spec.target in header)
    if features_in_file > spec.data.max_columns:
        raise DataError(f"the upload has {features_in_file} feature columns; the spec allows at most "
                        f"{spec.data.max_columns} (data.max_columns)")


def mixed_encodings(labels: Sequence[str]) -> list[set[str]]:
    """The binary encodings a classification target mixes (empty when it uses at most one)."""
    present = {label.lower() for label in labels}
    return [enc for enc in BINARY_ENCODINGS if enc & present]


@dataclass
class Present:
    """What inference needs of a feature column: its present (non-missing) values and how many are
    not numbers (with the first few and why)."""

    count: int
    invalid: int
    examples: list[tuple[str, str]]


def present_values(table: Table, name: str) -> Present:
    column = table.columns[name]
    if not isinstance(column, Texts):
        if features.all_valid(column):
            present = int(np.count_nonzero(~np.isnan(column.values.astype(np.float64, copy=False))))
            return Present(present, 0, [])
        column = table.texts(name)
    counts = column.counts()
    present = [j for j, text in enumerate(column.values) if not features.is_missing_text(text)]
    invalid: list[tuple[str, str]] = []
    n_invalid = 0
    for j in present:
        try:
            features.parse_number(column.values[j])
        except features.InvalidValue as exc:
            invalid.append((column.values[j], str(exc)))
            n_invalid += int(counts[j])
    return Present(int(counts[present].sum()), n_invalid, invalid[:features.EXAMPLES])


def infer_schema(table: Table, spec: ModelSpec) -> Inferred:
    """Decide the feature columns, their types and the classes; raise DataError naming each problem.

    spec.features.numeric / .categorical force a type; spec.features.drop removes columns. Any
    other column is numeric when at most spec.data.max_invalid_fraction of its present values are
    not numbers (those become missing and are counted), else categorical. Left out, with a
    notice: columns with no value at all (constant and identifier columns are judged later, on
    the training split: evergreen.feature_selection).
    Column order follows the header. Classification classes are the sorted distinct labels (2 to
    MAX_CLASSES, one encoding); a regression target must be numeric. Rows without a target do
    not count towards spec.min_rows.
    """
    header = table.header
    if spec.target not in header:
        raise DataError(f"target column {spec.target!r} not found; columns are {header[:50]}")
    check_width(header, spec)
    wanted = spec.features
    for kind, names in (("numeric", wanted.numeric), ("categorical", wanted.categorical)):
        absent = [n for n in names if n not in header]
        if absent:
            raise DataError(f"spec.features.{kind} names columns that are not in the data: {absent}; columns are {header}")
    both = sorted(set(wanted.numeric) & set(wanted.categorical))
    if both:
        raise DataError(f"columns {both} are listed both as numeric and as categorical in spec.features")

    targets = parse_targets(table, spec.target, spec.problem_type)
    present = ~targets.missing & ~targets.invalid
    classes: list[str] | None = None
    if spec.problem_type == "classification":
        counts = Counter(targets.values[present].tolist())
        classes = sorted(counts)
        if len(classes) < 2:
            found = f"only {classes[0]!r}" if classes else "no values"
            raise DataError(f"target column {spec.target!r} has {found}; classification needs at least 2 classes")
        if len(classes) > MAX_CLASSES:
            raise DataError(f"target column {spec.target!r} has {len(classes)} distinct values; classification takes "
                            f"at most {MAX_CLASSES} classes (is this a regression target?)")
        mixed = mixed_encodings(classes)
        if len(mixed) > 1:
            shown = " and ".join("/".join(repr(c) for c in classes if c.lower() in enc) for enc in mixed)
            raise DataError(f"target column {spec.target!r} mixes label encodings: {shown}; map them to one encoding")
    elif targets.invalid.any():
        raise DataError(f"target column {spec.target!r} must be numeric for regression; {int(targets.invalid.sum())} "
                        f"values are not: {describe(list(targets.invalid_counts))}")
    if int(present.sum()) < spec.min_rows:
        raise DataError(f"only {int(present.sum())} usable rows (rows with a target value); "
                        f"the spec requires at least {spec.min_rows}")

    numeric: list[str] = []
    categorical: list[str] = []
    notices: list[str] = []
    for name in header:
        if name in wanted.drop or name == spec.target:
            continue
        values = present_values(table, name)
        if not values.count:  # nothing to learn, and imputers cannot fit it
            notices.append(f"column {name!r} has no values: left out")
            continue
        if name in wanted.numeric:
            numeric.append(name)
            continue
        if name not in wanted.categorical:
            if values.invalid <= spec.data.max_invalid_fraction * values.count and values.invalid < values.count:
                numeric.append(name)
                if values.invalid:
                    notices.append(f"column {name!r} is numeric: {values.invalid} of {values.count} values "
                                   f"{values.examples[0][1]} (e.g. {describe([text for text, _ in values.examples])}) "
                                   "and become missing")
                continue
        categorical.append(name)
    if not numeric and not categorical:
        raise DataError(f"no feature columns are left besides the target {spec.target!r}; columns are {header}")
    schema = ColumnSchema(numeric=numeric, categorical=categorical, target=spec.target,
                          problem_type=spec.problem_type, classes=classes)
    return Inferred(schema, notices)
