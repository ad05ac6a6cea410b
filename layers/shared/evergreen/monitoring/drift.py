"""Drift without labels: how far what a champion serves has moved from what it was trained and tested on.

Pure: numpy, evergreen.features and evergreen.monitoring.profile only (the monitor Lambda has neither
scikit-learn nor scipy).

Baselines
  - The training profile (``monitoring.profile.profile`` of the train split, in the dataset's
    profile.json): per numeric feature a histogram over the training deciles, min, max and the missing
    count; per categorical feature the frequencies of its commonest values (the rest under "__other__")
    and the missing count.
  - The prediction profile (``prediction_profile``, computed by export on the test split with the exact
    ONNX model that is promoted, and kept on the registry record): the predicted classes' counts, or a
    histogram of the predicted values over their deciles; for classifiers also a confidence table.

Served inputs are coerced with ``evergreen.features`` exactly as training coerced its CSV cells; an
absent or invalid value is missing, as in training.

Population stability index (PSI), per feature, on the profile's own bins::

    PSI = sum_b (a_b - e_b) * ln(a_b / e_b)

with e_b, a_b the training and live shares of bin b, each smoothed with EPSILON = 1e-4:
p_b -> (p_b + EPSILON) / (1 + B * EPSILON). A bin empty on one side then adds a finite term (a category
at 1% live that training never saw adds about 0.046; no share is weighed more than ln(1e4) = 9.2).
PSI is the symmetric Kullback-Leibler divergence: sum_b rel_entr(a_b, e_b) + rel_entr(e_b, a_b).
  - numeric: the training histogram's bins (the distinct deciles). Live values below the first or above
    the last edge count in the end bins (``profile.bin_counts``); how many lie outside the training range
    is measured apart (out-of-range rate, below). A constant training column has one bin: PSI 0.
  - categorical: one bucket per value the profile names, plus one for everything else (the values
    training kept under "__other__" and values it never saw).
  - missing values are not binned: the missing rate is measured apart (below).
How to read it (the convention from credit scoring, where PSI comes from): below MODERATE (0.1) the
feature is stable, 0.1 to 0.2 a moderate shift, above SIGNIFICANT (0.2, the default
``monitoring.drift_threshold``) a significant shift. A feature has drifted when its PSI is above the
model's drift_threshold; the share of drifted features is what the drift alarm watches.

Why PSI and not a test's p-value: a p-value (Kolmogorov-Smirnov, chi-square) says how sure we are that
the distributions differ at all. With thousands of predictions per window every tiny, harmless
difference becomes "significant" and every window would alarm. PSI is an effect size: it grows with
how far the distribution moved, not with the sample size. Its noise under no drift is about
chi-square(B - 1) / n_live for B bins (plus the training sample's own, (B - 1) / n_train, on average):
for 10 bins and 200 live predictions (the default ``monitoring.min_predictions``) a mean of 0.045 and
a 99th percentile of 0.11, so a stationary feature is almost never above 0.2; below 200 predictions
the noise reaches the thresholds, which is why drift is not published then.

Training-serving skew, per feature (and aggregated per model):
  - missing rate live vs training (model: the largest increase over the features, at least 0);
  - unseen-category rate: present values outside the profile's named values, only for a categorical
    feature whose profile names every value it saw (no "__other__"); model: over all such cells;
  - out-of-range rate: present numeric values below the training min or above the max; model: over all
    present numeric cells.

Prediction drift: the PSI of the predicted classes (one bucket per class, plus one for anything else)
or of the predicted values (on the test predictions' deciles) against the prediction profile.

Estimated quality (classifiers, no labels needed; confidence-based performance estimation, CBPE-like):
export bins the test split's max-probability into CONFIDENCE_BINS equal bins and records each bin's
observed accuracy and count. A window's estimate is the mean, over its predictions, of the accuracy
of each one's bin: what the champion scored on test predictions as confident as these. It assumes
P(correct | confidence) is unchanged (covariate shift, not concept change: that needs labels). A bin
no test prediction fell in has no accuracy; a live prediction there counts as its own confidence.
Binning is done in float32 on both sides: the log keeps each probability as the shortest text of its
float32, which casts back to the same float32 export binned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evergreen import features
from evergreen.monitoring.profile import OTHER, bin_counts, numeric_summary

EPSILON = 1e-4  # added to every bin's share before the PSI (then renormalized)
MODERATE = 0.1  # PSI: a moderate shift
SIGNIFICANT = 0.2  # PSI: a significant shift (the default monitoring.drift_threshold)
CONFIDENCE_BINS = 10
CONFIDENCE_EDGES = tuple(i / CONFIDENCE_BINS for i in range(CONFIDENCE_BINS + 1))


# ------------------------------------------------------------------------------------------- PSI
def shares(counts: Sequence[float], epsilon: float = EPSILON) -> np.ndarray:
    """Counts -> smoothed shares: (p + epsilon) / (1 + B * epsilon), which still sum to 1."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if counts.size == 0 or total <= 0:
        raise ValueError("shares of an empty histogram")
    return (counts / total + epsilon) / (1 + epsilon * counts.size)


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    """Population stability index of `actual` counts against `expected` counts on the same bins."""
    if len(expected) != len(actual):
        raise ValueError(f"PSI needs the same bins: {len(expected)} expected, {len(actual)} actual")
    e, a = shares(expected, epsilon), shares(actual, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def category_counts(values: Iterable[str], named: Sequence[str]) -> list[int]:
    """Counts of the present values ("" is missing) per named value, then one for everything else."""
    index = {value: i for i, value in enumerate(named)}
    counts = [0] * (len(named) + 1)
    for value in values:
        if value != "":
            counts[index.get(value, len(named))] += 1
    return counts


# ------------------------------------------------------------------------------------------- inputs
def served_columns(items: Sequence[Mapping[str, Any]], numeric: Sequence[str],
                   categorical: Sequence[str]) -> dict[str, np.ndarray]:
    """The features of prediction-log items as the model saw them: each column coerced with
    evergreen.features as training coerced it (absent or invalid -> missing: NaN / "")."""
    received = [item.get("features") or {} for item in items]
    columns: dict[str, np.ndarray] = {}
    for name in numeric:
        columns[name], _ = features.numeric_column([record.get(name) for record in received])
    for name in categorical:
        columns[name], _ = features.categorical_column([record.get(name) for record in received])
    return columns


@dataclass(frozen=True)
class FeatureDrift:
    """One feature of a window against its training profile."""

    name: str
    kind: str  # "numeric" | "categorical"
    rows: int  # live values, missing included
    present: int  # live values not missing
    psi: float | None  # None: nothing to compare (no live value, or none in training)
    drifted: bool  # psi above the threshold
    missing_rate: float
    training_missing_rate: float | None
    out_of_range: int | None = None  # numeric: present values outside [training min, max]
    unseen: int | None = None  # categorical with a closed vocabulary: present values training never saw

    @property
    def missing_rate_increase(self) -> float | None:
        return None if self.training_missing_rate is None else self.missing_rate - self.training_missing_rate

    @property
    def out_of_range_rate(self) -> float | None:
        return None if self.out_of_range is None or not self.present else self.out_of_range / self.present

    @property
    def unseen_rate(self) -> float | None:
        return None if self.unseen is None or not self.present else self.unseen / self.present

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "psi": self.psi, "drifted": self.drifted, "present": self.present,
                               "missing_rate": self.missing_rate, "training_missing_rate": self.training_missing_rate,
                               "missing_rate_increase": self.missing_rate_increase}
        if self.kind == "numeric":
            out["out_of_range_rate"] = self.out_of_range_rate
        else:
            out["unseen_category_rate"] = self.unseen_rate
        return out


