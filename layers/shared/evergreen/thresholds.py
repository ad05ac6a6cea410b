"""The decision threshold of a binary classifier: tuned on validation, applied wherever labels are made
(numpy only: serving imports it).

A binary classifier answers classes[1] (classes are the schema's sorted strings) when P(classes[1]) is
ABOVE its threshold, else classes[0]. At 0.5 that is scikit-learn's argmax, ties included (argmax takes
the first class), so a threshold of 0.5 changes nothing. Multiclass and regression models have no
threshold (None); neither has a binary champion registered before thresholds were: both keep their
model's own labels.

Why tune at all: on rare-class data (1-3% positives) P(positive) seldom passes 0.5, so argmax answers
the majority class nearly always and a majority-class model wins. The threshold that serves the spec's
metric best on validation is usually far lower.

The rule (``tune``):
  - what it maximizes: the spec's primary metric when it depends on labels (accuracy,
    balanced_accuracy, f1_macro). roc_auc and log_loss are computed from probabilities, so no
    threshold changes them; for those it maximizes balanced accuracy, the label metric that weighs
    each class's recall equally and so cannot be won by answering the majority class (which
    accuracy can, on the very data a threshold is for);
  - candidates: 0.5 and the midpoints between consecutive distinct validation probabilities. Every
    labelling a threshold can make on validation is reached, and each candidate lies as far from the
    validation points on either side as it can: a threshold placed ON a validation probability would
    flip that row's label on a float32 rounding (onnxruntime) of it;
  - the best candidate (ties: the one closest to 0.5), but only when its gain over 0.5 on validation
    is at least Z = 2 standard errors of that gain, else 0.5. The gain is a paired comparison on
    the same rows: only the rows whose label differs between the two thresholds move it, so its
    standard error comes from how many rows of each class changed (the delta method over those two
    shares, each binomial on its class's rows). Measured by benchmarks/bench_thresholds.py (12
    seeds, mean change of the TEST metric against 0.5 per family: logistic regression, HistGB,
    random forest): on the balanced churn data (accuracy, 600 and 3,000 rows) the plain maximum
    moved test accuracy by -0.83 to +0.07 points and this rule by -0.21 to 0; on 2.5%-positive
    data (synthetic.make_rare, 3,000 rows) this rule gains what the plain maximum gains in
    balanced accuracy (+0.19 to +0.24), and +0.030 to +0.070 of f1_macro (plain: +0.065 to
    +0.098, but worse than 0.5 on some seeds, which this rule never was);
  - a validation split with fewer than MIN_CLASS_ROWS rows of either class gives 0.5: one or two
    positives place a threshold anywhere between them and the negatives, which is noise, not a rule.

Under cross-validation (small data, evergreen.cross_validation) "validation" is the out-of-fold
probabilities of train + validation: the rule is the same, on more rows.

A trial's score is never computed with a threshold tuned on the rows it scores
(evergreen.metrics.cross_fitted_scores: each fold, or each half of validation, is labelled with the
threshold tuned on the others). Scored in sample, the ranking was not fair: the bias is largest for a
poorly calibrated model, whose tuned threshold lies far from 0.5, and on the rare-class benchmark it
crowned an extra-trees model (threshold 0.034, test balanced accuracy 0.7733) over the logistic
regression that RandomizedSearchCV found (0.7999); scored cross-fitted, the search finds it too
(`make bench-automl ARGS="--datasets rare"`, BENCHMARKS.md). The test split (Evaluate, Export) never
sees the tuning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT = 0.5  # argmax for two classes
MIN_CLASS_ROWS = 10  # validation rows of each class needed to tune; fewer: DEFAULT
LABEL_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")  # metrics that a threshold changes
Z = 2.0  # standard errors of its validation gain a threshold needs to replace 0.5
_TIE = 1e-12  # objective values this close are equal (the same counts may round differently)


def objective(metric: str) -> str:
    """The label metric a threshold maximizes for a spec whose primary metric is `metric`."""
    return metric if metric in LABEL_METRICS else "balanced_accuracy"


def is_binary(classes: Sequence[str] | None) -> bool:
    return classes is not None and len(classes) == 2


def tune(y_true: np.ndarray | Sequence, probabilities: np.ndarray | None, classes: Sequence[str] | None,
         metric: str) -> float | None:
    """The threshold on P(classes[1]) that ``objective(metric)`` picks on (y_true, probabilities), by
    the rule in the module's docstring; None unless `classes` are two (multiclass, regression)."""
    if not is_binary(classes):
        return None
    y = np.asarray(y_true).astype(str)
    positive = y == str(classes[1])
    if min(int(positive.sum()), int((~positive).sum())) < MIN_CLASS_ROWS:
        return DEFAULT
    candidates, tp, fp, fn, tn = confusion(positive, _positive_probability(probabilities, y.size))
    kind = objective(metric)
    scores = _score(kind, tp, fp, fn, tn)
    near = np.flatnonzero(scores >= scores.max() - _TIE)
    best = near[np.argmin(np.abs(candidates[near] - DEFAULT))]
    half = candidates.size - 1  # DEFAULT is the last candidate
    gain = scores[best] - scores[half]
    if gain <= 0 or gain < Z * _gain_error(kind, (tp[best], fp[best], fn[best], tn[best]),
                                           abs(tp[best] - tp[half]), abs(fp[best] - fp[half])):
        return DEFAULT
    return float(candidates[best])


