"""I/O shared by several steps: dataset splits and fitted pipelines in the artifacts bucket."""

from __future__ import annotations

import io
from typing import Any

from evergreen import data, splits
from evergreen.contracts import DatasetRef
from evergreen.storage import Stores


def load_split(stores: Stores, dataset: DatasetRef, split: str) -> data.Frame:
    key = {"train": dataset.train_key, "validation": dataset.validation_key, "test": dataset.test_key}[split]
    return splits.read_split(stores.get_bytes(dataset.bucket, key), dataset.columns, source=key)


def dump_pipeline(pipeline: Any) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(pipeline, buf, compress=3)
    return buf.getvalue()


def load_pipeline(stores: Stores, key: str) -> Any:
    """Only ever loads pipelines our own train step wrote to the artifacts bucket (never user uploads)."""
    import joblib

    if not key.startswith("runs/"):
        raise ValueError(f"refusing to unpickle {key!r}: only train outputs under runs/ are loaded")
    return joblib.load(io.BytesIO(stores.get_bytes(stores.artifacts_bucket, key)))
