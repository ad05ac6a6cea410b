"""The one feature coercion: how a raw value becomes what a model sees.

Ingest (CSV cells), training, export, evaluation (frames) and serving (JSON request values) all go
through these functions, so the live model sees exactly what training saw. numpy + stdlib only:
the inference Lambda imports this without scikit-learn.

Rules, for a CSV cell (str) or a JSON value alike:
  - missing: None, NaN, or a string that is empty or one of MISSING_TOKENS after stripping
    (any case). Numeric -> NaN, categorical -> "".
  - numeric: an int or float, or a string of an ASCII decimal number ("12", " 1e3 ", "-.5");
    parsed to float32 with one correct rounding from the decimal text. Invalid: booleans,
    non-finite values ("inf", 1e400), values beyond float32, "1_000", non-ASCII digits, any other
    text or type.
  - categorical: strings are NFC-normalized and stripped; ints and floats become their text
    (3 -> "3", 3.0 -> "3.0"), booleans "True"/"False". Invalid: strings longer than
    MAX_CATEGORY_CHARS or holding lone surrogates (not encodable as UTF-8), lists, objects.

An invalid value is an ``InvalidValue``. Training turns it into a missing value and counts it;
serving answers 400 naming the field. Nothing else differs between the two paths. Serving coerces
the cells of a batch (``numeric_column`` / ``categorical_column``); ingest coerces a column of an
upload (``numeric_of`` / ``categorical_of``) through the same ``parse_number`` / ``category``,
applied once per distinct text of the column (evergreen.table), and to the numbers the CSV parser
already read, where it agrees with them (every finite number within float32's range, whose float32
needs no look at its decimal text).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np

from evergreen.table import Numbers, Texts

MISSING_TOKENS = frozenset({"", "na", "n/a", "null", "nan", "?"})
MAX_CATEGORY_CHARS = 1024  # a longer value is not a category (and would bloat the prediction log)
# the smallest magnitude that rounds to float32 infinity (float32 max plus half its ulp)
F32_LIMIT = 2.0**128 - 2.0**103
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


class InvalidValue(ValueError):
    """A value that cannot be coerced to its column's type; the message says why."""


class InvalidCell(NamedTuple):
    row: int
    value: Any
    reason: str


def is_missing_text(text: str) -> bool:
    return text.strip().lower() in MISSING_TOKENS


def is_number(text: str) -> bool:
    """Whether a text is a present, valid number (a missing token is not)."""
    try:
        return not math.isnan(parse_number(text))
    except InvalidValue:
        return False


def parse_number(value: Any) -> float:
    """A numeric feature value as float64 (NaN for missing); raises InvalidValue."""
    if value is None:
        return math.nan
    if isinstance(value, (bool, np.bool_)):
        raise InvalidValue("is a boolean, not a number")
    if isinstance(value, (int, np.integer)):
        try:
            number = float(value)
        except OverflowError:
            raise InvalidValue("is out of range for a float32 feature") from None
    elif isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return math.nan
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in MISSING_TOKENS:
            return math.nan
        if not _NUMBER_RE.fullmatch(text):
            raise InvalidValue("is not a number")
        number = float(text)
    else:
        raise InvalidValue(f"must be a number or a numeric string, not {type(value).__name__}")
    if not math.isfinite(number) or abs(number) >= F32_LIMIT:
        raise InvalidValue("is out of range for a float32 feature")
    return number


