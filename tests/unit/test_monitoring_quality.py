"""evergreen.monitoring.quality: live quality from stored labels, against numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from evergreen.monitoring.quality import Score, problem_type_of, score, window_quality

CLASSES = np.array(["no", "yes", "maybe"])


def classification_items(rng: np.random.Generator, n: int) -> tuple[list[dict], np.ndarray, np.ndarray]:
    predicted = rng.choice(CLASSES, n)
    labels = np.where(rng.random(n) < 0.7, predicted, rng.choice(CLASSES, n))
    items = [{"prediction_id": f"p{i}", "problem_type": "classification", "prediction": str(p), "label": str(y)}
             for i, (p, y) in enumerate(zip(predicted, labels, strict=True))]
    return items, predicted, labels


def regression_items(rng: np.random.Generator, n: int) -> tuple[list[dict], np.ndarray, np.ndarray, np.ndarray]:
    predicted = rng.normal(50, 10, n)
    labels = predicted + rng.normal(0, 4, n)
    tolerance = rng.choice([3.0, 5.0], n)  # each prediction carries the tolerance of the champion that made it
    items = [{"prediction_id": f"r{i}", "problem_type": "regression", "prediction": float(p), "label": float(y),
              "regression_tolerance": float(t)}
             for i, (p, y, t) in enumerate(zip(predicted, labels, tolerance, strict=True))]
    return items, predicted, labels, tolerance


def test_classification_quality_is_the_share_of_right_predictions():
    items, predicted, labels = classification_items(np.random.default_rng(0), 500)
    window = window_quality(items)
    assert window.labels == window.judged == 500 and window.unreadable == 0
    assert window.quality == pytest.approx(np.mean(predicted == labels), rel=1e-12)
    assert window.mean_abs_error is None


def test_regression_quality_is_the_share_within_each_items_tolerance_and_reports_the_mae():
    items, predicted, labels, tolerance = regression_items(np.random.default_rng(1), 400)
    errors = np.abs(labels - predicted)
    window = window_quality(items)
    assert window.labels == window.judged == 400
    assert window.quality == pytest.approx(np.mean(errors <= tolerance), rel=1e-12)
    assert window.mean_abs_error == pytest.approx(np.mean(errors), rel=1e-12)


def test_regression_without_a_tolerance_is_not_judged_but_its_error_is_reported():
    items, predicted, labels, _ = regression_items(np.random.default_rng(2), 50)
    for item in items:
        del item["regression_tolerance"]
    window = window_quality(items)
    assert (window.labels, window.judged, window.quality) == (50, 0, None)
    assert window.mean_abs_error == pytest.approx(np.mean(np.abs(labels - predicted)), rel=1e-12)


def test_a_prediction_seen_twice_counts_once():
    items, predicted, labels = classification_items(np.random.default_rng(3), 200)
    window = window_quality(items + items[:50] + items[::7])
    assert window.labels == 200
    assert window.quality == pytest.approx(np.mean(predicted == labels), rel=1e-12)


def test_labels_that_cannot_be_scored_are_counted_not_judged():
    items, predicted, labels, tolerance = regression_items(np.random.default_rng(4), 30)
    items[0]["label"] = "forty"  # logged before labels were validated
    window = window_quality(items)
    assert (window.labels, window.judged, window.unreadable) == (30, 29, 1)
    assert window.quality == pytest.approx(np.mean((np.abs(labels - predicted) <= tolerance)[1:]), rel=1e-12)


def test_items_without_a_problem_type_are_read_from_the_prediction():
    assert problem_type_of({"prediction": "yes"}) == "classification"
    assert problem_type_of({"prediction": 3.5}) == "regression"
    assert problem_type_of({"problem_type": "regression", "prediction": "3.5"}) == "regression"
    window = window_quality([{"prediction": "yes", "label": "yes"}, {"prediction": "no", "label": "yes"},
                             {"prediction": 2.0, "label": 2.5, "regression_tolerance": 1.0}])
    assert (window.labels, window.quality, window.mean_abs_error) == (3, pytest.approx(2 / 3), 0.5)


def test_an_empty_window():
    window = window_quality([])
    assert (window.labels, window.quality, window.mean_abs_error) == (0, None, None)


def test_score_one_prediction():
    assert score("classification", "yes", "yes", None) == Score(1.0, None)
    assert score("classification", "1", 1, None) == Score(1.0, None)  # labels are compared as class names
    assert score("regression", 10.0, 12.5, 2.5) == Score(1.0, 2.5)  # within the tolerance, inclusive
    assert score("regression", 10.0, 12.6, 2.5).quality == 0.0
    assert score("regression", 10.0, 7.0, None) == Score(None, 3.0)
