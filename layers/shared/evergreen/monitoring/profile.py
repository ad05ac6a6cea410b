"""The training profile: a JSON-safe summary of every feature and the target, kept beside each
dataset as the drift baseline and the source of a data contract's vocabularies. Pure (numpy only)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from evergreen.contracts import ColumnSchema
from evergreen.data import Frame
from evergreen.features import ranked_categories

OTHER = "__other__"
QUANTILES = tuple(i / 10 for i in range(11))



def bin_counts(values: np.ndarray, edges: Sequence[float]) -> list[int]:
    """Counts of non-NaN `values` in the bins between consecutive `edges` (as np.histogram: the last
    bin is closed). Values outside the edges count in the first or last bin, so live data can be
    compared with a profile's histogram directly. One edge (a constant column) -> one bin."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    edges = np.asarray(edges, dtype=np.float64)
    if edges.size < 2:
        return [int(values.size)]
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return [int(c) for c in counts]


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    """count, missing, mean, std, min, max, deciles and a histogram over the distinct deciles."""
    values = np.asarray(values)
    present = values[~np.isnan(values)].astype(np.float64)
    summary: dict[str, Any] = {"count": int(present.size), "missing": int(values.size - present.size)}
    if present.size == 0:
        summary.update(mean=None, std=None, min=None, max=None, quantiles=None, histogram=None)
        return summary
    quantiles = [float(q) for q in np.quantile(present, QUANTILES)]
    edges = [float(e) for e in np.unique(quantiles)]
    summary.update(
        mean=float(present.mean()),
        std=float(present.std()),
        min=float(present.min()),
        max=float(present.max()),
        quantiles=quantiles,
        histogram={"edges": edges, "counts": bin_counts(present, edges)},
    )
    return summary


def categorical_summary(values: np.ndarray, top: int) -> dict[str, Any]:
    """count, missing, distinct and the frequencies of the `top` commonest values (the vocabulary a
    model one-hot encodes: ``features.vocabulary``), the rest under OTHER."""
    counts = Counter(v for v in values.tolist() if v != "")
    ranked = ranked_categories(counts)
    frequencies = {value: int(count) for value, count in ranked[:top]}
    rest = sum(count for _, count in ranked[top:])
    if rest:
        frequencies[OTHER] = int(rest)
    present = sum(counts.values())
    return {"count": int(present), "missing": int(len(values) - present), "distinct": len(counts), "frequencies": frequencies}


def profile(frame: Frame, schema: ColumnSchema, top: int) -> dict[str, Any]:
    """JSON-safe summary of every feature and the target, kept as the drift baseline; categorical
    frequencies name the `top` commonest values."""
    if schema.problem_type == "classification":
        counts = Counter(frame.target.tolist())
        target = {"counts": {c: int(counts.get(c, 0)) for c in schema.classes or []}}
    else:
        target = numeric_summary(frame.target)
    return {
        "rows": frame.n_rows,
        "numeric": {name: numeric_summary(frame.columns[name]) for name in schema.numeric},
        "categorical": {name: categorical_summary(frame.columns[name], top) for name in schema.categorical},
        "target": target,
    }


