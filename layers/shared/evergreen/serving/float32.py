"""float32 model outputs as the response shows them: each value as the shortest decimal that reads back as
the same float32 (0.9, not 0.8999999761581421), held as the float64 nearest to that decimal, so json.dumps
writes that decimal and the prediction log stores it (evergreen.storage.to_dynamo).

`shortest(values)` is float(str(np.float32(v))) for each value (numpy's shortest repr, read back). Up to
ONE_BY_ONE_MAX values (one record's class probabilities) it is computed just so: about 1 µs a value,
where the batch way costs about 15 µs of numpy calls at any size. The batch way: the decimal looked for
is the multiple of the coarsest power of ten 10**-k whose multiple nearest x reads back as x (float32
needs at most 9 significant digits). Ten grids around each value's decimal exponent are tried at once:
x * 10**k is rounded to the integer N, and N / 10**k is the float64 nearest to the decimal N * 10**-k;
both steps round once while |k| <= 22 (10**k is exact in float64), so the first grid whose result reads
back as x holds the answer. Values where that does not hold go one by one: |x| below 2**-46 (1.4e-14)
or from 2**74 (1.9e22), NaN, and x * 10**k within float64 rounding of a half-integer on the chosen grid
(two decimals as near: about 2 in a million uniform probabilities).

tests/unit/test_serving_float32.py checks both ways against numpy's repr on every power of two (the only
float32 values with unequal gaps to their neighbours) and a million random bit patterns.
"""

from __future__ import annotations

import numpy as np

# Rows: the binary exponents np.frexp gives nonzero finite float32 values (2**-149 is 0.5 * 2**-148).
_LOWEST = -148
_EXPONENTS = np.arange(_LOWEST, 129)
_DECIMAL = np.floor((_EXPONENTS - 1) * np.log10(2.0)).astype(int)  # floor(log10|x|) is this or one more
_SCALES = np.arange(10)[None, :] - 1 - _DECIMAL[:, None]  # per row the ten k tried, coarsest grid first
# Per row and k: (up, down), with x * 10**k = x * up / down and N / 10**k = N * down / up; one of the two
# is 1, so each is one rounding. NaN where some 10**k of the row is not exact: those values go one by one.
_FACTORS = np.full((_EXPONENTS.size, 2, 10), np.nan)
for _row in np.flatnonzero((np.abs(_SCALES) <= 22).all(axis=1)):
    _FACTORS[_row] = [[float(10 ** max(int(k), 0)) for k in _SCALES[_row]],
                      [float(10 ** max(-int(k), 0)) for k in _SCALES[_row]]]
# |x * 10**k| < 1e10: its float64 rounding is below 1e-6, so rounding within 2e-6 either way tells a near tie
_TIE_MARGIN = 2e-6
ONE_BY_ONE_MAX = 32  # values converted one by one; a larger array goes the batch way
BLOCK = 4096  # values per pass of the batch way: its temporaries (about 500 bytes a value) stay in the CPU caches


def shortest(values: np.ndarray) -> np.ndarray:
    """float32 values -> float64 array of the same shape, each the float64 nearest to the shortest decimal
    that reads back as that float32: float(str(np.float32(v))); -0.0, ±inf and NaN stay as they are."""
    x32 = np.asarray(values, dtype=np.float32)
    flat = x32.reshape(-1)
    if flat.size <= ONE_BY_ONE_MAX:
        return np.array([float(str(v)) for v in flat]).reshape(x32.shape)
    out = np.empty(flat.size)
    for start in range(0, flat.size, BLOCK):
        out[start:start + BLOCK] = _batch_way(flat[start:start + BLOCK])
    return out.reshape(x32.shape)


def _batch_way(x32: np.ndarray) -> np.ndarray:
    """shortest of a 1-D float32 array, with numpy over the whole array (see the module docstring)."""
    x = x32.astype(np.float64)
    _, exponent = np.frexp(x)  # 0 for 0, ±inf and NaN: a row of small factors, harmless for them
    factors = _FACTORS[exponent - _LOWEST]
    up, down = factors[:, 0], factors[:, 1]
    scaled = x[:, None] * up / down
    grid = np.rint(scaled)
    candidates = grid * down / up
    first = (candidates.astype(np.float32) == x32[:, None]).argmax(axis=1)
    rows = np.arange(first.size)
    out, chosen = candidates[rows, first], scaled[rows, first]
    sure = np.rint(chosen - _TIE_MARGIN) == np.rint(chosen + _TIE_MARGIN)  # False for NaN
    for i in np.flatnonzero(~sure):
        out[i] = float(str(x32[i]))
    return out
