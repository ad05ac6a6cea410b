"""evergreen.metrics against sklearn.metrics (the tests may import scikit-learn; the module may not)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier, DummyRegressor

from evergreen.metrics import MetricError, baseline_score, score
from evergreen.spec import METRICS

CLASSIFICATION = [m for m, (kind, _) in METRICS.items() if kind == "classification"]
REGRESSION = [m for m, (kind, _) in METRICS.items() if kind == "regression"]


def sklearn_score(metric, y, labels, proba, classes):
    return {
        "accuracy": lambda: skm.accuracy_score(y, labels),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, labels),
        "f1_macro": lambda: skm.f1_score(y, labels, average="macro"),
        "roc_auc": lambda: (skm.roc_auc_score(y == classes[1], proba[:, 1]) if len(classes) == 2
                            else skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)),
        "log_loss": lambda: skm.log_loss(y, proba, labels=classes),
        "rmse": lambda: skm.root_mean_squared_error(y, labels),
        "mae": lambda: skm.mean_absolute_error(y, labels),
        "r2": lambda: skm.r2_score(y, labels),
    }[metric]()


def classification_case(n_classes, seed, n=300):
    rng = np.random.default_rng(seed)
    classes = [f"k{i}" for i in range(n_classes)]
    y = rng.choice(classes, size=n, p=np.linspace(1, 2, n_classes) / np.linspace(1, 2, n_classes).sum())
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), [classes.index(c) for c in y]] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = np.round(proba, 2)  # ties in the scores exercise the rank averaging
    proba /= proba.sum(axis=1, keepdims=True)
    labels = np.array(classes)[proba.argmax(axis=1)]
    return y, labels, proba, classes


def test_every_metric_is_covered():
    assert set(CLASSIFICATION) | set(REGRESSION) == set(METRICS)


@pytest.mark.parametrize("metric", CLASSIFICATION)
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_classification_metrics_match_sklearn(metric, n_classes):
    y, labels, proba, classes = classification_case(n_classes, seed=n_classes)
    ours = score(metric, y, labels, proba, classes)
    assert ours == pytest.approx(sklearn_score(metric, y, labels, proba, classes), rel=1e-12, abs=1e-12)


def test_f1_macro_counts_predicted_only_labels_like_sklearn():
    y = np.array(["a", "a", "b", "b"])
    labels = np.array(["a", "c", "b", "b"])
    assert score("f1_macro", y, labels, None, ["a", "b", "c"]) == pytest.approx(skm.f1_score(y, labels, average="macro"))


def test_log_loss_clips_zero_probabilities_like_sklearn():
    y = np.array(["a", "b", "a"])
    proba = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    assert score("log_loss", y, None, proba, ["a", "b"]) == pytest.approx(skm.log_loss(y, proba, labels=["a", "b"]))
    # float32 probabilities (ONNX) are scored exactly like the same values in float64 (scikit-learn)
    assert score("log_loss", y, None, proba.astype(np.float32), ["a", "b"]) == score("log_loss", y, None, proba, ["a", "b"])


@pytest.mark.parametrize("metric", REGRESSION)
def test_regression_metrics_match_sklearn(metric):
    rng = np.random.default_rng(1)
    y = rng.normal(50, 10, size=200)
    pred = y + rng.normal(0, 3, size=200)
    assert score(metric, y, pred, None, None) == pytest.approx(sklearn_score(metric, y, pred, None, None), rel=1e-12)


def test_r2_of_constant_target_is_finite_like_sklearn():
    y = np.full(5, 3.0)
    assert score("r2", y, y, None, None) == skm.r2_score(y, y) == 1.0
    assert score("r2", y, y + 1, None, None) == skm.r2_score(y, y + 1) == 0.0


def test_roc_auc_is_undefined_for_one_class():
    with pytest.raises(MetricError, match="single class"):
        score("roc_auc", np.array(["a", "a"]), None, np.array([[0.4, 0.6], [0.3, 0.7]]), ["a", "b"])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        score("precision", ["a"], ["a"], None, ["a", "b"])
    with pytest.raises(ValueError, match="needs probabilities"):
        score("log_loss", ["a"], ["a"], None, ["a", "b"])
    with pytest.raises(ValueError, match="not among the classes"):
        score("log_loss", ["z"], ["a"], np.array([[0.5, 0.5]]), ["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        score("roc_auc", ["a", "b"], None, np.ones((2, 3)) / 3, ["a", "b"])


@pytest.mark.parametrize("metric", CLASSIFICATION)
def test_classification_baseline_matches_dummy_prior(metric):
    rng = np.random.default_rng(4)
    classes = ["no", "yes", "maybe"]
    y_train = rng.choice(classes, size=400, p=[0.5, 0.3, 0.2])
    y_test = rng.choice(classes, size=150, p=[0.4, 0.4, 0.2])
    dummy = DummyClassifier(strategy="prior").fit(np.zeros((400, 1)), y_train)
    x_test = np.zeros((150, 1))
    proba = dummy.predict_proba(x_test)[:, [list(dummy.classes_).index(c) for c in sorted(classes)]]
    expected = sklearn_score(metric, y_test, dummy.predict(x_test), proba, sorted(classes)) if metric != "roc_auc" else 0.5
    assert baseline_score(metric, y_train, y_test, sorted(classes)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("metric", REGRESSION)
def test_regression_baseline_matches_dummy_mean(metric):
    rng = np.random.default_rng(5)
    y_train, y_test = rng.normal(10, 2, size=300), rng.normal(11, 2, size=100)
    pred = DummyRegressor().fit(np.zeros((300, 1)), y_train).predict(np.zeros((100, 1)))
    assert baseline_score(metric, y_train, y_test, None) == pytest.approx(sklearn_score(metric, y_test, pred, None, None))
