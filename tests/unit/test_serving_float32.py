"""evergreen.serving.float32.shortest against its definition, float(str(np.float32(v))) for every value.

The definition is numpy's shortest round-trip repr, read back as a float: what the response showed for a
float32 output before batches were converted at once. Every check runs both ways (a few values go one by
one, a larger array the batch way). The batch way's reasoning needs equal gaps to both float32
neighbours, so every power of two (the only values without) is checked; a million random bit patterns,
probabilities and near ties cover the rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen.serving.float32 import ONE_BY_ONE_MAX, shortest  # noqa: E402


def numpy_repr(values: np.ndarray) -> np.ndarray:
    return np.array([float(str(v)) for v in np.asarray(values, dtype=np.float32).ravel()])


def assert_as_numpy_repr(values: np.ndarray) -> None:
    values = np.asarray(values, dtype=np.float32).ravel()
    for way in (values, np.resize(values, max(values.size, ONE_BY_ONE_MAX + 1))):  # the batch way for sure
        got, expected = shortest(way), numpy_repr(way)
        same = (got == expected) & (np.signbit(got) == np.signbit(expected)) | np.isnan(got) & np.isnan(expected)
        bad = np.flatnonzero(~same)
        assert bad.size == 0, [(str(way[i]), got[i], expected[i]) for i in bad[:10]]


def test_every_power_of_two():
    powers = np.array([2.0**e for e in range(-149, 128)], dtype=np.float32)
    assert_as_numpy_repr(np.concatenate([powers, -powers]))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # signalling NaN patterns
def test_random_bit_patterns():
    bits = np.random.default_rng(20261205).integers(0, 2**32, 1_000_000, dtype=np.uint64).astype(np.uint32)
    assert_as_numpy_repr(bits.view(np.float32))  # NaN and infinities included


def test_probabilities_and_regression_outputs():
    rng = np.random.default_rng(7)
    assert_as_numpy_repr(rng.random(200_000))
    assert_as_numpy_repr(np.exp(-rng.uniform(0, 80, 50_000)))  # confident classifiers: down to 1e-35
    assert_as_numpy_repr(rng.normal(0, 1e6, 50_000))
    assert_as_numpy_repr(np.arange(101) / 100)  # a forest's vote shares


def test_consecutive_float32_values_across_grids_and_the_fast_range_ends():
    starts = [0.1, 0.5, 1.0, 9.999999, 123456.7, 16777216.0, 1e9, 2.0**-46, 2.0**74, 1e-14, 1e22]
    bits = [np.float32(s).view(np.uint32) + np.arange(-2000, 2000, dtype=np.int64) for s in starts]
    assert_as_numpy_repr(np.concatenate(bits).astype(np.uint32).view(np.float32))


@pytest.mark.parametrize("value", [
    0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754944e-38, 3.4028235e38,
    0.25, 4194304.5,  # a tie on a grid that does not read back
    1073752064.0,  # its 7-digit decimal 1.073752e9 lies on the boundary of its rounding interval
    16777217.0, 0.1, 0.7, 1 / 3, 12.3,
])
def test_special_values(value):
    assert_as_numpy_repr(np.array([value, -value]))


@pytest.mark.parametrize("rows", [2, 40])  # one by one, the batch way
def test_the_numbers_are_the_shortest_decimals_and_the_shape_is_kept(rows):
    values = np.resize(np.array([[0.1, 0.7, 0.2], [0.3333333, 0.3333333, 0.3333334]], dtype=np.float32), (rows, 3))
    out = shortest(values)
    assert out.shape == (rows, 3) and out.dtype == np.float64
    assert out[:2].tolist() == [[0.1, 0.7, 0.2], [0.3333333, 0.3333333, 0.3333334]]
    assert repr(shortest(np.full(rows, -0.0, dtype=np.float32)).tolist()[0]) == "-0.0"
