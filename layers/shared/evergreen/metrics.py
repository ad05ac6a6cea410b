"""Scores for every metric in evergreen.spec.METRICS (numpy only; matches sklearn.metrics).

One signature for all: ``score(metric, y_true, labels, proba, classes)``.
  - classification: `y_true` and `labels` are class strings, `proba` is [N, len(classes)] in
    `classes` order (needed by roc_auc and log_loss only), `classes` the schema's classes;
  - regression: `y_true` and `labels` (the predictions) are numbers; `proba` and `classes` are None.
Whether higher is better is METRICS[metric][1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evergreen import thresholds
from evergreen.spec import METRICS

# log_loss clips probabilities to [EPS, 1 - EPS] after converting to float64 (sklearn clips at the
# machine epsilon of the input dtype; converting first gives ONNX float32 and scikit-learn float64
# probabilities the same treatment).
EPS = float(np.finfo(np.float64).eps)


class MetricError(ValueError):
    """The metric is undefined for these inputs (e.g. roc_auc with a single class in y_true)."""


def score(
    metric: str,
    y_true: np.ndarray | Sequence,
    labels: np.ndarray | Sequence,
    proba: np.ndarray | None,
    classes: Sequence[str] | None,
) -> float:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(METRICS)}")
    if METRICS[metric][0] == "regression":
        y = np.asarray(y_true, dtype=np.float64)
        pred = np.asarray(labels, dtype=np.float64).reshape(-1)
        _same_length(y, pred)
        return {"rmse": _rmse, "mae": _mae, "r2": _r2}[metric](y, pred)
    y = np.asarray(y_true).astype(str)
    if metric in ("roc_auc", "log_loss"):
        if proba is None or classes is None:
            raise ValueError(f"{metric} needs probabilities and classes")
        p = np.asarray(proba, dtype=np.float64)
        if p.ndim != 2 or p.shape != (y.size, len(classes)):
            raise ValueError(f"probabilities have shape {p.shape}; expected {(y.size, len(classes))}")
        cls = [str(c) for c in classes]
        unknown = sorted(set(y.tolist()) - set(cls))
        if unknown:
            raise ValueError(f"y_true holds labels that are not among the classes: {unknown[:5]}")
        return _roc_auc(y, p, cls) if metric == "roc_auc" else _log_loss(y, p, cls)
    pred = np.asarray(labels).astype(str).reshape(-1)
    _same_length(y, pred)
    if metric == "accuracy":
        return float(np.mean(y == pred))
    if metric == "balanced_accuracy":
        return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))
    if metric == "f1_macro":
        return _f1_macro(y, pred)
    raise AssertionError(metric)  # pragma: no cover - METRICS and this module disagree


def baseline_predictions(
    y_train: np.ndarray | Sequence, rows: int, classes: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, probabilities) of a trivial model fitted on y_train, for `rows` rows: the majority class
    (ties: first in `classes`) with the training class priors as probabilities; the training mean and
    None for regression (`classes` None)."""
    if classes is None:
        return np.full(rows, float(np.mean(np.asarray(y_train, dtype=np.float64)))), None
    cls = [str(c) for c in classes]
    y_train = np.asarray(y_train).astype(str)
    counts = np.array([np.sum(y_train == c) for c in cls], dtype=np.float64)
    return np.full(rows, cls[int(np.argmax(counts))], dtype=object), np.tile(counts / counts.sum(), (rows, 1))


def baseline_score(
    metric: str,
    y_train: np.ndarray | Sequence,
    y_test: np.ndarray | Sequence,
    classes: Sequence[str] | None,
) -> float:
    """The score of the trivial model (``baseline_predictions``) fitted on y_train, on y_test."""
    regression = METRICS[metric][0] == "regression"
    if not regression and not classes:
        raise ValueError("classification baseline needs the classes")
    y_test = np.asarray(y_test, dtype=np.float64) if regression else np.asarray(y_test).astype(str)
    labels, proba = baseline_predictions(y_train, y_test.size, None if regression else classes)
    return score(metric, y_test, labels, proba, None if regression else [str(c) for c in classes])