def category(value: Any) -> str:
    """A categorical feature value as the models see it ("" for missing); raises InvalidValue."""
    if value is None:
        return ""
    if isinstance(value, str):
        if len(value) > MAX_CATEGORY_CHARS:
            raise InvalidValue(f"is longer than {MAX_CATEGORY_CHARS} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValue("is not valid Unicode text (it holds a lone surrogate)") from None
        text = unicodedata.normalize("NFC", value).strip()
        return "" if text.lower() in MISSING_TOKENS else text
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        text = str(int(value))
        if len(text) > MAX_CATEGORY_CHARS:  # the same cap as the same digits in a CSV cell
            raise InvalidValue(f"is longer than {MAX_CATEGORY_CHARS} characters")
        return text
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    raise InvalidValue(f"must be a string, a number or null, not {type(value).__name__}")


_LOW_BITS = np.uint64((1 << 29) - 1)  # the float64 mantissa bits a float32 does not have
_HALF_ULP = np.uint64(1 << 28)  # ... set to exactly half a float32 ulp: a midpoint (for normal float32)
_F32_TINY = np.float64(2.0**-126)  # below it float32 is subnormal and its ulp is fixed: checked the long way


def _midpoint_cells(values: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cells whose float64 lies exactly between two float32 neighbours (where rounding twice can
    differ from rounding once), and each one's other neighbour. NaN cells are never among them.
    A bit test on the float64s finds the few candidates; the exact check runs on those alone."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero(((values.view(np.uint64) & _LOW_BITS) == _HALF_ULP)
                                    | ((np.abs(values) < _F32_TINY) & (values != 0)))
    if not candidates.size:
        return candidates, np.empty(0, dtype=np.float32)
    picked, rounded = values[candidates], out[candidates]
    back = rounded.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        direction = np.where(picked > back, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
        neighbour = np.nextafter(rounded, direction)
        midpoint = (back + neighbour.astype(np.float64)) / 2
    keep = (back != picked) & np.isfinite(picked) & (picked == midpoint)
    return candidates[keep], neighbour[keep]


def to_float32_exact(values: np.ndarray, raw: Sequence[Any]) -> np.ndarray:
    """float64 values parsed from `raw` (decimal texts, or numbers) -> float32, correctly rounded
    from the raw decimal.

    float() rounds the decimal to float64 and the cast rounds again; the two roundings differ from
    one correct rounding only when the float64 lands exactly on a midpoint between two float32
    neighbours. Those few values are decided again with exact decimal arithmetic. Values that are
    exact in float32 (most real data, every serving request of small numbers) return at once.
    """
    out = values.astype(np.float32)
    cells, neighbours = _midpoint_cells(values, out)
    for i, neighbour in zip(cells.tolist(), neighbours.tolist()):
        value = raw[i]
        # Decimal comparisons are exact (no context rounding); a float given as a number is its float64 value
        if isinstance(value, str):
            exact = Decimal(value.strip())
        else:
            exact = Decimal(int(value)) if isinstance(value, (int, np.integer)) else Decimal(float(value))
        mid = Decimal((float(out[i]) + neighbour) / 2)  # exact: both are float32, their mean is a float64
        if exact != mid:  # on the midpoint itself the cast already rounded half to even
            low, high = sorted((out[i], np.float32(neighbour)))
            out[i] = high if exact > mid else low
    return out


def numeric_column(values: Sequence[Any]) -> tuple[np.ndarray, list[InvalidCell]]:
    """Raw values -> float32 (NaN for missing and invalid), and the invalid cells."""
    parsed = np.full(len(values), np.nan, dtype=np.float64)
    invalid: list[InvalidCell] = []
    for i, value in enumerate(values):
        try:
            parsed[i] = parse_number(value)
        except InvalidValue as exc:
            invalid.append(InvalidCell(i, value, str(exc)))
    return to_float32_exact(parsed, values), invalid


def categorical_column(values: Sequence[Any]) -> tuple[np.ndarray, list[InvalidCell]]:
    """Raw values -> object array of str ("" for missing and invalid), and the invalid cells."""
    out = np.empty(len(values), dtype=object)
    invalid: list[InvalidCell] = []
    for i, value in enumerate(values):
        try:
            out[i] = category(value)
        except InvalidValue as exc:
            out[i] = ""
            invalid.append(InvalidCell(i, value, str(exc)))
    return out, invalid


@dataclass(frozen=True)
class Coerced:
    """A column of an upload coerced: per-row values, which rows held an invalid value (now missing),
    and the first few distinct invalid texts with why (first row first)."""

    values: np.ndarray  # float32 (NaN missing) or object str ("" missing)
    invalid: np.ndarray  # bool
    examples: list[tuple[str, str]]  # (text, reason)

    @property
    def n_invalid(self) -> int:
        return int(self.invalid.sum())


EXAMPLES = 5


def _per_row(texts: Texts, unique: np.ndarray, bad: dict[int, str]) -> Coerced:
    """Spread per-distinct-value results over the rows (a MISSING_CODE row takes the trailing slot)."""
    flags = np.zeros(len(texts.values) + 1, dtype=bool)
    flags[list(bad)] = True
    examples = [(texts.values[j], reason) for j, reason in list(bad.items())[:EXAMPLES]]
    return Coerced(unique[texts.codes], flags[texts.codes], examples)


def numeric_texts(texts: Texts) -> Coerced:
    """A text column as float32: ``parse_number`` once per distinct text."""
    parsed = np.full(len(texts.values) + 1, np.nan, dtype=np.float64)
    bad: dict[int, str] = {}
    for j, text in enumerate(texts.values):
        try:
            parsed[j] = parse_number(text)
        except InvalidValue as exc:
            bad[j] = str(exc)
    return _per_row(texts, to_float32_exact(parsed, texts.values), bad)


def numeric_of(column: Numbers | Texts, text: Callable[[], Texts]) -> Coerced:
    """A column of an upload as float32. Numbers the parser read are taken as they are when every one
    is finite, within float32's range and needs no look at its text to round to float32; otherwise
    the column is coerced from its text (`text()`), which names each invalid value."""
    if isinstance(column, Texts):
        return numeric_texts(column)
    values = column.values
    if values.dtype.kind in "iu":  # integers: the cast rounds once, correctly
        return Coerced(values.astype(np.float32), np.zeros(values.shape, dtype=bool), [])
    if not all_valid(column):
        return numeric_texts(text())
    out = values.astype(np.float32)
    if _midpoint_cells(values, out)[0].size:
        return numeric_texts(text())
    return Coerced(out, np.zeros(values.shape, dtype=bool), [])


def all_valid(column: Numbers) -> bool:
    """Whether every number the parser read is a valid feature value: finite and within float32."""
    if column.values.dtype.kind in "iu":
        return True
    with np.errstate(invalid="ignore"):
        return not (np.abs(column.values) >= F32_LIMIT).any()  # inf too; NaN compares False


def categorical_of(texts: Texts) -> Coerced:
    """A text column as categories: ``category`` once per distinct text."""
    cleaned: list[str] = []
    bad: dict[int, str] = {}
    for j, text in enumerate(texts.values):
        try:
            cleaned.append(category(text))
        except InvalidValue as exc:
            cleaned.append("")
            bad[j] = str(exc)
    return _per_row(texts, np.array([*cleaned, ""], dtype=object), bad)


# --- model inputs -----------------------------------------------------------------------------


def model_inputs(numeric: Sequence[np.ndarray], categorical: Sequence[np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The ONNX input contract from coerced columns: {"numeric": float32 [N, k], "categorical":
    object str [N, m]}; a key is omitted when its group is empty."""
    out: dict[str, np.ndarray] = {}
    if numeric:
        matrix = np.empty((n, len(numeric)), dtype=np.float32)
        for j, column in enumerate(numeric):
            matrix[:, j] = column
        out["numeric"] = matrix
    if categorical:
        strings = np.empty((n, len(categorical)), dtype=object)
        for j, column in enumerate(categorical):
            strings[:, j] = column
        out["categorical"] = strings
    return out


def ranked_categories(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """(value, count) commonest first, ties by value: the one order vocabularies and profiles use."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def vocabulary(values: Sequence[str], size: int) -> list[str]:
    """The `size` commonest non-missing categories of a column: what a model one-hot encodes; rarer
    values are treated like unseen ones (all-zero), so memory is bounded by `size` per column."""
    return [value for value, _ in ranked_categories(Counter(v for v in values if v != ""))[:size]]