def confusion(positive: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    """(candidates, tp, fp, fn, tn): the candidate thresholds for P(classes[1]) = `p` (0.5 and the
    midpoints between its distinct values) and, for each, the confusion counts of labelling classes[1]
    where p > threshold, against `positive` (y_true == classes[1])."""
    distinct = np.unique(p)
    candidates = np.append((distinct[:-1] + distinct[1:]) / 2, DEFAULT)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    tp = n_pos - np.searchsorted(np.sort(p[positive]), candidates, side="right")
    fp = n_neg - np.searchsorted(np.sort(p[~positive]), candidates, side="right")
    return candidates, tp, fp, n_pos - tp, n_neg - fp


def _score(kind: str, tp, fp, fn, tn):
    """The label metric `kind` from confusion counts (arrays or numbers), as evergreen.metrics.score
    computes it when y_true holds both classes."""
    if kind == "accuracy":
        return (tp + tn) / (tp + fp + fn + tn)
    if kind == "balanced_accuracy":
        return (tp / (tp + fn) + tn / (tn + fp)) / 2
    return (2 * tp / (2 * tp + fp + fn) + 2 * tn / (2 * tn + fn + fp)) / 2  # f1_macro


def _gain_error(kind: str, counts: tuple, changed_pos: int, changed_neg: int) -> float:
    """The standard error of the gain of `kind` from 0.5 to a threshold with confusion `counts` (tp, fp,
    fn, tn), when `changed_pos` positive and `changed_neg` negative rows change label between the two:
    the delta method over the two changed shares, each binomial on its class's rows (the class totals
    are fixed by the split), with the metric's slopes at `counts`."""
    tp, fp, fn, tn = (float(c) for c in counts)
    n_pos, n_neg = tp + fn, tn + fp
    step = 1e-6  # central differences: every metric is a smooth ratio of counts around here
    slope_pos = (_score(kind, tp + step * n_pos, fp, fn - step * n_pos, tn)
                 - _score(kind, tp - step * n_pos, fp, fn + step * n_pos, tn)) / (2 * step)
    slope_neg = (_score(kind, tp, fp - step * n_neg, fn, tn + step * n_neg)
                 - _score(kind, tp, fp + step * n_neg, fn, tn - step * n_neg)) / (2 * step)
    share_pos, share_neg = changed_pos / n_pos, changed_neg / n_neg
    variance = (slope_pos ** 2 * share_pos * (1 - share_pos) / n_pos
                + slope_neg ** 2 * share_neg * (1 - share_neg) / n_neg)
    return float(np.sqrt(variance))


def labels(probabilities: np.ndarray, classes: Sequence[str], threshold: float | None) -> np.ndarray:
    """Class labels (an object array of str) from probabilities [N, len(classes)] in `classes` order:
    classes[1] where P(classes[1]) > threshold, else classes[0]; with no threshold, the argmax (the
    first class on ties, as scikit-learn's predict)."""
    names = np.array([str(c) for c in classes], dtype=object)
    # float32 probabilities (onnxruntime) are compared in float64: numpy would otherwise round the
    # threshold to float32, and labels would differ from the ones validation and Export judged
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != names.size:
        raise ValueError(f"probabilities have shape {p.shape}; expected [N, {names.size}]")
    if threshold is None:
        return names[np.argmax(p, axis=1)]
    if names.size != 2:
        raise ValueError(f"a decision threshold applies to two classes, not {names.size}")
    return names[(p[:, 1] > threshold).astype(np.intp)]


def checked(threshold: object, classes: Sequence[str] | None) -> float | None:
    """A registered threshold as serving applies it; ValueError when it cannot be one for `classes`
    (not a number in (0, 1), or the model is not binary)."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
        raise ValueError(f"the decision threshold must be a number between 0 and 1, got {threshold!r}")
    if not is_binary(classes):
        raise ValueError(f"a decision threshold applies to two classes, not {classes}")
    return float(threshold)


def _positive_probability(probabilities: np.ndarray | None, rows: int) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape != (rows, 2):
        raise ValueError(f"probabilities have shape {p.shape}; expected {(rows, 2)}")
    return p[:, 1]