def _training_missing_rate(summary: Mapping[str, Any]) -> float | None:
    total = int(summary.get("count") or 0) + int(summary.get("missing") or 0)
    return int(summary.get("missing") or 0) / total if total else None


def numeric_drift(name: str, summary: Mapping[str, Any], values: np.ndarray, threshold: float) -> FeatureDrift:
    """A numeric column (float, NaN missing) against its profile's numeric summary."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    histogram = summary.get("histogram")
    value = None
    if histogram and present.size and sum(histogram["counts"]) > 0:
        value = psi(histogram["counts"], bin_counts(present, histogram["edges"]))
    out_of_range = None
    if summary.get("min") is not None and summary.get("max") is not None:
        out_of_range = int(np.count_nonzero((present < summary["min"]) | (present > summary["max"])))
    return FeatureDrift(name=name, kind="numeric", rows=int(values.size), present=int(present.size), psi=value,
                        drifted=value is not None and value > threshold,
                        missing_rate=(values.size - present.size) / values.size if values.size else 0.0,
                        training_missing_rate=_training_missing_rate(summary), out_of_range=out_of_range)


def categorical_drift(name: str, summary: Mapping[str, Any], values: np.ndarray, threshold: float) -> FeatureDrift:
    """A categorical column (str, "" missing) against its profile's categorical summary."""
    frequencies: Mapping[str, int] = summary.get("frequencies") or {}
    named = [v for v in frequencies if v != OTHER]
    expected = [int(frequencies[v]) for v in named] + [int(frequencies.get(OTHER, 0))]
    actual = category_counts(values.tolist(), named)
    present = sum(actual)
    value = psi(expected, actual) if present and sum(expected) > 0 else None
    closed = bool(named) and OTHER not in frequencies  # the profile names every value training saw
    return FeatureDrift(name=name, kind="categorical", rows=int(len(values)), present=present, psi=value,
                        drifted=value is not None and value > threshold,
                        missing_rate=(len(values) - present) / len(values) if len(values) else 0.0,
                        training_missing_rate=_training_missing_rate(summary),
                        unseen=actual[-1] if closed else None)


