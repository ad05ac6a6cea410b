"""evergreen.splits: the binary columnar split format and the dataset version."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from evergreen.contracts import ColumnSchema
from evergreen.data import Frame
from evergreen.errors import DataError
from evergreen.splits import PARTS, arrays_of, dataset_version, read_split, to_bytes


def regression_frame() -> tuple[Frame, ColumnSchema]:
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**32, size=4000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32).copy()
    x[~np.isfinite(x)] = np.nan
    special = np.array([0.1, -0.0, 1e-45, 3.4028235e38, -1.1754944e-38, 16777217, 1 / 3, np.nan], dtype=np.float32)
    x[: special.size] = special
    n = x.size
    cats = np.array([["a,b", 'quote "q"', "ümlaut", "", "line\nbreak", "😀"][i % 6] for i in range(n)], dtype=object)
    frame = Frame(columns={"x": x, "x2": rng.normal(size=n).astype(np.float32), "c": cats},
                  target=rng.normal(size=n) * 1e5)
    schema = ColumnSchema(numeric=["x", "x2"], categorical=["c"], target="y", problem_type="regression")
    return frame, schema


def classification_frame() -> tuple[Frame, ColumnSchema]:
    target = np.array(["yes", "no, really", "yes", "yes", "no, really"], dtype=object)
    frame = Frame(columns={"i": np.arange(5, dtype=np.float32)}, target=target)
    schema = ColumnSchema(numeric=["i"], categorical=[], target="y", problem_type="classification",
                          classes=["no, really", "yes"])
    return frame, schema


def round_trip(frame: Frame, schema: ColumnSchema) -> Frame:
    return read_split(to_bytes(arrays_of(frame, schema)), schema, source="datasets/m/ds/train.npz")


def test_round_trip_is_bit_exact():
    frame, schema = regression_frame()
    back = round_trip(frame, schema)
    for name in schema.numeric:
        assert back.columns[name].dtype == np.float32
        np.testing.assert_array_equal(back.columns[name].view(np.uint32), frame.columns[name].view(np.uint32))
    assert back.columns["c"].dtype == object and back.columns["c"].tolist() == frame.columns["c"].tolist()
    assert back.target.dtype == np.float64
    np.testing.assert_array_equal(back.target, frame.target)


def test_classification_round_trip_and_schema_check():
    frame, schema = classification_frame()
    assert round_trip(frame, schema).target.tolist() == frame.target.tolist()
    raw = to_bytes(arrays_of(frame, schema))
    with pytest.raises(DataError, match="do not match the schema"):
        read_split(raw, schema.model_copy(update={"numeric": ["i", "j"]}), source="t.npz")
    with pytest.raises(DataError, match="not a dataset split"):
        read_split(b"not numpy", schema, source="t.npz")


def test_no_pickles_are_written_or_read():
    frame, schema = regression_frame()
    arrays = arrays_of(frame, schema)
    assert all(a.dtype != object for a in arrays.values())
    pickled = io.BytesIO()
    np.savez(pickled, numeric_0=np.array([{"a": 1}], dtype=object), target=np.zeros(1), allow_pickle=True)
    with pytest.raises(DataError, match="not a dataset split"):
        read_split(pickled.getvalue(), ColumnSchema(numeric=["x"], categorical=[], target="y",
                                                    problem_type="regression"), source="t.npz")


def test_dataset_version_hashes_every_split():
    frame, schema = regression_frame()
    parts = {part: arrays_of(frame, schema) for part in PARTS}
    version = dataset_version(schema, parts)
    assert version.startswith("ds-") and len(version) == 19
    assert version == dataset_version(schema, {part: arrays_of(round_trip(frame, schema), schema) for part in PARTS})
    changed = Frame(columns={**frame.columns, "x2": frame.columns["x2"] + np.float32(1)}, target=frame.target)
    assert dataset_version(schema, {**parts, "test": arrays_of(changed, schema)}) != version
    swapped = {"train": parts["train"], "validation": parts["test"], "test": arrays_of(changed, schema)}
    assert dataset_version(schema, swapped) != version


def test_a_csv_split_of_an_earlier_version_still_reads():
    """Champions registered before the binary format name a test.csv; the reference gate reads it."""
    frame, schema = regression_frame()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*schema.numeric, *schema.categorical, schema.target])
    writer.writerows(zip(*([str(np.float32(v)) if not np.isnan(v) else "" for v in frame.columns[n].tolist()]
                            for n in schema.numeric), frame.columns["c"].tolist(), map(repr, frame.target.tolist())))
    back = read_split(out.getvalue().encode(), schema, source="datasets/m/ds/test.csv")
    np.testing.assert_array_equal(back.columns["x"].view(np.uint32)[~np.isnan(frame.columns["x"])],
                                  frame.columns["x"].view(np.uint32)[~np.isnan(frame.columns["x"])])
    assert back.columns["c"].tolist() == frame.columns["c"].tolist()
