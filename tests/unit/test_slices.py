"""evergreen.slices (slices of the test rows, fairness per group) and the gates in evergreen.evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from evergreen.contracts import ColumnSchema, SliceScore
from evergreen.data import Frame
from evergreen.gates import fairness_breaches, slice_regressions
from evergreen.onnx_model import Prediction
from evergreen.slices import fairness, slice_scores, slicing

SCHEMA = ColumnSchema(numeric=["age"], categorical=["group"], target="y", problem_type="classification",
                      classes=["no", "yes"])


def frame(age, group, y) -> Frame:
    return Frame(columns={"age": np.asarray(age, dtype=np.float32), "group": np.asarray(group, dtype=object)},
                 target=np.asarray(y, dtype=object))


def said(labels) -> Prediction:
    return Prediction(np.asarray(labels, dtype=object))


def test_numeric_buckets_come_from_the_training_quantiles_and_cover_every_value():
    train = frame(np.arange(100), ["a"] * 100, ["no"] * 100)
    cut = slicing("age", SCHEMA, train, 4)
    assert cut.edges == [float("-inf"), 24.75, 49.5, 74.25, float("inf")]
    test = frame([-5, 10, 30, 60, 1000, np.nan], ["a"] * 6, ["no"] * 6)
    assert cut.names(test).tolist() == ["[-inf, 24.75)", "[-inf, 24.75)", "[24.75, 49.5)", "[49.5, 74.25)",
                                        "[74.25, inf]", "(missing)"]
    # a column of one value is one bucket; a constant column never crashes the edges
    assert slicing("age", SCHEMA, frame([3.0] * 10, ["a"] * 10, ["no"] * 10), 4).edges == [float("-inf"), float("inf")]
    with pytest.raises(ValueError, match="'city' is not a feature column"):
        slicing("city", SCHEMA, train, 4)


def test_each_slice_is_scored_for_both_models_on_its_own_rows():
    test = frame([1, 2, 3, 4, 5, 6], ["a", "a", "a", "b", "b", ""], ["yes", "no", "yes", "no", "no", "yes"])
    cut = slicing("group", SCHEMA, test, 4)
    scores = slice_scores([cut], test, "accuracy", said(["yes", "no", "no", "yes", "yes", "yes"]),
                          said(["yes", "no", "yes", "no", "no", "no"]), SCHEMA.classes)
    assert [(s.slice, s.rows, s.challenger, s.champion) for s in scores] == [
        ("a", 3, pytest.approx(2 / 3), 1.0), ("b", 2, 0.0, 1.0), ("(missing)", 1, 1.0, 0.0)]
    assert all(s.champion is None for s in slice_scores([cut], test, "accuracy", said(test.target), None,
                                                        SCHEMA.classes))


def test_the_slice_gate_names_each_large_slice_that_regresses_beyond_the_tolerance():
    slices = [SliceScore(column="group", slice="a", rows=100, challenger=0.70, champion=0.80),
              SliceScore(column="group", slice="b", rows=100, challenger=0.78, champion=0.80),  # within 0.05
              SliceScore(column="group", slice="c", rows=10, challenger=0.10, champion=0.90),  # too few rows
              SliceScore(column="group", slice="d", rows=100, challenger=None, champion=0.90)]  # undefined
    [block] = slice_regressions(slices, "accuracy", True, 30, 0.05)
    assert block == ("slice group=a (100 test rows): challenger accuracy 0.7000 vs champion 0.8000, -0.1000, "
                     "beyond the tolerance 0.05")
    # lower is better: an rmse that grows is the regression
    rmse = [SliceScore(column="group", slice="a", rows=100, challenger=2.0, champion=1.0)]
    assert slice_regressions(rmse, "rmse", False, 30, 0.5) and not slice_regressions(rmse, "rmse", False, 30, 1.5)


def test_fairness_differences_count_the_groups_with_enough_rows():
    group = ["a"] * 40 + ["b"] * 40 + ["c"] * 5
    y = (["yes"] * 20 + ["no"] * 20) * 2 + ["yes"] * 5
    answered = (["yes"] * 20 + ["no"] * 20) + (["yes"] * 10 + ["no"] * 30) + ["no"] * 5
    test = frame(np.zeros(85), group, y)
    [report] = fairness([slicing("group", SCHEMA, test, 4)], test, said(answered), SCHEMA.classes, min_rows=30)
    assert report.groups["a"] == {"rows": 40, "positives": 20, "selection_rate": 0.5, "true_positive_rate": 1.0}
    assert report.groups["b"]["selection_rate"] == 0.25 and report.groups["b"]["true_positive_rate"] == 0.5
    assert report.groups["c"]["true_positive_rate"] == 0.0  # shown, not counted: 5 rows
    assert report.demographic_parity_difference == 0.25 and report.equal_opportunity_difference == 0.5
    assert fairness_breaches([report], None, None) == []
    [block] = fairness_breaches([report], 0.3, 0.4)
    assert block == ("equal opportunity difference on group is 0.5000, above the maximum 0.4 "
                     "(true_positive_rate: a 1.000, b 0.500)")