def calibration(y_true: np.ndarray | Sequence, probabilities: np.ndarray, classes: Sequence[str],
                bins: int = 10) -> dict:
    """A classifier's expected calibration error and its reliability curve on the rows of `y_true`.
    Confidence: a binary classifier's probability of the second class (the positive one), else the
    top class's probability; the rows go into `bins` equal-width bins of it, and each bin keeps its
    rows, mean confidence and observed frequency (binary: the share that is positive; else the share
    whose top class is right). ECE = the sum over bins of rows/n x |frequency - confidence|."""
    y = np.asarray(y_true).astype(str)
    cls = np.array([str(c) for c in classes], dtype=object)
    proba = np.asarray(probabilities, dtype=np.float64)
    if len(cls) == 2:
        confidence, hit, of = proba[:, 1], y == cls[1], f"P({cls[1]})"
    else:
        confidence, hit, of = proba.max(axis=1), y == cls[proba.argmax(axis=1)].astype(str), "top class"
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    curve, ece = [], 0.0
    for b in range(bins):
        rows = index == b
        if not rows.any():
            continue
        mean_confidence, frequency = float(confidence[rows].mean()), float(hit[rows].mean())
        ece += rows.sum() / y.size * abs(frequency - mean_confidence)
        curve.append({"low": b / bins, "high": (b + 1) / bins, "rows": int(rows.sum()),
                      "confidence": mean_confidence, "frequency": frequency})
    return {"of": of, "expected_calibration_error": float(ece), "bins": curve}


def _same_length(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"y_true has {a.shape[0]} values, predictions {b.shape[0]}")
    if a.shape[0] == 0:
        raise ValueError("no rows to score")


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def _mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y - pred)))


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    """As sklearn (force_finite): a constant y_true scores 1.0 if predicted perfectly, else 0.0."""
    residual = float(np.sum((y - pred) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _f1_macro(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean F1 over the labels present in y_true or the predictions (sklearn's default labels);
    a label with no true and no predicted rows cannot occur, one with tp = 0 scores 0."""
    f1 = []
    for c in np.union1d(y, pred):
        tp = np.sum((y == c) & (pred == c))
        fp = np.sum((y != c) & (pred == c))
        fn = np.sum((y == c) & (pred != c))
        f1.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1))


def _binary_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC with tied scores counted half (equals the trapezoidal ROC area)."""
    n_pos = int(positive.sum())
    n_neg = int(positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise MetricError("roc_auc is undefined when y_true holds a single class")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # average rank of each run of equal scores
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [scores.size]))
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    rank_sum = ranks[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _roc_auc(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> float:
    """Binary: the probability of classes[1]. Multiclass: macro average of one-vs-rest AUCs over
    the classes present in y_true (sklearn's multi_class="ovr", average="macro")."""
    if len(classes) == 2:
        return _binary_auc(y == classes[1], proba[:, 1])
    present = [j for j, c in enumerate(classes) if np.any(y == c)]
    if len(present) < 2:
        raise MetricError("roc_auc is undefined when y_true holds a single class")
    return float(np.mean([_binary_auc(y == classes[j], proba[:, j]) for j in present]))


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> float:
    index = {c: j for j, c in enumerate(classes)}
    columns = np.array([index[c] for c in y.tolist()], dtype=np.intp)
    p_true = np.clip(proba[np.arange(y.size), columns], EPS, 1 - EPS)
    return float(-np.mean(np.log(p_true)))


def cross_fitted_scores(metric: str, y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str],
                        parts: Sequence[np.ndarray]) -> list[float]:
    """`metric` on each part of `parts` (row indices, together every row once) of a binary classifier's
    answers, each part labelled with the threshold evergreen.thresholds.tune picks on the OTHER parts'
    rows: the score pays for the tuning, as the test split will. Scored on the rows it was tuned on, a
    threshold far from 0.5 (a poorly calibrated model's, on a rare class) looks better than it is."""
    y = np.asarray(y_true)
    scores = []
    for rows in parts:
        others = np.ones(y.size, dtype=bool)
        others[rows] = False
        threshold = thresholds.tune(y[others], proba[others], classes, metric)
        scores.append(score(metric, y[rows], thresholds.labels(proba[rows], classes, threshold).astype(str),
                            proba[rows], classes))
    return scores


def halves(y_true: np.ndarray) -> list[np.ndarray]:
    """Two parts of the rows, each class split alternately between them (deterministic, stratified)."""
    y = np.asarray(y_true).astype(str)
    first = np.concatenate([np.flatnonzero(y == c)[0::2] for c in np.unique(y)])
    return [np.sort(first), np.setdiff1d(np.arange(y.size), first)]
