"""Where the errors of a served model rose: the start of the concept a retrain should learn.

A retrain on an alarm that learns from every labelled prediction of a window mixes the old concept
with the new one (measured: 300 pre-drift and 200 post-drift labels gave 0.77 where post-drift rows
alone give 0.90). `rise` finds the single most significant rise of the mean in an ordered series of
per-prediction errors (0/1 for a classifier, absolute errors for a regressor): for every split point
the two-sample t statistic with pooled variance (Student's, what ``scipy.stats.ttest_ind`` computes),
its maximum, and a Bonferroni bound over the candidate splits, so a stationary series (the errors of
a model that did not degrade) finds none at the chosen false-positive rate.

Pure numpy (the ingest Lambda has scikit-learn's numpy; no scipy import at run time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

MIN_SEGMENT = 30  # the fewest errors on either side of a split: a mean of fewer is noise
FALSE_RISE_RATE = 0.001  # the chance a series with no rise reports one (Bonferroni over the splits)


@dataclass(frozen=True)
class Rise:
    index: int  # the first element of the new regime: values[index:] is after the rise
    before: float  # the mean before it
    after: float  # the mean from it on
    t: float  # the two-sample t statistic at the split
    critical: float  # the bound it exceeded


def t_statistics(values: Sequence[float], min_segment: int = MIN_SEGMENT) -> tuple[np.ndarray, np.ndarray]:
    """(splits k, t statistic of mean(values[k:]) - mean(values[:k]) with pooled variance) for every
    k with at least `min_segment` values on each side. Pure."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    k = np.arange(min_segment, n - min_segment + 1)
    if k.size == 0:
        return k, np.empty(0)
    total, squares = np.cumsum(x), np.cumsum(x * x)
    left = total[k - 1] / k
    right = (total[-1] - total[k - 1]) / (n - k)
    within = squares[-1] - k * left**2 - (n - k) * right**2  # both groups' sums of squared deviations
    se = np.sqrt(np.maximum(within, 0.0) / (n - 2) * (1.0 / k + 1.0 / (n - k)))
    diff = right - left
    constant = np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0))  # no spread: any change is certain
    return k, np.where(se > 0, diff / np.where(se > 0, se, 1.0), constant)


def rise(values: Sequence[float], *, min_segment: int = MIN_SEGMENT, false_rate: float = FALSE_RISE_RATE) -> Rise | None:
    """The most significant rise of the mean in `values` (oldest first), or None when no split's
    one-sided t statistic exceeds the normal quantile of 1 - false_rate / (number of splits) (the t
    distribution's quantile is at most 5% higher at 60 values, under 1% from 1,000). Pure."""
    k, t = t_statistics(values, min_segment)
    if t.size == 0:
        return None
    best = int(np.argmax(t))
    critical = NormalDist().inv_cdf(1.0 - false_rate / t.size)
    if not t[best] > critical:
        return None
    x = np.asarray(values, dtype=np.float64)
    index = int(k[best])
    return Rise(index=index, before=float(x[:index].mean()), after=float(x[index:].mean()), t=float(t[best]),
                critical=critical)
