"""evergreen.thresholds: the decision threshold rule (tune) and how labels are made with it (labels)."""

from __future__ import annotations

import numpy as np
import pytest

from evergreen import thresholds
from evergreen.metrics import score
from evergreen.thresholds import DEFAULT, MIN_CLASS_ROWS, checked, labels, tune

CLASSES = ["no", "yes"]


def proba_of(p_yes) -> np.ndarray:
    p = np.asarray(p_yes, dtype=np.float64)
    return np.column_stack([1 - p, p])


def rare_validation(n: int = 2000, share: float = 0.03, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y and probabilities of a fair model on rare-class data: P(yes) seldom passes 0.5."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    p_yes = 1 / (1 + np.exp(-(2.0 * signal + np.log(share / (1 - share)) - 1.0)))
    y = np.where(rng.random(n) < p_yes, "yes", "no").astype(object)
    return y, proba_of(p_yes)


def brute_force_best(y, proba, metric: str) -> tuple[float, float]:
    """(threshold, its score): every candidate scored by evergreen.metrics itself; ties -> closest to 0.5."""
    candidates = thresholds.confusion(y == "yes", proba[:, 1])[0]
    scores = np.array([score(metric, y, labels(proba, CLASSES, t), proba, CLASSES) for t in candidates])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    pick = best[np.argmin(np.abs(candidates[best] - 0.5))]
    return float(candidates[pick]), float(scores[pick])


@pytest.mark.parametrize("metric", ["balanced_accuracy", "f1_macro", "accuracy"])
def test_on_rare_class_data_the_threshold_is_the_best_the_metric_finds_on_validation(metric):
    y, proba = rare_validation()
    threshold = tune(y, proba, CLASSES, metric)
    expected, best = brute_force_best(y, proba, metric)
    if metric == "accuracy":  # the best accuracy is the majority's, within noise of 0.5: 0.5 stays
        assert threshold == DEFAULT
        return
    assert threshold == expected < 0.5
    assert score(metric, y, labels(proba, CLASSES, threshold), proba, CLASSES) == pytest.approx(best)
    assert best > score(metric, y, labels(proba, CLASSES, 0.5), proba, CLASSES) + 0.05


def test_threshold_free_metrics_tune_for_balanced_accuracy():
    y, proba = rare_validation(seed=1)
    assert thresholds.objective("roc_auc") == thresholds.objective("log_loss") == "balanced_accuracy"
    assert tune(y, proba, CLASSES, "roc_auc") == tune(y, proba, CLASSES, "log_loss") == \
        tune(y, proba, CLASSES, "balanced_accuracy") < 0.5


def test_a_validation_gain_within_its_noise_keeps_0_5():
    # 40 rows each side of 0.5 that a threshold of 0.45 would relabel "yes": 21 of them are yes, 19 no.
    # That is the best accuracy on validation (+2 rows of 200), but far inside two standard errors.
    p = np.r_[np.full(60, 0.1), np.full(40, 0.47), np.full(100, 0.9)]
    y = np.r_[["no"] * 60, ["yes"] * 21 + ["no"] * 19, ["yes"] * 100].astype(object)
    proba = proba_of(p)
    assert brute_force_best(y, proba, "accuracy")[0] == pytest.approx(0.285)
    assert tune(y, proba, CLASSES, "accuracy") == DEFAULT
    # the same move with 35 of the 40 yes is no longer noise: it is taken
    y[60:100] = ["yes"] * 35 + ["no"] * 5
    assert tune(y, proba, CLASSES, "accuracy") == pytest.approx(0.285)


def test_ties_go_to_the_candidate_closest_to_0_5():
    # rows at 0.2 are half yes: 0.15 and 0.25 score the same accuracy; both beat 0.5 by 30 rows
    p = np.r_[np.full(30, 0.1), np.full(10, 0.2), np.full(30, 0.3), np.full(10, 0.6)]
    y = np.r_[["no"] * 30, ["yes"] * 5 + ["no"] * 5, ["yes"] * 40].astype(object)
    proba = proba_of(p)
    assert score("accuracy", y, labels(proba, CLASSES, 0.15), proba, CLASSES) == \
        score("accuracy", y, labels(proba, CLASSES, 0.25), proba, CLASSES)
    assert tune(y, proba, CLASSES, "accuracy") == pytest.approx(0.25)


def test_candidates_lie_between_validation_probabilities_never_on_one():
    y, proba = rare_validation(seed=2)
    threshold = tune(y, proba, CLASSES, "balanced_accuracy")
    below = proba[:, 1][proba[:, 1] < threshold].max()
    above = proba[:, 1][proba[:, 1] > threshold].min()
    assert threshold == pytest.approx((below + above) / 2)


def test_too_few_rows_of_a_class_keep_0_5():
    # perfectly separable at 0.1, but only MIN_CLASS_ROWS - 1 positives: not evidence enough
    p = np.r_[np.full(500, 0.05), np.full(MIN_CLASS_ROWS - 1, 0.2)]
    y = np.r_[["no"] * 500, ["yes"] * (MIN_CLASS_ROWS - 1)].astype(object)
    assert tune(y, proba_of(p), CLASSES, "balanced_accuracy") == DEFAULT
    p, y = np.append(p, 0.2), np.append(y, "yes")
    assert tune(y, proba_of(p), CLASSES, "balanced_accuracy") == pytest.approx(0.125)


def test_multiclass_and_regression_have_no_threshold():
    y, proba = rare_validation()
    assert tune(y, np.column_stack([proba, np.zeros(len(y))]), ["a", "b", "c"], "accuracy") is None
    assert tune(np.arange(5.0), None, None, "rmse") is None


def test_labels_are_classes_1_strictly_above_the_threshold():
    proba = proba_of([0.1, 0.3, 0.30000001, 0.5, 0.9])
    assert labels(proba, CLASSES, 0.3).tolist() == ["no", "no", "yes", "yes", "yes"]
    assert all(type(label) is str for label in labels(proba, CLASSES, 0.3))


def test_0_5_is_the_argmax_ties_included():
    proba = proba_of([0.2, 0.5, 0.5000001, 0.8])
    assert labels(proba, CLASSES, 0.5).tolist() == labels(proba, CLASSES, None).tolist() == ["no", "no", "yes", "yes"]
    three = np.array([[0.2, 0.5, 0.3], [0.4, 0.2, 0.4]])
    assert labels(three, ["a", "b", "c"], None).tolist() == ["b", "a"]  # first class on ties, as scikit-learn


def test_float32_probabilities_are_compared_in_float64():
    # onnxruntime's P(yes) is float32; numpy would round the threshold to float32 and call them equal
    p32 = np.float32(0.3)
    threshold = (float(p32) + float(np.nextafter(p32, np.float32(0)))) / 2  # just under p32, equal in float32
    assert np.float32(threshold) == p32
    proba = np.array([[1 - p32, p32]], dtype=np.float32)
    assert labels(proba, CLASSES, threshold).tolist() == ["yes"]


def test_labels_refuse_a_threshold_for_more_than_two_classes_and_the_wrong_shape():
    with pytest.raises(ValueError, match="two classes, not 3"):
        labels(np.full((2, 3), 1 / 3), ["a", "b", "c"], 0.4)
    with pytest.raises(ValueError, match=r"expected \[N, 2\]"):
        labels(np.full((2, 3), 1 / 3), CLASSES, 0.4)


@pytest.mark.parametrize("value,classes,message", [
    (1.5, CLASSES, "between 0 and 1, got 1.5"), (0.0, CLASSES, "between 0 and 1"), (True, CLASSES, "got True"),
    ("0.3", CLASSES, "got '0.3'"), (0.3, ["a", "b", "c"], "two classes"), (0.3, None, "two classes"),
])
def test_a_registered_threshold_that_cannot_be_applied_is_refused(value, classes, message):
    with pytest.raises(ValueError, match=message):
        checked(value, classes)


def test_a_registered_threshold_is_applied_as_recorded():
    assert checked(None, ["a", "b", "c"]) is None and checked(0.07, CLASSES) == 0.07
