"""evergreen.features: the one coercion from raw values (CSV cells, JSON values) to model inputs."""

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest

from evergreen.features import (
    MAX_CATEGORY_CHARS,
    InvalidValue,
    categorical_column,
    category,
    numeric_column,
    parse_number,
    vocabulary,
)


def test_parse_numeric_rounds_decimals_correctly_to_float32():
    """float(text) then float32 rounds twice; texts just off a float32 midpoint expose it."""
    getcontext().prec = 120
    texts, expected = [], []
    for value in np.array([1.1, 3.0e-20, 123456.7, 7.0e30, 2.5e-42], dtype=np.float32):
        up = np.nextafter(value, np.float32(np.inf))
        mid = (Decimal(float(value)) + Decimal(float(up))) / 2
        for offset, want in ((Decimal(10) ** -70 * mid, up), (-Decimal(10) ** -70 * mid, value)):
            texts.append(str(mid + offset))
            expected.append(want)
    parsed, bad = numeric_column(texts)
    assert bad == []
    np.testing.assert_array_equal(parsed, np.array(expected, dtype=np.float32))
    naive = np.array([float(t) for t in texts]).astype(np.float32)
    assert (naive != parsed).any()  # the double rounding this guards against is real


@pytest.mark.parametrize("raw,expected", [
    ("12", 12.0), (" 12 ", 12.0), ("1e3", 1000.0), ("-.5", -0.5), ("+7", 7.0), (3, 3.0), (2.5, 2.5),
    ("", "missing"), ("NA", "missing"), (" n/a ", "missing"), ("null", "missing"), ("NaN", "missing"), ("?", "missing"),
    (None, "missing"), (float("nan"), "missing"),
])
def test_numeric_values_that_coerce(raw, expected):
    value = parse_number(raw)
    assert math.isnan(value) if expected == "missing" else value == expected


@pytest.mark.parametrize("raw,reason", [
    ("twelve", "is not a number"), ("inf", "is not a number"), ("-Infinity", "is not a number"),
    ("1_000", "is not a number"), ("١٢", "is not a number"), ("１２", "is not a number"), ("0x10", "is not a number"),
    (True, "is a boolean, not a number"), (float("inf"), "out of range"), (1e39, "out of range"),
    (10**400, "out of range"), ("3.5e38", "out of range"), ([1], "must be a number"), ({"a": 1}, "must be a number"),
])
def test_numeric_values_that_are_invalid_name_why(raw, reason):
    with pytest.raises(InvalidValue, match=reason):
        parse_number(raw)


@pytest.mark.parametrize("raw,expected", [
    (" pro ", "pro"), ("pro", "pro"), ("NA", ""), ("", ""), (None, ""), (float("nan"), ""), (3, "3"), (3.0, "3.0"),
    (True, "True"), ("cafe\u0301", "caf\u00e9"), ("\u00e9t\u00e9", "\u00e9t\u00e9"), ("x" * MAX_CATEGORY_CHARS, "x" * MAX_CATEGORY_CHARS),
])
def test_categories_are_stripped_nfc_and_missing_tokens_are_missing(raw, expected):
    assert category(raw) == expected


@pytest.mark.parametrize("raw,reason", [
    ("x" * (MAX_CATEGORY_CHARS + 1), "longer than"), ("\ud800", "lone surrogate"), ([1], "must be a string"),
    ({"a": 1}, "must be a string"),
])
def test_categories_that_are_invalid_name_why(raw, reason):
    with pytest.raises(InvalidValue, match=reason):
        category(raw)


def test_columns_make_invalid_cells_missing_and_list_them():
    values, invalid = numeric_column(["1", "twelve", "", "inf", 2])
    np.testing.assert_array_equal(values, np.array([1, np.nan, np.nan, np.nan, 2], dtype=np.float32))
    assert [(c.row, c.value) for c in invalid] == [(1, "twelve"), (3, "inf")]
    values, invalid = categorical_column([" a ", "\ud800", None])
    assert values.tolist() == ["a", "", ""] and [c.row for c in invalid] == [1]


def test_a_float_given_as_json_and_as_text_is_the_same_float32():
    as_json, _ = numeric_column([0.1, 16777217, 1e-40])
    as_text, _ = numeric_column(["0.1", "16777217", "1e-40"])
    np.testing.assert_array_equal(as_json.view(np.uint32), as_text.view(np.uint32))


def test_vocabulary_is_the_commonest_values_ties_by_value():
    assert vocabulary(["b", "a", "b", "c", "", "a", "d"], 2) == ["a", "b"]
    assert vocabulary(["", ""], 5) == []


def test_the_midpoint_bit_test_finds_exactly_the_float64s_between_two_float32s():
    from evergreen.features import _midpoint_cells

    rng = np.random.default_rng(5)
    f32 = rng.normal(scale=10.0 ** rng.integers(-40, 38, 5000), size=5000).astype(np.float32)
    f32 = np.concatenate([f32, np.float32([1e-45, 3e-42, -1.1754942e-38, 1.1754944e-38, 3.4028235e38])])
    with np.errstate(over="ignore"):
        up = np.nextafter(f32, np.float32(np.inf))
    mids = (f32.astype(np.float64) + up.astype(np.float64)) / 2  # exact midpoints, normal and subnormal
    values = np.concatenate([mids, np.nextafter(mids, np.inf), rng.normal(size=3000) * 1e3, [np.nan, 0.0, -0.0]])
    values = values[np.isfinite(values) | np.isnan(values)]
    out = values.astype(np.float32)
    back = out.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        other = np.nextafter(out, np.where(values > back, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32))
        expected = np.flatnonzero((back != values) & np.isfinite(values)
                                  & (values == (back + other.astype(np.float64)) / 2))
    cells, neighbours = _midpoint_cells(values, out)
    np.testing.assert_array_equal(cells, expected)
    np.testing.assert_array_equal(neighbours, other[expected])
    assert cells.size > 4000  # the constructed midpoints are found
