"""Plausibility: flag a prediction whose inputs (or, for regression, its output) lie outside what training saw.

`from_contract` builds the checks once per champion from its data contract document (the JSON that
promote records, evergreen.data_contract.DataContract): numeric training ranges as float32 vectors,
closed categorical vocabularies as sets, the regression target's plausible range. `Plausibility.flags`
then checks a whole batch on the ONNX feeds (float32 "numeric" with NaN for missing, str
"categorical" with "" for missing), with numpy comparisons over the matrices, and returns None when
nothing is flagged, so the common answer costs a few vectorized comparisons and no allocation per row.

A flag is a short sentence; a flagged prediction is still answered. The checks:
  - a numeric value outside [training min, training max]   "age 130 is above the training range [18, 80]"
  - a categorical value outside a closed vocabulary        "plan 'gold' was not seen in training"
    (columns in open_vocabulary had more values than the vocabulary lists: never flagged)
  - more than MISSING_SHARE of the model's features missing  "3 of 4 features are missing (age, income, plan)"
  - regression: a prediction outside the training target range widened by TARGET_MARGIN of its span
                                                            "prediction 912.4 is outside the plausible range [-3.1, 58]"
numpy only (the inference hot path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evergreen.serving.errors import shown_repr

MISSING_SHARE = 0.5  # more than this share of the model's features missing is flagged
TARGET_MARGIN = 0.1  # a regression prediction may leave the training target range by this share of its span
MAX_NAMED_MISSING = 3  # missing features named in the flag, then "..."


class ContractUnusable(ValueError):
    """The contract document cannot be turned into checks (the champion is then served unchecked)."""


@dataclass(frozen=True, eq=False)
class Plausibility:
    """The checks of one champion, precomputed from its data contract."""

    numeric: tuple[str, ...]  # the model's numeric features, in feed order
    categorical: tuple[str, ...]  # the model's categorical features, in feed order
    low: np.ndarray  # float32 [k]: training min per numeric feature (-inf: no range recorded)
    high: np.ndarray  # float32 [k]: training max per numeric feature (+inf: no range recorded)
    vocabularies: tuple[tuple[int, frozenset[str]], ...]  # (feed column, values seen and "") of closed vocabularies
    target: tuple[float, float] | None  # regression: the plausible prediction range (widened)
    width: int = field(init=False)  # the model's features
    missing_limit: float = field(init=False)  # more missing features than this in a row is flagged

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", len(self.numeric) + len(self.categorical))
        object.__setattr__(self, "missing_limit", MISSING_SHARE * self.width)

    def flags(self, numeric: np.ndarray | None, categorical: np.ndarray | None,
              predictions: np.ndarray) -> list[list[str]] | None:
        """Per row, the flags of a batch (in column order); None when no row has any.

        Each check runs once over the whole feed matrix; rows are visited only for what it found, so a
        plausible batch costs a handful of numpy calls whatever its size."""
        n = len(predictions)
        rows: list[list[str]] | None = None

        def add(i: int, text: str) -> None:
            nonlocal rows
            if rows is None:
                rows = [[] for _ in range(n)]
            rows[i].append(text)

        nan, cells, missing = None, None, 0
        if numeric is not None:
            inside = np.count_nonzero((numeric >= self.low) & (numeric <= self.high))  # NaN (missing) is not
            if inside < numeric.size:
                nan = np.isnan(numeric)
                missing += np.count_nonzero(nan)
                if inside + missing < numeric.size:  # a present value outside its range
                    below, above = numeric < self.low, numeric > self.high
                    for i, j in zip(*np.nonzero(below | above), strict=True):
                        side = "below" if below[i, j] else "above"
                        add(int(i), f"{self.numeric[j]} {number(numeric[i, j])} is {side} the training range "
                                    f"[{number(self.low[j])}, {number(self.high[j])}]")
        if categorical is not None:
            m = len(self.categorical)
            cells = categorical.ravel().tolist()  # row-major: record i's column j is cells[i * m + j]
            missing += cells.count("")
            for j, seen in self.vocabularies:  # each set holds "": missing is counted, not flagged here
                column = cells[j::m]
                if not seen.issuperset(column):
                    for i, value in enumerate(column):
                        if value not in seen:
                            add(i, f"{self.categorical[j]} {shown_repr(value)} was not seen in training")
        if missing > self.missing_limit:  # the batch has that many missing values: a row may
            absent = None if categorical is None else categorical == ""
            per_row = sum(mask.sum(axis=1) for mask in (nan, absent) if mask is not None)
            for i in np.flatnonzero(per_row > self.missing_limit):
                names = [] if nan is None else [self.numeric[j] for j in np.flatnonzero(nan[i])]
                names += [] if absent is None else [self.categorical[j] for j in np.flatnonzero(absent[i])]
                shown = ", ".join(names[:MAX_NAMED_MISSING]) + (", ..." if len(names) > MAX_NAMED_MISSING else "")
                add(int(i), f"{len(names)} of {self.width} features are missing ({shown})")
        if self.target is not None:
            low, high = self.target
            values = predictions.reshape(n)
            plausible = (values >= low) & (values <= high)  # NaN is not
            if np.count_nonzero(plausible) < n:
                for i in np.flatnonzero(~plausible):
                    add(int(i), f"prediction {number(values[i])} is outside the plausible range "
                                f"[{number(low)}, {number(high)}]")
        return rows


def from_contract(document: Any, numeric: Sequence[str], categorical: Sequence[str],
                  problem_type: str) -> Plausibility:
    """The checks for a model with these features, from its contract document (parsed JSON).

    A contract recorded before ranges were kept has none: its numeric values and predictions are not
    range-checked (vocabularies and missing inputs still are). Raises ContractUnusable when the
    document is not a contract."""
    if not isinstance(document, Mapping):
        raise ContractUnusable(f"the contract is not a JSON object (got {type(document).__name__})")
    ranges = _mapping(document, "ranges")
    low = np.full(len(numeric), -np.inf, dtype=np.float32)
    high = np.full(len(numeric), np.inf, dtype=np.float32)
    for j, name in enumerate(numeric):
        if name in ranges:
            low[j], high[j] = _interval(ranges[name], f"ranges.{name}")
    vocabulary = _mapping(document, "vocabulary")
    open_ = document.get("open_vocabulary") or []
    if not isinstance(open_, list):
        raise ContractUnusable("the contract's 'open_vocabulary' is not a list")
    vocabularies = []
    for j, name in enumerate(categorical):
        values = vocabulary.get(name)
        if values is None or name in open_:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ContractUnusable(f"the contract's vocabulary.{name} is not a list of strings")
        vocabularies.append((j, frozenset(values) | {""}))
    target = None
    if problem_type == "regression" and document.get("target_range") is not None:
        t_low, t_high = _interval(document["target_range"], "target_range")
        # a constant target still gets float32 room: its model predicts the constant up to rounding
        margin = max(TARGET_MARGIN * (t_high - t_low), 1e-6 * max(abs(t_low), abs(t_high)))
        target = (t_low - margin, t_high + margin)
    return Plausibility(tuple(numeric), tuple(categorical), low, high, tuple(vocabularies), target)


def _mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key) or {}
    if not isinstance(value, Mapping):
        raise ContractUnusable(f"the contract's {key!r} is not an object")
    return value


def _interval(value: Any, where: str) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
            or value[0] > value[1]):
        raise ContractUnusable(f"the contract's {where} is not [min, max] (finite numbers, min <= max)")
    return float(value[0]), float(value[1])


def number(value: Any) -> str:
    """A float32 value as the response shows numbers (the shortest text that round-trips), without ".0"."""
    text = repr(float(str(np.float32(value))))  # the number evergreen.serving.float32.shortest puts in the response
    return text[:-2] if text.endswith(".0") else text
