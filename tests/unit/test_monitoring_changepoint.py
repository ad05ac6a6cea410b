"""evergreen.monitoring.changepoint: the rise of a served model's errors, against scipy's t test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evergreen.monitoring.changepoint import MIN_SEGMENT, rise, t_statistics


def test_every_split_statistic_is_scipys_pooled_two_sample_t():
    x = np.random.default_rng(0).random(300) < np.r_[np.full(180, 0.1), np.full(120, 0.3)]
    k, t = t_statistics(x.astype(float))
    assert list(k) == list(range(MIN_SEGMENT, 300 - MIN_SEGMENT + 1))
    reference = [stats.ttest_ind(x[i:].astype(float), x[:i].astype(float), equal_var=True).statistic for i in k]
    np.testing.assert_allclose(t, reference, rtol=1e-9)


def test_a_rise_of_the_error_rate_is_found_where_it_happened():
    rng = np.random.default_rng(1)
    errors = np.r_[rng.random(2000) < 0.08, rng.random(200) < 0.33].astype(float)
    found = rise(errors)
    assert found is not None
    assert abs(found.index - 2000) <= 40
    assert found.before == pytest.approx(errors[:found.index].mean())
    assert found.after == pytest.approx(errors[found.index:].mean())
    assert found.t > found.critical


def test_absolute_errors_of_a_regressor_work_the_same_way():
    rng = np.random.default_rng(2)
    errors = np.abs(np.r_[rng.normal(0, 1, 800), rng.normal(0, 3, 150)])
    found = rise(errors)
    assert found is not None and abs(found.index - 800) <= 30


@pytest.mark.parametrize("seed", range(20))
def test_a_stationary_series_finds_no_rise(seed):
    errors = (np.random.default_rng(100 + seed).random(5000) < 0.18).astype(float)
    assert rise(errors) is None


def test_a_fall_is_not_a_rise():
    rng = np.random.default_rng(3)
    errors = np.r_[rng.random(500) < 0.4, rng.random(500) < 0.05].astype(float)
    assert rise(errors) is None


def test_too_short_or_constant_series_find_nothing_and_a_jump_from_constant_is_certain():
    assert rise([1.0] * (2 * MIN_SEGMENT - 1)) is None
    assert rise([0.0] * 500) is None
    found = rise([0.0] * 100 + [1.0] * 100)
    assert found is not None and found.index == 100 and (found.before, found.after) == (0.0, 1.0)
