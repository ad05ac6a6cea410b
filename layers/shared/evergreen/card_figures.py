"""The model card's plot numbers (numpy only): what Evaluate measures of the served challenger on the
test split, so the card can draw its plots without the rows (evergreen.card_html draws them).

They travel in the Step Functions state (EvaluateResult.figures, 256 KB for the whole state), so each
is a summary of bounded size, whatever the test split's size:

  - classification, ``confusion``: counts of (true class, answered class), rows the true class,
    columns the answered one, in the schema's class order. Above MAX_CLASSES classes, the
    MAX_CLASSES - 1 commonest true classes keep their own row and column and the rest are folded into
    OTHER;
  - binary classification, ``curves``: the ROC and precision-recall curves of P(positive class) (the
    second of the schema's classes, the one the decision threshold answers): the exact area under the
    ROC curve and average precision (sklearn's roc_auc_score and average_precision_score), and at most
    CURVE_POINTS of the curves' vertices (one per distinct score), those that draw both curves most
    faithfully (``simplify``), each with its threshold; the
    operating point the served labels make (with the decision threshold); the prevalence (the PR
    curve of a model that knows nothing). No curves for multiclass: the confusion matrix says there
    which classes are mistaken for which;
  - regression, ``residuals``: actual minus predicted, as a histogram of RESIDUAL_BINS equal bins
    between the 0.5% and 99.5% quantiles (the few residuals beyond them counted in the end bins, and
    how many stated), quantiles, mean and standard deviation; and ``by_prediction``, the predictions
    cut into (at most) PREDICTION_BINS quantile bins, each with its mean prediction and the mean and
    10%/90% quantiles of the actual values: predicted against actual without shipping rows;
  - both, ``importance``: permutation importance of each feature on the test split, computed with
    the served model itself (``permutation_importance``): how much the primary metric worsens when one
    column's values are shuffled among the rows, the mean and standard deviation over `repeats`
    shuffles, the IMPORTANCE_TOP largest kept.

Floats are rounded to DIGITS decimals: a plot needs no more, and the state stays small.

Cost in Evaluate (``.venv/bin/python benchmarks/bench_card_importance.py``, the churn example's 8
features, 10,000 of 12,000 test rows, 3 shuffles each, 2 shared vCPUs): logistic regression 0.14 s,
HistGB 0.94 s, a random forest of 100 trees of depth 12 2.7 s; it grows with the number of features.
The curves of 1,000,000 test rows take about 1 s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from evergreen.metrics import MetricError, score
from evergreen.onnx_model import Prediction
from evergreen.spec import METRICS

MAX_CLASSES = 30  # the confusion matrix has at most 30 x 30 counts
OTHER = "(other)"
CURVE_POINTS = 50
RESIDUAL_BINS = 20
PREDICTION_BINS = 20
IMPORTANCE_TOP = 20
IMPORTANCE_REPEATS = 3
# permutation importance scores a seeded sample of the test split this large: every feature costs
# `repeats` runs of the model on it
IMPORTANCE_ROWS = 10_000
DIGITS = 6


def _num(value: float) -> float | None:
    """JSON-safe: rounded to DIGITS decimals, NaN as None."""
    return round(float(value), DIGITS) + 0.0 if np.isfinite(value) else None  # + 0.0: no -0.0


def _round(values: np.ndarray | Sequence[float]) -> list[float | None]:
    return [_num(v) for v in np.asarray(values, dtype=np.float64)]


def confusion(y_true: np.ndarray | Sequence, labels: np.ndarray | Sequence, classes: Sequence[str]) -> dict[str, Any]:
    """{"classes", "counts", "folded"}: counts[i][j] test rows of true class classes[i] answered
    classes[j]; `folded` the number of classes folded into OTHER (see the module doc)."""
    y, answered = np.asarray(y_true).astype(str), np.asarray(labels).astype(str)
    names = [str(c) for c in classes]
    folded = 0
    if len(names) > MAX_CLASSES:
        frequency = {c: int(np.sum(y == c)) for c in names}
        kept = set(sorted(names, key=lambda c: (-frequency[c], names.index(c)))[:MAX_CLASSES - 1])
        folded = len(names) - len(kept)
        y = np.where(np.isin(y, list(kept)), y, OTHER)
        answered = np.where(np.isin(answered, list(kept)), answered, OTHER)
        names = [c for c in names if c in kept] + [OTHER]
    unknown = sorted((set(y.tolist()) | set(answered.tolist())) - set(names))
    if unknown:
        raise ValueError(f"labels that are not among the classes: {unknown[:5]}")
    index = {c: i for i, c in enumerate(names)}
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (np.array([index[c] for c in y.tolist()], dtype=np.intp),
                       np.array([index[c] for c in answered.tolist()], dtype=np.intp)), 1)
    return {"classes": names, "counts": counts.tolist(), "folded": folded}


def threshold_curves(positive: np.ndarray, scores: np.ndarray, answered: np.ndarray | None = None,
                     points: int = CURVE_POINTS) -> dict[str, Any] | None:
    """The ROC and precision-recall curves of `scores` for the rows where `positive` is True (see the
    module doc); None when the rows hold a single class (neither curve is defined). With `answered`
    (the rows the served labels answer positive), its operating point, whose vertex the kept points
    include when the labels are a threshold of these scores, so it is drawn on the curves."""
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], positive[order]
    # one vertex per distinct score: answered positive at or above it
    last = np.concatenate((np.flatnonzero(np.diff(ranked)), [ranked.size - 1]))
    tp = np.cumsum(hits)[last].astype(np.float64)
    fp = (last + 1) - tp
    tpr = np.concatenate(([0.0], tp / n_pos))
    fpr = np.concatenate(([0.0], fp / n_neg))
    # with nothing answered positive precision is undefined: the origin takes the first threshold's, so
    # the precision-recall curve starts level from recall 0 (sklearn's precision_recall_curve puts 1 there)
    precision = tp / (tp + fp)
    precision = np.concatenate(([precision[0]], precision))
    threshold = np.concatenate(([np.nan], ranked[last]))
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # the trapezoids: ties count half
    average_precision = float(np.sum(np.diff(tpr) * precision[1:]))
    fixed: list[int] = []
    point = None
    if answered is not None:
        answered = np.asarray(answered, dtype=bool)
        point = operating_point(positive, answered)
        at = np.flatnonzero((tp == np.sum(answered & positive)) & (fp == np.sum(answered & ~positive)))
        fixed = [int(at[0]) + 1] if at.size else []  # + 1: the origin comes first
    keep = simplify(np.column_stack((fpr, tpr, precision)), points, fixed)
    return {"rows": int(positive.size), "positives": n_pos, "prevalence": _num(n_pos / positive.size),
            "auc": _num(auc), "average_precision": _num(average_precision),
            "threshold": _round(threshold[keep]), "fpr": _round(fpr[keep]), "tpr": _round(tpr[keep]),
            "precision": _round(precision[keep]), "operating_point": point}


def simplify(vertices: np.ndarray, points: int, fixed: Sequence[int] = ()) -> np.ndarray:
    """The indices of at most `points` of a polyline's `vertices` ([n, d]) that draw it most faithfully:
    the ends and the `fixed` ones, then again and again the vertex farthest from the line through its
    kept neighbours (Ramer-Douglas-Peucker with a budget), so bends are kept and straight stretches
    thinned."""
    n = vertices.shape[0]
    if n <= points:
        return np.arange(n)

    def farthest(a: int, b: int) -> tuple[float, int]:
        if b - a < 2:
            return -1.0, -1
        inside = vertices[a + 1:b] - vertices[a]
        direction = vertices[b] - vertices[a]
        length = float(np.dot(direction, direction))
        along = np.clip(inside @ direction / length, 0.0, 1.0) if length > 0 else np.zeros(len(inside))
        away = np.sum((inside - along[:, None] * direction) ** 2, axis=1)
        i = int(np.argmax(away))
        return float(away[i]), a + 1 + i

    kept = {0, n - 1, *fixed}
    ordered = sorted(kept)
    segments = {(a, b): farthest(a, b) for a, b in pairwise(ordered)}
    while len(kept) < points:
        (a, b), (distance, i) = max(segments.items(), key=lambda item: item[1][0])
        if distance <= 0:  # what is left lies on the kept lines
            break
        kept.add(i)
        del segments[(a, b)]
        segments[(a, i)], segments[(i, b)] = farthest(a, i), farthest(i, b)
    return np.array(sorted(kept))


def operating_point(positive: np.ndarray, answered_positive: np.ndarray) -> dict[str, float | None]:
    """Where the served labels sit on the curves: their false and true positive rates and precision."""
    positive, answered = np.asarray(positive, dtype=bool), np.asarray(answered_positive, dtype=bool)

    def share(hit: np.ndarray, of: np.ndarray) -> float | None:
        return _num(hit[of].mean()) if of.any() else None

    return {"fpr": share(answered, ~positive), "tpr": share(answered, positive), "precision": share(positive, answered)}


def residuals(y_true: np.ndarray | Sequence, predictions: np.ndarray | Sequence, bins: int = RESIDUAL_BINS,
              prediction_bins: int = PREDICTION_BINS) -> dict[str, Any]:
    """A regressor's residuals (actual minus predicted) and predicted against actual (module doc)."""
    y = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(predictions, dtype=np.float64).reshape(-1)
    residual = y - predicted
    low, high = (float(q) for q in np.quantile(residual, [0.005, 0.995]))
    if high <= low:  # (nearly) all residuals equal: one unit-wide window around them
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    counts, _ = np.histogram(np.clip(residual, low, high), bins=edges)
    quantile_at = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    cut = np.unique(np.quantile(predicted, np.linspace(0, 1, prediction_bins + 1)))
    which = np.clip(np.searchsorted(cut, predicted, side="right") - 1, 0, max(cut.size - 2, 0))
    by_prediction = []
    for b in np.unique(which):
        rows = which == b
        actual = y[rows]
        by_prediction.append({"rows": int(rows.sum()), "predicted": _num(predicted[rows].mean()),
                              "actual": _num(actual.mean()), "actual_q10": _num(np.quantile(actual, 0.1)),
                              "actual_q90": _num(np.quantile(actual, 0.9))})
    return {
        "rows": int(y.size), "mean": _num(residual.mean()), "std": _num(residual.std()),
        "quantiles": dict(zip([f"{q:g}" for q in quantile_at], _round(np.quantile(residual, quantile_at)))),
        "histogram": {"edges": _round(edges), "counts": [int(c) for c in counts],
                      "beyond": int(np.sum((residual < low) | (residual > high)))},
        "by_prediction": by_prediction,
        "range": _round([min(y.min(), predicted.min()), max(y.max(), predicted.max())]),
    }


