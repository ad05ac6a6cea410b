"""Feature selection at Ingest: the feature columns no model can learn from are left out, each with why.

A column is left out when, in the training split (rows in file order):
  - it is constant: at most one distinct non-missing value. Every family but HistGB imputes a
    missing cell with that value, so the model sees one value in every row; a column with no value
    at all cannot even be imputed;
  - it is ID-like text: a categorical column with more distinct values than data.max_categories,
    at least IDENTIFIER_SHARE of its non-missing values distinct. Nearly every value is seen once,
    so no value generalises to a new row. A zip code with 2,000 values over 100,000 rows (2%
    distinct) is a high-cardinality category and is kept;
  - it is a row counter: a numeric column of integers, more distinct than data.max_categories,
    no value missing, strictly increasing or decreasing in file order, and spanning fewer values
    than the upload has rows (0..n-1, 1..n or any offset; the rows outside the training split
    only open gaps). A float column whose values are all distinct is continuous, not an
    identifier, and is kept.

The rules read the training rows only, and never the target. A column the spec types
(features.numeric / features.categorical) is never left out, nor is one of the locked contract
(the champion is judged on it); ``features.auto_drop: false`` turns selection off.

When: selection runs when a run decides its columns, for a model's first contract or a declared
new version (contract.version raised), and the decision is kept in the contract: its columns are
the ones left in. A later upload under that contract is checked against those columns, so a
column left out stays out (it is an extra column: reported and left out) even when it has since
started to vary. To reconsider, raise contract.version. numpy + stdlib only (the Ingest Lambda
has no scikit-learn).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np

from evergreen.errors import DataError

if TYPE_CHECKING:
    from evergreen.contracts import ColumnSchema
    from evergreen.data import Frame

# a categorical column with at least this share of its non-missing values distinct is an identifier
IDENTIFIER_SHARE = 0.9


def left_out(train: Frame, schema: ColumnSchema, *, keep: Collection[str], max_categories: int,
             upload_rows: int) -> dict[str, str]:
    """Column -> why it is left out (a notice naming the column and the numbers), in schema order,
    for the feature columns of `schema` not in `keep`. `train` is the training split in file order;
    `upload_rows` the upload's data rows (a row counter spans fewer values). Raises DataError when
    no feature column would be left."""
    reasons: dict[str, str] = {}
    for kind, names in (("numeric", schema.numeric), ("categorical", schema.categorical)):
        for name in names:
            if name in keep:
                continue
            values = train.columns[name]
            why = (numeric_reason(values, max_categories, upload_rows) if kind == "numeric"
                   else categorical_reason(values, max_categories))
            if why:
                reasons[name] = f"column {name!r} left out: {why} (list it in spec.features.{kind} to keep it)"
    if len(reasons) == len(schema.numeric) + len(schema.categorical):
        raise DataError(f"no feature columns are left besides the target {schema.target!r}: "
                        + "; ".join(reasons.values()))
    return reasons


def numeric_reason(values: np.ndarray, max_categories: int, upload_rows: int) -> str | None:
    """Why a numeric training column (float, NaN for missing) is left out, or None to keep it."""
    present = values[~np.isnan(values)]
    distinct = np.unique(present)
    if distinct.size <= 1:
        return constant(f"{distinct[0]:g}" if distinct.size else None, present.size, values.size)
    steps = np.diff(values)  # NaN where a value is missing: then neither all > 0 nor all < 0
    counter = (distinct.size == values.size and distinct.size > max_categories
               and np.all(distinct == np.round(distinct)) and (np.all(steps > 0) or np.all(steps < 0))
               and distinct[-1] - distinct[0] < upload_rows)
    if counter:
        return (f"a row counter, {distinct.size:,} distinct integers from {values[0]:.0f} to {values[-1]:.0f} "
                f"in file order (the upload has {upload_rows:,} rows)")
    return None


def categorical_reason(values: np.ndarray, max_categories: int) -> str | None:
    """Why a categorical training column (str, "" for missing) is left out, or None to keep it."""
    present = values[values != ""]
    distinct = set(present.tolist())  # hashing: np.unique sorts Python strings, some 30x slower
    if len(distinct) <= 1:
        return constant(repr(next(iter(distinct))) if distinct else None, present.size, values.size)
    if len(distinct) > max_categories and len(distinct) >= IDENTIFIER_SHARE * present.size:
        return f"ID-like, {len(distinct):,} distinct values in {present.size:,} training rows"
    return None


def constant(value: str | None, present: int, rows: int) -> str:
    """The reason for a column whose only non-missing value is `value` (as the notice shows it; None
    when it has none) in `present` of its `rows` training rows."""
    if value is None:
        return f"no value in the {rows:,} training rows"
    if present == rows:
        return f"constant, {value} in all {rows:,} training rows"
    return f"constant, {value} in {present:,} of {rows:,} training rows (the rest missing)"