@dataclass(frozen=True)
class InputDrift:
    """Every feature of a window, and the per-model aggregates the monitor publishes."""

    features: list[FeatureDrift]

    @property
    def judged(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.psi is not None]

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    @property
    def drifted_share(self) -> float | None:
        """DriftedFeatureShare: drifted features among those with a PSI."""
        judged = self.judged
        return sum(f.drifted for f in judged) / len(judged) if judged else None

    @property
    def missing_rate_increase(self) -> float | None:
        """MissingRateIncrease: the largest rise of a feature's missing rate over training (at least 0)."""
        rises = [f.missing_rate_increase for f in self.features if f.missing_rate_increase is not None]
        return max(0.0, max(rises)) if rises else None

    @property
    def unseen_category_rate(self) -> float | None:
        """UnseenCategoryRate: unseen values among the present cells of closed-vocabulary features."""
        closed = [f for f in self.features if f.unseen is not None]
        cells = sum(f.present for f in closed)
        return sum(f.unseen for f in closed) / cells if cells else None  # type: ignore[misc]

    @property
    def out_of_range_rate(self) -> float | None:
        """OutOfRangeRate: values outside the training range among all present numeric cells."""
        ranged = [f for f in self.features if f.out_of_range is not None]
        cells = sum(f.present for f in ranged)
        return sum(f.out_of_range for f in ranged) / cells if cells else None  # type: ignore[misc]


def input_drift(profile: Mapping[str, Any], columns: Mapping[str, np.ndarray], threshold: float) -> InputDrift:
    """Each served column against the training profile (``profile.profile``: its "numeric" and
    "categorical" summaries). Columns the profile does not describe are left out."""
    out: list[FeatureDrift] = []
    for name, summary in (profile.get("numeric") or {}).items():
        if name in columns:
            out.append(numeric_drift(name, summary, columns[name], threshold))
    for name, summary in (profile.get("categorical") or {}).items():
        if name in columns:
            out.append(categorical_drift(name, summary, columns[name], threshold))
    return InputDrift(out)