Feeds = dict[str, np.ndarray]  # the ONNX input contract: "numeric" float32 [N, k], "categorical" str [N, m]


def permutation_importance(predict: Callable[[Feeds], Prediction], feeds: Feeds, names: dict[str, list[str]],
                           y_true: np.ndarray, metric: str, classes: Sequence[str] | None, *, seed: int,
                           repeats: int = IMPORTANCE_REPEATS, max_rows: int = IMPORTANCE_ROWS,
                           top: int = IMPORTANCE_TOP) -> dict[str, Any]:
    """Permutation importance of each feature for the model `predict` (the served one: it takes the
    feeds and answers a Prediction), on at most `max_rows` rows of the test split (a seeded sample).

    `names` names the columns of each feed ({"numeric": [...], "categorical": [...]}). A feature's
    importance is the primary metric on the rows as they are, minus the metric with that one column
    shuffled among the rows (turned around for metrics where lower is better, so positive always
    means the model relies on the feature), averaged over `repeats` shuffles, each with its own draw
    of a generator seeded with `seed`. When the metric is not defined on the sample (roc_auc with one
    class), "error" says so and there are no features."""
    higher_is_better = METRICS[metric][1]
    rng = np.random.default_rng(seed)
    y = np.asarray(y_true)
    rows = np.arange(y.shape[0])
    if rows.size > max_rows:
        rows = np.sort(rng.choice(rows.size, size=max_rows, replace=False))
    feeds = {part: matrix[rows] for part, matrix in feeds.items()}
    y = y[rows]

    def metric_of(these: Feeds) -> float:
        said = predict(these)
        return float(score(metric, y, said.labels, said.probabilities, classes))

    out: dict[str, Any] = {"metric": metric, "rows": int(rows.size), "repeats": repeats, "seed": seed,
                           "features": sum(len(v) for v in names.values())}
    try:
        reference = metric_of(feeds)
    except MetricError as exc:
        return {**out, "error": str(exc), "top": []}
    found = []
    for part, columns in names.items():
        for j, name in enumerate(columns):
            drops = []
            for _ in range(repeats):
                shuffled = feeds[part].copy()
                shuffled[:, j] = shuffled[rng.permutation(rows.size), j]
                changed = metric_of({**feeds, part: shuffled})
                drops.append(reference - changed if higher_is_better else changed - reference)
            found.append({"feature": name, "mean": _num(np.mean(drops)), "std": _num(np.std(drops))})
    found.sort(key=lambda f: -f["mean"])  # stable: ties keep the schema's order
    return {**out, "score": _num(reference), "top": found[:top]}


def figures(y_true: np.ndarray, said: Prediction, classes: Sequence[str] | None,
            importance: dict[str, Any]) -> dict[str, Any]:
    """The card's plot numbers for the answers `said` on the test rows `y_true` (module doc)."""
    if classes is None:
        return {"kind": "regression", "residuals": residuals(y_true, said.labels), "importance": importance}
    out: dict[str, Any] = {"kind": "classification", "confusion": confusion(y_true, said.labels, classes),
                           "importance": importance}
    if len(classes) == 2 and said.probabilities is not None:
        positive = np.asarray(y_true).astype(str) == str(classes[1])
        curves = threshold_curves(positive, np.asarray(said.probabilities, dtype=np.float64)[:, 1],
                                  answered=np.asarray(said.labels).astype(str) == str(classes[1]))
        if curves is not None:
            curves["positive_class"] = str(classes[1])
        out["curves"] = curves
    return out
