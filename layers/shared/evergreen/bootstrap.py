"""How sure a difference between two models is: a paired bootstrap confidence interval (numpy only).

Both models predicted the same test rows. A resample draws as many rows as the split has, with
replacement (seeded), scores both models on the same drawn rows, and takes the difference; the
interval is the percentile interval of `resamples` such differences (Efron & Tibshirani 1993, ch. 13).
Pairing is what makes it sharp: a row both models get right or both get wrong moves neither side, so
the interval measures their disagreement, not the noise of the split as a whole.

The difference is an improvement: positive when the challenger is better, in the metric's own units
(evaluation.improvement), whichever way the metric points. A resample on which the metric is not
defined (roc_auc with one class drawn) is left out, and the interval says on how many it was; the
metric is defined on the rows as they are (else MetricError before any resample), and then on at
least 63% of the resamples: the chance that one given row is drawn at least once.
"""

from __future__ import annotations

import numpy as np

from evergreen.contracts import Interval
from evergreen.metrics import MetricError, score
from evergreen.onnx_model import Prediction


def paired_improvement(metric: str, higher_is_better: bool, y_true: np.ndarray, challenger: Prediction,
                       incumbent: Prediction, classes: list[str] | None, *, resamples: int, confidence: float,
                       seed: int) -> Interval:
    """The challenger's improvement over the incumbent on the rows of `y_true`, and its paired
    bootstrap interval (see module doc). Each model's answers on those rows: its labels (or
    predictions) and, for classifiers, probabilities in `classes` order."""
    y = np.asarray(y_true)
    sign = 1.0 if higher_is_better else -1.0

    def improvement(rows: np.ndarray | None) -> float:
        def on(p: Prediction) -> float:
            if rows is None:
                return score(metric, y, p.labels, p.probabilities, classes)
            proba = None if p.probabilities is None else p.probabilities[rows]
            return score(metric, y[rows], p.labels[rows], proba, classes)
        return sign * (on(challenger) - on(incumbent))

    estimate = improvement(None)
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        try:
            differences.append(improvement(rng.integers(0, y.size, y.size)))
        except MetricError:
            continue
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return Interval(estimate=float(estimate), low=float(low), high=float(high), confidence=confidence,
                    resamples=len(differences), seed=seed)
