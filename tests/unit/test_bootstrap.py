"""evergreen.bootstrap: the paired bootstrap interval of a challenger's improvement."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from evergreen import bootstrap
from evergreen.metrics import MetricError
from evergreen.onnx_model import Prediction

CLASSES = ["no", "yes"]
# spec.promotion's defaults, unless a test says otherwise
paired_improvement = partial(bootstrap.paired_improvement, resamples=1000, confidence=0.95, seed=0)


def answers(y: np.ndarray, wrong: np.ndarray) -> Prediction:
    """Labels that are right except at `wrong` rows."""
    labels = y.copy()
    labels[wrong] = np.where(y[wrong] == "yes", "no", "yes")
    return Prediction(labels=labels)


def test_the_same_model_improves_by_exactly_nothing():
    y = np.array(["no", "yes"] * 50, dtype=object)
    same = answers(y, np.arange(0, 100, 7))
    interval = paired_improvement("accuracy", True, y, same, same, CLASSES, resamples=200)
    assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_winning_by_one_row_of_twenty_is_noise_and_a_clear_gain_is_not():
    y = np.array(["no", "yes"] * 10, dtype=object)
    one_row = paired_improvement("accuracy", True, y, answers(y, np.array([1, 2])), answers(y, np.array([1, 2, 3])),
                                 CLASSES, seed=3)
    assert one_row.estimate == pytest.approx(0.05) and one_row.low <= 0 < one_row.high
    rng = np.random.default_rng(0)
    y = rng.choice(np.array(CLASSES, dtype=object), 500)
    clear = paired_improvement("accuracy", True, y, answers(y, rng.choice(500, 50, replace=False)),
                               answers(y, rng.choice(500, 200, replace=False)), CLASSES, seed=3)
    assert clear.estimate == pytest.approx(0.3) and 0.2 < clear.low < clear.estimate < clear.high < 0.4


def test_for_accuracy_it_agrees_with_the_normal_interval_of_the_paired_differences():
    rng = np.random.default_rng(1)
    y = rng.choice(np.array(CLASSES, dtype=object), 2000)
    challenger, incumbent = answers(y, rng.random(2000) < 0.15), answers(y, rng.random(2000) < 0.18)
    per_row = (challenger.labels == y).astype(float) - (incumbent.labels == y)
    half = 1.959964 * per_row.std() / np.sqrt(y.size)
    interval = paired_improvement("accuracy", True, y, challenger, incumbent, CLASSES, resamples=2000, seed=0)
    assert interval.estimate == pytest.approx(per_row.mean())
    assert interval.low == pytest.approx(per_row.mean() - half, abs=0.15 * half)
    assert interval.high == pytest.approx(per_row.mean() + half, abs=0.15 * half)


def test_lower_is_better_metrics_count_a_smaller_error_as_an_improvement():
    rng = np.random.default_rng(2)
    y = rng.normal(size=300)
    close, far = Prediction(y + rng.normal(scale=0.1, size=300)), Prediction(y + rng.normal(scale=1.0, size=300))
    interval = paired_improvement("rmse", False, y, close, far, None, resamples=300)
    assert interval.low > 0.5 and interval.estimate == pytest.approx(
        np.sqrt(np.mean((far.labels - y) ** 2)) - np.sqrt(np.mean((close.labels - y) ** 2)))


def test_seeded_and_stated():
    y = np.array(["no", "yes"] * 30, dtype=object)
    a, b = answers(y, np.arange(0, 60, 5)), answers(y, np.arange(0, 60, 4))
    first = paired_improvement("accuracy", True, y, a, b, CLASSES, resamples=100, seed=9)
    assert first == paired_improvement("accuracy", True, y, a, b, CLASSES, resamples=100, seed=9)
    assert "95% interval" in first.describe() and "100 paired bootstrap resamples, seed 9" in first.describe()


def test_resamples_on_which_the_metric_is_undefined_are_left_out_and_counted():
    y = np.array(["no"] * 99 + ["yes"], dtype=object)  # a resample misses the one "yes" 37% of the time
    rng = np.random.default_rng(4)
    a = Prediction(labels=np.array(["no"] * 100, dtype=object), probabilities=np.tile([0.6, 0.4], (100, 1)))
    b = Prediction(labels=a.labels, probabilities=np.column_stack([1 - (p := rng.random(100)), p]))
    interval = paired_improvement("roc_auc", True, y, a, b, CLASSES, resamples=400)
    assert 200 < interval.resamples < 320
    with pytest.raises(MetricError, match="single class"):
        paired_improvement("roc_auc", True, y[:99], Prediction(a.labels[:99], a.probabilities[:99]),
                           Prediction(b.labels[:99], b.probabilities[:99]), CLASSES, resamples=10)
