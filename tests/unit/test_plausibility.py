"""evergreen.serving.plausibility without AWS: the flags, the checks built from a contract document,
and the contract's ranges as promote records them from the ingest profile."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen.table import Table
from evergreen import data, features  # noqa: E402
from evergreen.contracts import ColumnSchema  # noqa: E402
from evergreen.data_contract import DataContract  # noqa: E402
from evergreen.monitoring.profile import profile  # noqa: E402
from evergreen.serving import predict  # noqa: E402
from evergreen.serving.feeds import build_feeds  # noqa: E402
from evergreen.serving.plausibility import ContractUnusable, Plausibility, from_contract, number  # noqa: E402
from evergreen.steps import promote  # noqa: E402

NUMERIC = ("age", "income")
CATEGORICAL = ("plan", "region")
CONTRACT = {
    "ranges": {"age": [18, 80], "income": [1000.5, 200000]},
    "vocabulary": {"plan": ["basic", "plus", "pro"], "region": ["north", "south", "east"]},
    "open_vocabulary": [],
    "target_range": [10, 50],
}


def checks(problem_type: str = "classification", **changes: Any) -> Plausibility:
    return from_contract({**CONTRACT, **changes}, NUMERIC, CATEGORICAL, problem_type)


def flags_of(records: list[dict[str, Any]], plausibility: Plausibility | None = None,
             predictions: list[float] | None = None) -> list[list[str]] | None:
    """The flags of records, fed exactly as serving feeds them."""
    feeds = build_feeds(records, NUMERIC, CATEGORICAL)
    labels = np.array(predictions if predictions is not None else ["gold"] * len(records),
                      dtype=np.float32 if predictions is not None else object)
    return (plausibility or checks()).flags(feeds.numeric, feeds.categorical, labels)


BASE = {"age": 42, "income": 58000.5, "plan": "pro", "region": "north"}


# ------------------------------------------------------------------------------------------- built once
def test_the_checks_are_precomputed_as_float32_vectors_and_sets():
    c = checks()
    assert c.low.dtype == c.high.dtype == np.float32
    assert c.low.tolist() == [18, 1000.5] and c.high.tolist() == [80, 200000]
    assert [(j, sorted(seen)) for j, seen in c.vocabularies] == [
        (0, ["", "basic", "plus", "pro"]), (1, ["", "east", "north", "south"])]
    assert c.target is None  # a classifier's output is not range-checked
    assert checks("regression").target == pytest.approx((6.0, 54.0))  # widened by 10% of the span
    assert (c.width, c.missing_limit) == (4, 2.0)


def test_columns_without_a_recorded_range_or_vocabulary_are_not_checked():
    c = checks(ranges={"age": [18, 80], "dropped_column": [0, 1]}, vocabulary={"plan": ["pro"]},
               open_vocabulary=["plan"])
    assert c.low.tolist() == [18, -np.inf] and c.high.tolist() == [80, np.inf]
    assert c.vocabularies == ()  # plan is open, region has no vocabulary recorded
    assert flags_of([with_(income=1e30, plan="gold", region="west")], c) is None


def test_a_contract_recorded_before_ranges_still_checks_vocabularies_and_missing_inputs():
    old = {"version": 1, "columns": {}, "vocabulary": CONTRACT["vocabulary"], "open_vocabulary": [],
           "response": {}, "changes": [], "recorded": {}}
    c = from_contract(old, NUMERIC, CATEGORICAL, "regression")
    assert c.target is None and np.isinf(c.low).all() and np.isinf(c.high).all()
    assert flags_of([with_(age=500, plan="gold")], c, predictions=[1e6]) == [["plan 'gold' was not seen in training"]]
    assert flags_of([{"age": 500}], c, predictions=[1e6]) == [["3 of 4 features are missing (income, plan, region)"]]


@pytest.mark.parametrize(("document", "expected"), [
    ([], "the contract is not a JSON object (got list)"),
    ({"ranges": [[0, 1]]}, "the contract's 'ranges' is not an object"),
    ({"ranges": {"age": [80, 18]}}, "ranges.age is not [min, max]"),
    ({"ranges": {"age": [18]}}, "ranges.age is not [min, max]"),
    ({"ranges": {"age": ["18", 80]}}, "ranges.age is not [min, max]"),
    ({"ranges": {"age": [True, 80]}}, "ranges.age is not [min, max]"),
    ({"vocabulary": {"plan": "pro"}}, "vocabulary.plan is not a list of strings"),
    ({"vocabulary": {"plan": [1, 2]}}, "vocabulary.plan is not a list of strings"),
    ({"open_vocabulary": "plan"}, "'open_vocabulary' is not a list"),
    ({"target_range": [50, "x"]}, "target_range is not [min, max]"),
])
def test_a_document_that_is_not_a_contract_is_refused_with_the_reason(document, expected):
    with pytest.raises(ContractUnusable) as info:
        from_contract(document, NUMERIC, CATEGORICAL, "regression")
    assert expected in str(info.value)


# ------------------------------------------------------------------------------------------- flags
def with_(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


def test_a_plausible_batch_has_no_flags_at_all():
    records = [BASE, with_(age=18), with_(age=80, income="200000"), with_(age=None), with_(plan=" pro ", region="NA")]
    assert flags_of(records) is None  # bounds are inside; one or two missing features of four are not "many"


@pytest.mark.parametrize(("record", "expected"), [
    (with_(age=130), "age 130 is above the training range [18, 80]"),
    (with_(age="17.5"), "age 17.5 is below the training range [18, 80]"),
    (with_(income=-1), "income -1 is below the training range [1000.5, 200000]"),
    (with_(income=1e12), "income 1000000000000 is above the training range [1000.5, 200000]"),
    (with_(plan="gold"), "plan 'gold' was not seen in training"),
    (with_(plan="Pro"), "plan 'Pro' was not seen in training"),  # the vocabulary is case-sensitive, as training
    (with_(region=3), "region '3' was not seen in training"),  # coerced as training coerces it
    (with_(plan="x" * 1024), "plan 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... was not seen in training"),
    ({"age": 40}, "3 of 4 features are missing (income, plan, region)"),
    ({"age": None, "plan": "pro", "income": "NA"}, "3 of 4 features are missing (age, income, region)"),
])
def test_each_check_flags_with_a_short_sentence(record, expected):
    assert flags_of([record]) == [[expected]]


def test_several_flags_of_a_record_come_in_column_order_and_only_flagged_records_have_any():
    records = [BASE, with_(region="west", age=5, plan="gold"), BASE, with_(income=1e7)]
    assert flags_of(records) == [
        [],
        ["age 5 is below the training range [18, 80]", "plan 'gold' was not seen in training",
         "region 'west' was not seen in training"],
        [],
        ["income 10000000 is above the training range [1000.5, 200000]"],
    ]


def test_an_open_vocabulary_is_never_flagged():
    assert flags_of([with_(region="west")], checks(open_vocabulary=["region"])) is None
    assert flags_of([with_(region="west")]) == [["region 'west' was not seen in training"]]


def test_many_missing_names_at_most_three_features():
    names = [f"n{i}" for i in range(6)]
    c = from_contract({}, names, ("plan", "region"), "classification")
    feeds = build_feeds([{"n0": 1, "n1": 2, "plan": "x"}], names, ("plan", "region"))
    assert c.flags(feeds.numeric, feeds.categorical, np.array(["a"])) == [
        ["5 of 8 features are missing (n2, n3, n4, ...)"]]


def test_missing_values_spread_over_a_batch_flag_no_record():
    records = [{"age": 20 + i, "income": 2000, "plan": "pro"} for i in range(40)]  # one of four missing each
    assert flags_of([with_(age=20 + i % 50, region=None) for i in range(100)] + records) is None


def test_a_regression_prediction_far_outside_the_training_target_is_flagged():
    c = checks("regression")
    assert flags_of([BASE] * 4, c, predictions=[6.0, 54.0, 10.0, 30.0]) is None  # the widened bounds are inside
    assert flags_of([BASE, BASE, BASE], c, predictions=[912.4, 5.9, float("nan")]) == [
        ["prediction 912.4 is outside the plausible range [6, 54]"],
        ["prediction 5.9 is outside the plausible range [6, 54]"],
        ["prediction nan is outside the plausible range [6, 54]"],
    ]
    both = flags_of([with_(age=500)], c, predictions=[600.0])
    assert both == [["age 500 is above the training range [18, 80]",
                     "prediction 600 is outside the plausible range [6, 54]"]]


def test_a_constant_training_target_leaves_room_for_float32_rounding():
    c = checks("regression", target_range=[12.3, 12.3])
    assert flags_of([BASE], c, predictions=[np.float32(12.3)]) is None
    (flag,), = flags_of([BASE], c, predictions=[12.4])
    assert flag == "prediction 12.4 is outside the plausible range [12.299988, 12.300013]"


def test_numbers_read_as_the_response_writes_them():
    assert [number(v) for v in (130, 17.5, np.float32(0.1), 1e12, 1e17, 1e-5, -0.0, 58000.5, 18.018642425537)] == [
        "130", "17.5", "0.1", "1000000000000", "1e+17", "1e-05", "-0", "58000.5", "18.018642"]


# ------------------------------------------------------------------------------------------- response and log
class _Champion:
    model_name, version, problem_type, regression_tolerance, classes = "demo", 3, "classification", None, ("a", "b")


def test_flags_are_in_the_response_entry_and_the_log_item_only_when_there_are_some():
    proba = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    preds, items = predict.format_predictions(_Champion(), np.array(["a", "b"]), proba, [{"age": 1}, {"age": 2}],
                                              datetime.now(UTC), [[], ["age 500 is above the training range [18, 80]"]])
    assert "flags" not in preds[0] and "flags" not in items[0]
    assert preds[1]["flags"] == items[1]["flags"] == ["age 500 is above the training range [18, 80]"]
    unchecked, _ = predict.format_predictions(_Champion(), np.array(["a"]), proba[:1], [{"age": 1}], datetime.now(UTC))
    assert set(unchecked[0]) == {"prediction_id", "prediction", "probabilities"}


# ------------------------------------------------------------------------------------------- the contract
SCHEMA = ColumnSchema(numeric=["age", "income"], categorical=["plan"], target="spend", problem_type="regression")


def recorded_contract(schema: ColumnSchema, header: list[str], rows: list[list[str]]) -> dict[str, Any]:
    """promote.data_contract over a profile written as ingest writes it (profile of the training rows)."""
    frame = data.build_frame(Table.from_rows(header, rows), schema).frame
    profile_json = json.loads(json.dumps({
        "profile": profile(frame, schema, 20),
        "vocabulary": {c: features.vocabulary(frame.columns[c].tolist(), 20) for c in schema.categorical},
        "open_vocabulary": [],
    }))
    stores = SimpleNamespace(get_json=lambda bucket, key: profile_json)
    run = SimpleNamespace(run_id="r1", contract=SimpleNamespace(version=1, changes=[]),
                          dataset=SimpleNamespace(bucket="b", profile_key="p", version="ds-1", columns=schema))
    return promote.data_contract(stores, SimpleNamespace(run=run), 1).model_dump(mode="json")


def test_promote_records_the_training_ranges_and_target_range_from_the_profile():
    header = ["age", "income", "plan", "spend"]
    rows = [["18.5", "1000", "pro", "10"], ["80", "", "basic", "55.5"], ["40", "2500.25", "", "20"]]
    doc = recorded_contract(SCHEMA, header, rows)
    assert doc["ranges"] == {"age": [18.5, 80.0], "income": [1000.0, 2500.25]}
    assert doc["target_range"] == [10.0, 55.5]
    c = from_contract(doc, SCHEMA.numeric, SCHEMA.categorical, "regression")
    feeds = build_feeds([{"age": 90, "income": 1000, "plan": "plus"}], SCHEMA.numeric, SCHEMA.categorical)
    assert c.flags(feeds.numeric, feeds.categorical, np.array([100.0], dtype=np.float32)) == [[
        "age 90 is above the training range [18.5, 80]", "plan 'plus' was not seen in training",
        "prediction 100 is outside the plausible range [5.45, 60.05]"]]


def test_promote_keeps_no_range_for_an_empty_column_nor_a_target_range_for_a_classifier():
    schema = SCHEMA.model_copy(update={"problem_type": "classification", "classes": ["a", "b"]})
    doc = recorded_contract(schema, ["age", "income", "plan", "spend"], [["20", "", "pro", "a"], ["30", "", "x", "b"]])
    assert doc["ranges"] == {"age": [20.0, 30.0]} and doc["target_range"] is None


def test_a_contract_recorded_before_ranges_still_loads():
    old = {"version": 1, "columns": SCHEMA.model_dump(), "vocabulary": {"plan": ["pro"]}, "open_vocabulary": [],
           "response": {"prediction": "number"}, "changes": [], "recorded": {"run_id": "r0"}}
    contract = DataContract.model_validate(old)
    assert contract.ranges == {} and contract.target_range is None
