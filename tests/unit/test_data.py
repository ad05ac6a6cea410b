"""evergreen.data: cleaning a Table into a Frame, splitting, model inputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from evergreen.table import Table
from evergreen.contracts import ColumnSchema
from evergreen.data import (
    Frame,
    build_frame,
    model_inputs,
    model_matrix,
    sample_frame,
    split_frame,
)


# --- build_frame ------------------------------------------------------------------------------


def test_build_frame_types_drops_and_counts():
    header = ["x", "c", "y"]
    rows = [["1.5", " a ", "yes"], ["oops", "NA", "no"], ["", "b", ""], ["2", "", "?"], ["3", "a", "no"],
            ["4", "b", "unknown"]]
    schema = ColumnSchema(numeric=["x"], categorical=["c"], target="y", problem_type="classification", classes=["no", "yes"])
    cleaned = build_frame(Table.from_rows(header, rows), schema)
    frame, report = cleaned.frame, cleaned.report
    assert report == {"raw": 6, "rows": 3, "dropped": 3, "dropped_missing_target": 2, "dropped_invalid_target": 1,
                      "invalid_targets": {"unknown": 1}, "class_counts": {"no": 2, "yes": 1},
                      "invalid_cells": {"x": {"count": 1, "present": 3, "reason": "is not a number", "examples": ["oops"]}},
                      "empty_columns": []}
    assert cleaned.rejected == [(2, "missing target"), (3, "missing target"), (5, "not one of the classes: 'unknown'")]
    assert frame.columns["x"].dtype == np.float32
    np.testing.assert_array_equal(frame.columns["x"], np.array([1.5, np.nan, 3], dtype=np.float32))
    assert frame.columns["c"].tolist() == ["a", "", "a"]
    assert frame.target.tolist() == ["yes", "no", "no"] and frame.n_rows == 3


def test_build_frame_regression_target_is_float64():
    schema = ColumnSchema(numeric=["x"], categorical=[], target="y", problem_type="regression")
    cleaned = build_frame(Table.from_rows(["x", "y"], [["1", "2.5"], ["2", "inf"], ["3", "-1e3"]]), schema)
    frame, report = cleaned.frame, cleaned.report
    assert frame.target.dtype == np.float64 and frame.target.tolist() == [2.5, -1000.0]
    assert report["dropped_invalid_target"] == 1


# --- split_frame ------------------------------------------------------------------------------


def labelled_frame(counts: dict[str, int]) -> Frame:
    target = np.array([c for c, n in counts.items() for _ in range(n)], dtype=object)
    n = target.size
    return Frame(columns={"i": np.arange(n, dtype=np.float32)}, target=target)


def test_split_is_deterministic_disjoint_and_complete():
    frame = labelled_frame({"a": 70, "b": 25, "c": 5})
    first = split_frame(frame, 0.2, 0.2, 7, True)
    again = split_frame(frame, 0.2, 0.2, 7, True)
    other = split_frame(frame, 0.2, 0.2, 8, True)
    ids = [part.columns["i"].tolist() for part in first]
    assert ids == [part.columns["i"].tolist() for part in again]
    assert ids != [part.columns["i"].tolist() for part in other]
    joined = sorted(ids[0] + ids[1] + ids[2])
    assert joined == list(range(100))
    assert [len(x) for x in ids] == [60, 20, 20]


def test_split_is_stratified_and_rare_classes_stay_in_train():
    frame = labelled_frame({"a": 80, "b": 16, "c": 3, "d": 2})
    train, val, test = split_frame(frame, 0.2, 0.25, 0, True)
    for part in (train, val, test):
        assert {"a", "b", "c"} <= set(part.target.tolist())
    assert set(train.target.tolist()) == {"a", "b", "c", "d"}
    assert "d" not in val.target.tolist() and "d" not in test.target.tolist()
    assert sum(t == "a" for t in test.target) == 20 and sum(t == "a" for t in val.target) == 16


def test_regression_split_sizes():
    frame = Frame(columns={"i": np.arange(50, dtype=np.float32)}, target=np.arange(50, dtype=np.float64))
    train, val, test = split_frame(frame, 0.1, 0.3, 1, False)
    assert (train.n_rows, val.n_rows, test.n_rows) == (30, 5, 15)
    np.testing.assert_array_equal(np.sort(np.concatenate([train.target, val.target, test.target])), np.arange(50))


# --- serialization ----------------------------------------------------------------------------


# --- model inputs -----------------------------------------------------------------------------


SCHEMA = ColumnSchema(numeric=["a", "b"], categorical=["c"], target="y", problem_type="classification", classes=["n", "y"])


def test_model_inputs_from_frame_and_matrix_order():
    frame = Frame(columns={"a": np.array([1.5, np.nan], np.float32), "b": np.array([0.1, 2], np.float32),
                           "c": np.array(["x", ""], dtype=object)}, target=np.array(["y", "n"], dtype=object))
    inputs = model_inputs(frame, SCHEMA)
    assert set(inputs) == {"numeric", "categorical"}
    assert inputs["numeric"].dtype == np.float32 and inputs["numeric"].shape == (2, 2)
    assert inputs["categorical"].shape == (2, 1) and inputs["categorical"][1, 0] == ""
    matrix = model_matrix(frame, SCHEMA)
    assert matrix.dtype == object and matrix.shape == (2, 3)
    assert matrix[0, 1] == float(np.float32(0.1)) and np.isnan(matrix[1, 0]) and matrix[0, 2] == "x"
    only_numeric = SCHEMA.model_copy(update={"categorical": []})
    assert set(model_inputs(frame, only_numeric)) == {"numeric"}
    only_categorical = SCHEMA.model_copy(update={"numeric": []})
    assert set(model_inputs(frame, only_categorical)) == {"categorical"}


def test_data_and_metrics_do_not_import_sklearn_or_pandas():
    code = ("import sys, evergreen.data, evergreen.metrics, evergreen.synthetic; "
            "bad = [m for m in ('sklearn', 'pandas', 'scipy') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- sample_frame -----------------------------------------------------------------------------


def test_the_search_sample_keeps_class_shares_every_class_and_row_order():
    frame = labelled_frame({"a": 9000, "b": 990, "c": 10})
    sample = sample_frame(frame, 1000, seed=7, classification=True)
    counts = {c: int((sample.target == c).sum()) for c in "abc"}
    assert counts == {"a": 900, "b": 99, "c": 1}
    assert np.all(np.diff(sample.columns["i"]) > 0)  # rows keep their order
    again = sample_frame(frame, 1000, seed=7, classification=True)
    np.testing.assert_array_equal(again.columns["i"], sample.columns["i"])
    assert not np.array_equal(sample_frame(frame, 1000, seed=8, classification=True).columns["i"], sample.columns["i"])
    assert sample_frame(frame, 20000, seed=7, classification=True) is frame
    rare = sample_frame(labelled_frame({"a": 5000, "b": 2}), 1000, seed=7, classification=True)
    assert int((rare.target == "b").sum()) == 1  # a class rarer than one sample row still gets one


def test_a_regression_sample_is_uniform():
    n = 5000
    frame = Frame(columns={"i": np.arange(n, dtype=np.float32)}, target=np.arange(n, dtype=np.float64))
    sample = sample_frame(frame, 1000, seed=1, classification=False)
    assert sample.n_rows == 1000 and len(set(sample.columns["i"].tolist())) == 1000
    np.testing.assert_array_equal(sample.columns["i"].astype(np.float64), sample.target)