# ------------------------------------------------------------------------------------------- predictions
def confidence_bins(confidences: Sequence[float], edges: Sequence[float] = CONFIDENCE_EDGES) -> np.ndarray:
    """The bin of each confidence on `edges`, in float32 (the last bin is closed, as np.histogram)."""
    values = np.asarray(confidences, dtype=np.float32)
    edges32 = np.asarray(edges, dtype=np.float32)
    return np.clip(np.searchsorted(edges32, values, side="right") - 1, 0, edges32.size - 2)


def confidence_table(confidences: Sequence[float], correct: Sequence[bool]) -> dict[str, list[Any]]:
    """{"edges": 11 edges, "accuracy": per bin (None when empty), "counts": per bin} of test predictions."""
    bins = confidence_bins(confidences)
    counts = np.bincount(bins, minlength=CONFIDENCE_BINS)
    hits = np.bincount(bins, weights=np.asarray(correct, dtype=np.float64), minlength=CONFIDENCE_BINS)
    return {"edges": list(CONFIDENCE_EDGES),
            "accuracy": [float(h / c) if c else None for h, c in zip(hits, counts, strict=True)],
            "counts": [int(c) for c in counts]}


def prediction_profile(labels: np.ndarray, probabilities: np.ndarray | None, classes: Sequence[str] | None,
                       targets: np.ndarray) -> dict[str, Any]:
    """The baseline of a model's outputs on its test split (export; JSON-safe).

    Classification: {"rows", "classes": {class: predicted count}, "confidence": confidence_table}.
    Regression: {"rows", "edges", "counts"}: the predictions' histogram over their distinct deciles.
    """
    if classes is not None:
        labels = np.asarray(labels).astype(str)
        table = None
        if probabilities is not None:
            correct = labels == np.asarray(targets).astype(str)
            table = confidence_table(np.asarray(probabilities, dtype=np.float32).max(axis=1), correct)
        counts = {str(c): int(np.count_nonzero(labels == str(c))) for c in classes}
        return {"rows": int(labels.size), "classes": counts, "confidence": table}
    values = np.asarray(labels, dtype=np.float32).astype(np.float64)
    histogram = numeric_summary(values)["histogram"] or {"edges": [], "counts": []}
    return {"rows": int(values.size), "edges": histogram["edges"], "counts": histogram["counts"]}


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def prediction_drift(reference: Mapping[str, Any], predictions: Sequence[Any]) -> float | None:
    """PSI of served predictions against the prediction profile (None: nothing to compare)."""
    if reference.get("classes"):
        named = [str(c) for c in reference["classes"]]
        expected = [int(reference["classes"][c]) for c in reference["classes"]] + [0]
        actual = category_counts([str(p) for p in predictions], named)
    elif reference.get("edges"):
        # as float32, as the model produced them (the log keeps the shortest text of each float32)
        values = np.asarray([_number(p) for p in predictions], dtype=np.float32).astype(np.float64)
        expected, actual = list(reference["counts"]), bin_counts(values, reference["edges"])
    else:
        return None
    if sum(actual) == 0 or sum(expected) == 0:
        return None
    return psi(expected, actual)


def estimated_quality(table: Mapping[str, Any], confidences: Sequence[float]) -> float | None:
    """The expected accuracy of predictions with these max-probabilities: the mean of their bins'
    test accuracies (a bin without test predictions: the prediction's own confidence). None: no
    confidence to judge."""
    values = np.asarray([c for c in confidences if math.isfinite(c)], dtype=np.float32)
    if values.size == 0:
        return None
    accuracy = np.asarray([np.nan if a is None else float(a) for a in table["accuracy"]], dtype=np.float64)
    per_prediction = accuracy[confidence_bins(values, table["edges"])]
    per_prediction = np.where(np.isnan(per_prediction), values.astype(np.float64), per_prediction)
    return float(per_prediction.mean())


def max_probability(item: Mapping[str, Any]) -> float:
    """A logged classification's confidence: its largest class probability (NaN without probabilities)."""
    probabilities = item.get("probabilities") or {}
    values = [_number(p) for p in probabilities.values()]
    return max(values) if values else math.nan
