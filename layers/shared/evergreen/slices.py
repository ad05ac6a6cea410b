"""Slices and fairness: how the challenger and the champion do on groups of the test rows (numpy only).

A model can gain on average while it loses badly on one group. The spec names the columns to slice
by (spec.promotion.slices) and the sensitive ones (spec.promotion.sensitive); both must be feature
columns, since the splits hold those alone.
  - a categorical column: one slice per value, "(missing)" for empty cells;
  - a numeric column: spec.promotion.slice_buckets buckets between quantiles of the *training* split
    (so the edges do not move with the models judged), stated in the result as intervals
    "[low, high)", the last one closed; missing values are a slice of their own.
Each slice is scored with the run's primary metric for both models, on the same rows. A slice
where the metric is not defined (roc_auc with one class present) has no score.

Fairness, for binary classifiers (the positive class is the second of the schema's classes, the one
the decision threshold answers): per group of a sensitive column, the share of rows answered
positive (selection rate) and the share of positive rows answered positive (true positive rate);
  - demographic parity difference: the largest selection rate minus the smallest,
  - equal opportunity difference: the largest true positive rate minus the smallest,
over the groups with at least min_slice_rows rows (and, for the latter, at least one positive row),
as in Fairlearn's definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evergreen.contracts import ColumnSchema, FairnessReport, SliceScore
from evergreen.data import Frame
from evergreen.metrics import MetricError, score
from evergreen.onnx_model import Prediction

MISSING = "(missing)"


@dataclass(frozen=True)
class Slicing:
    """How one column cuts rows into slices: its name, the slice name of each row."""

    column: str
    edges: list[float] | None  # numeric columns: the bucket edges (from the training split)

    def names(self, frame: Frame) -> np.ndarray:
        values = frame.columns[self.column]
        if self.edges is None:
            return np.where(values == "", MISSING, values).astype(object)
        names = np.full(values.shape[0], MISSING, dtype=object)
        present = ~np.isnan(values)
        index = np.clip(np.searchsorted(self.edges, values[present], side="right") - 1, 0, len(self.edges) - 2)
        labels = np.array([bucket_name(self.edges, i) for i in range(len(self.edges) - 1)], dtype=object)
        names[present] = labels[index]
        return names

    def ordered(self, names: np.ndarray) -> list[str]:
        """The slices present in `names`: buckets low to high, categories sorted; "(missing)" last."""
        present = set(names.tolist())
        order = ([bucket_name(self.edges, i) for i in range(len(self.edges) - 1)] if self.edges is not None
                 else sorted(present - {MISSING}))
        return [n for n in order if n in present] + ([MISSING] if MISSING in present else [])


def bucket_name(edges: list[float], i: int) -> str:
    close = "]" if i == len(edges) - 2 else ")"
    return f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{close}"


def slicing(column: str, schema: ColumnSchema, train: Frame, buckets: int) -> Slicing:
    """The slicing of `column`: its values, or for a numeric one `buckets` quantile buckets of `train`
    (fewer when quantiles coincide). ValueError for a column that is not a feature."""
    if column in schema.categorical:
        return Slicing(column, None)
    if column not in schema.numeric:
        raise ValueError(f"slice column {column!r} is not a feature column of the model "
                         f"(numeric {schema.numeric}, categorical {schema.categorical})")
    values = train.columns[column]
    values = values[~np.isnan(values)].astype(np.float64)
    if values.size == 0:
        return Slicing(column, [float("-inf"), float("inf")])
    edges = np.unique(np.quantile(values, np.linspace(0, 1, buckets + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    edges[0], edges[-1] = -np.inf, np.inf  # every test value falls in a bucket
    return Slicing(column, [float(e) for e in edges])


def _score(metric: str, y: np.ndarray, said: Prediction, rows: np.ndarray, classes: list[str] | None) -> float | None:
    proba = None if said.probabilities is None else said.probabilities[rows]
    try:
        return float(score(metric, y[rows], said.labels[rows], proba, classes))
    except MetricError:
        return None


def slice_scores(slicings: list[Slicing], test: Frame, metric: str, challenger: Prediction,
                 champion: Prediction | None, classes: list[str] | None) -> list[SliceScore]:
    """Every slice of every column: its rows and both models' metric on them."""
    out = []
    for cut in slicings:
        names = cut.names(test)
        for name in cut.ordered(names):
            rows = np.flatnonzero(names == name)
            out.append(SliceScore(
                column=cut.column, slice=name, rows=int(rows.size),
                challenger=_score(metric, test.target, challenger, rows, classes),
                champion=None if champion is None else _score(metric, test.target, champion, rows, classes)))
    return out


def fairness(slicings: list[Slicing], test: Frame, said: Prediction, classes: list[str],
             min_rows: int) -> list[FairnessReport]:
    """Selection rate and true positive rate per group of each sensitive column, and the two
    differences (see module doc), for a binary classifier's answers `said`."""
    positive_class = str(classes[1])
    answered = said.labels.astype(str) == positive_class
    actual = test.target.astype(str) == positive_class
    reports = []
    for cut in slicings:
        names = cut.names(test)
        groups = {}
        for name in cut.ordered(names):
            rows = names == name
            positives = rows & actual
            groups[name] = {"rows": int(rows.sum()), "positives": int(positives.sum()),
                            "selection_rate": float(answered[rows].mean()),
                            "true_positive_rate": float(answered[positives].mean()) if positives.any() else None}
        counted = [g for g in groups.values() if g["rows"] >= min_rows]
        rates = [g["selection_rate"] for g in counted]
        tprs = [g["true_positive_rate"] for g in counted if g["true_positive_rate"] is not None]
        reports.append(FairnessReport(
            column=cut.column, positive_class=positive_class, groups=groups, min_rows=min_rows,
            demographic_parity_difference=max(rates) - min(rates) if len(rates) >= 2 else None,
            equal_opportunity_difference=max(tprs) - min(tprs) if len(tprs) >= 2 else None))
    return reports
