"""evergreen.serving without AWS: requests, feeds (and their parity with training), outputs, labels, the model cache."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import math
import sys
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen import features, prediction_log  # noqa: E402
from evergreen.onnx_model import sha256_hex  # noqa: E402
from evergreen.serving import champion, feedback, feeds, predict, requests  # noqa: E402
from evergreen.serving.errors import ModelUnavailable, ServingError, shown, shown_repr  # noqa: E402

NUMERIC = ["age", "income"]
CATEGORICAL = ["plan", "region"]


def error_of(fn, *args, status: int = 400, **kwargs) -> str:
    with pytest.raises(ServingError) as info:
        fn(*args, **kwargs)
    assert info.value.status == status
    return str(info.value)


# ------------------------------------------------------------------------------------------- body
@pytest.mark.parametrize(("body", "expected"), [
    (None, "request body is empty"),
    ("  ", "request body is empty"),
    ('{"record": {', "request body is not valid JSON"),
    ('{"record": {"age": NaN}}', "NaN is not valid JSON"),
    ('{"record": {"age": -Infinity}}', "-Infinity is not valid JSON"),
    ("[1, 2]", "must be a JSON object, got a list"),
    ('"text"', "must be a JSON object, got a string"),
    ("[" * 100_000, "request body is nested too deeply to be parsed"),
    ('{"record": {"age": 1' + "0" * 5000 + "}}", "request body is not valid JSON: Exceeds the limit (4300 digits)"),
    (b'{"record": "\xff"}', "request body is not valid UTF-8: invalid start byte at byte 12"),
    ('{"record": "\ud800"}', "request body is not valid Unicode text (it holds a lone surrogate)"),  # a raw one
])
def test_body_errors_name_the_problem(body, expected):
    assert expected in error_of(requests.parse_json_body, body)


def test_body_accepts_bytes_base64_and_duplicate_keys():
    assert requests.parse_json_body(b'{"a": 1}') == {"a": 1}
    assert requests.parse_json_body(base64.b64encode('{"a": "é"}'.encode()).decode(), base64_encoded=True) == {"a": "é"}
    assert requests.parse_json_body('{"a": 1, "a": 2}') == {"a": 2}  # JSON semantics: the last one wins
    assert requests.parse_json_body('{"a": "\\ud800"}') == {"a": "\ud800"}  # escaped: valid JSON; checked per field


@pytest.mark.parametrize(("body", "expected"), [
    ("not base64!", "request body is not valid base64"),
    (base64.b64encode(b'{"a": "\xff"}').decode(), "request body is not valid UTF-8"),
])
def test_base64_body_errors(body, expected):
    assert expected in error_of(requests.parse_json_body, body, base64_encoded=True)


def test_body_larger_than_the_cap_is_413_naming_the_size():
    body = json.dumps({"record": {"plan": "x" * requests.MAX_BODY_BYTES}})
    assert error_of(requests.parse_json_body, body, status=413) == (
        f"request body is {len(body):,} bytes: at most 1,000,000 bytes per request")
    encoded = base64.b64encode(body.encode()).decode()
    assert "at most 1,000,000 bytes" in error_of(requests.parse_json_body, encoded, base64_encoded=True, status=413)
    multibyte = "é" * (requests.MAX_BODY_BYTES // 2 + 1)  # fewer characters than the cap, more bytes
    assert "at most 1,000,000 bytes" in error_of(requests.parse_json_body, f'"{multibyte}"', status=413)


# ------------------------------------------------------------------------------------------- predict request
def test_predict_request_defaults_the_model_and_keeps_records():
    req = requests.parse_predict_request({"record": {"age": 1}}, "demo")
    assert (req.model, req.records, req.single) == ("demo", [{"age": 1}], True)
    req = requests.parse_predict_request({"model": "churn-2", "records": [{"age": 1}, {"age": 2}]}, "demo")
    assert (req.model, len(req.records), req.single) == ("churn-2", 2, False)
    assert requests.parse_predict_request({"model": None, "record": {}}, "demo").model == "demo"


@pytest.mark.parametrize(("body", "expected"), [
    ({}, "no record"),
    ({"model": "demo"}, "no record"),
    ({"records": []}, "no record: 'records' is empty"),
    ({"records": {"age": 1}}, "'records' must be a list of objects, got an object"),
    ({"record": {}, "records": [{}]}, "either 'record' or 'records'"),
    ({"records": [{"age": 1}] * 101}, "too many records: 101 (at most 100"),
    ({"model": "Bad Name!", "record": {}}, "'model' must be a model name"),
    ({"model": 7, "record": {}}, "'model' must be a model name matching ^[a-z0-9][a-z0-9-]{0,39}$, got 7"),
    ({"model": ["demo"], "record": {}}, "got a list"),
    ({"model": "demo\ud800", "record": {}}, 'got "demo\\ud800"'),
])
def test_predict_request_errors(body, expected):
    assert expected in error_of(requests.parse_predict_request, body, "demo")


def test_model_name_rule_is_the_spec_rule():
    from evergreen.spec import NAME_RE

    assert requests.MODEL_NAME_RE.pattern == NAME_RE.pattern


# ------------------------------------------------------------------------------------------- feeds
def test_feeds_from_dicts():
    records = [
        {"age": 42, "income": "58000.5", "plan": "pro", "region": "north", "extra": 1},
        {"age": None, "income": "", "plan": None},  # region missing
        {"age": " 7 ", "income": 1e5, "plan": 3, "region": True, "other": "x"},
        {"age": "NA", "income": "1e3", "plan": " pro ", "region": "na"},
    ]
    f = feeds.build_feeds(records, NUMERIC, CATEGORICAL)
    assert f.numeric.dtype == np.float32 and f.numeric.shape == (4, 2)
    np.testing.assert_array_equal(f.numeric, np.array([[42, 58000.5], [np.nan, np.nan], [7, 1e5], [np.nan, 1000]],
                                                      dtype=np.float32))
    assert f.categorical.tolist() == [["pro", "north"], ["", ""], ["3", "True"], ["pro", ""]]
    assert f.ignored_fields == ["extra", "other"]
    # the log keeps the record as received, every scalar field (a retrain may use a column the model does not)
    assert f.received[0] == {"age": 42, "income": "58000.5", "plan": "pro", "region": "north", "extra": 1}
    assert f.received[1] == {"age": None, "income": "", "plan": None}
    assert f.received[2]["other"] == "x"
    assert f.received[3] == {"age": "NA", "income": "1e3", "plan": " pro ", "region": "na"}


def test_feeds_without_one_kind_of_column():
    f = feeds.build_feeds([{"age": 1}], ["age"], [])
    assert f.categorical is None and f.numeric.tolist() == [[1.0]]
    f = feeds.build_feeds([{"plan": "pro"}], [], ["plan"])
    assert f.numeric is None and f.categorical.tolist() == [["pro"]]


@pytest.mark.parametrize(("records", "single", "expected"), [
    ([{"age": "forty"}], False, 'records[0].age is not a number, got "forty"'),
    ([{"age": 1}, {"age": 2, "income": "12abc"}], False, 'records[1].income is not a number, got "12abc"'),
    ([{"age": True}], True, "record.age is a boolean, not a number, got true"),
    ([{"age": [1]}], True, "record.age must be a number or a numeric string, not list"),
    ([{"age": "1_000"}], True, 'record.age is not a number, got "1_000"'),
    ([{"age": "١٢"}], True, 'record.age is not a number, got "١٢"'),
    ([{"age": "inf"}], True, 'record.age is not a number, got "inf"'),
    ([{"age": 1e39}], False, "records[0].age is out of range for a float32 feature, got 1e+39"),
    ([{"age": 10**400}], False, "records[0].age is out of range for a float32 feature, got 1000000000"),
    ([{"age": "1e999"}], False, "records[0].age is out of range"),
    ([{"plan": {"a": 1}}], False, "records[0].plan must be a string, a number or null, not dict"),
    ([{"plan": "x" * 5000}], False, 'records[0].plan is longer than 1024 characters, got "xxxxxx'),
    ([{"plan": 10**2000}], False, "records[0].plan is longer than 1024 characters"),
    ([{"plan": "pro\ud800"}], True, 'record.plan is not valid Unicode text (it holds a lone surrogate), got "pro\\ud800"'),
    ([{"age": 1}, "text"], False, "records[1] must be a JSON object, got a string"),
    ([[1, 2]], True, "record must be a JSON object, got a list"),
    ([{"age": 1}, {"height": 180}], False, "records[1] has none of the model's features"),
    ([{"age": 1, **{f"f{i}": i for i in range(1000)}}], True, "record has 1,001 fields (at most 1,000 per record)"),
    ([{"age": 1, "x" * 257: 1}], True, "record has a field name longer than 256 characters"),
    ([{"age": 1, "a\udc80": 1}], True, "record has a field name that is not valid Unicode text"),
    ([{"age": "0" * 300_000 + "1"}], True, "record is too large to log: its features take 300,012 bytes "
                                           "(at most 300,000)"),
])
def test_feed_errors_name_record_field_and_reason(records, single, expected):
    assert expected in error_of(feeds.build_feeds, records, NUMERIC, CATEGORICAL, single=single)


def test_the_first_bad_record_is_named_first():
    records = [{"age": 1, "plan": "ok"}, {"age": 1, "plan": {"x": 1}}, {"age": "bad"}]
    assert error_of(feeds.build_feeds, records, NUMERIC, CATEGORICAL).startswith("records[1].plan")


def test_a_batch_is_checked_at_once_and_the_first_record_at_fault_is_named():
    ok = {"age": 1, "plan": "pro", "naïve": "x", "note": "y"}  # a valid non-ASCII name is accepted
    f = feeds.build_feeds([ok, {"age": 2, "tags": ["a"]}], NUMERIC, CATEGORICAL)
    assert f.ignored_fields == ["naïve", "note", "tags"] and f.received[0] == ok
    long_name, bad_name, nothing = {"age": 1, "x" * 300: 1}, {"age": 1, "a\udc80": 1}, {"height": 180}
    assert error_of(feeds.build_feeds, [ok, nothing, long_name], NUMERIC, CATEGORICAL).startswith(
        "records[1] has none of the model's features")
    assert error_of(feeds.build_feeds, [ok, bad_name, long_name], NUMERIC, CATEGORICAL).startswith(
        "records[1] has a field name that is not valid Unicode text")
    assert error_of(feeds.build_feeds, [ok, ok, {}], NUMERIC, CATEGORICAL).startswith("records[2] has none")
    big = {"age": 1, "note": "n" * 200_000}  # the limit is per record, not per batch
    assert feeds.build_feeds([big, big], NUMERIC, CATEGORICAL).received == [big, big]
    huge = {"age": 1, "note": "é" * 60_000}  # 360,000 bytes once logged: JSON escapes it as \\u00e9
    assert error_of(feeds.build_feeds, [big, huge], NUMERIC, CATEGORICAL) == (
        "records[1] is too large to log: its features take 360,022 bytes (at most 300,000)")


def test_all_null_record_is_valid_and_missing():
    f = feeds.build_feeds([{"age": None, "plan": None}], NUMERIC, CATEGORICAL)
    assert np.isnan(f.numeric).all() and f.categorical.tolist() == [["", ""]]


def test_storable_numbers_for_dynamodb():
    assert feeds.storable(1.5) == 1.5 and feeds.storable("x") == "x" and feeds.storable(None) is None
    assert feeds.storable(10**40) == str(10**40)
    assert feeds.storable(1e-200) == "1e-200" and feeds.storable(1e200) == "1e+200"
    assert feeds.storable(True) is True and feeds.storable(0.0) == 0.0


# ------------------------------------------------------------------------------------------- parity with training
def csv_texts(values: list[Any]) -> list[str]:
    """The values as cells of a CSV file, read back: what ingest hands to evergreen.features."""
    out = io.StringIO()
    csv.writer(out).writerows([v] for v in values)  # None is written as an empty cell
    return [row[0] if row else "" for row in csv.reader(io.StringIO(out.getvalue()))]


CAFE_NFC, CAFE_NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


def test_serving_feeds_equal_the_training_inputs_for_the_same_values():
    ages = ["1e3", " 12 ", "NA", "", None, 42, 23.5, "-.5", "NaN", 0.1]
    plans = [" pro ", "pro", "NA", "", None, CAFE_NFC, CAFE_NFD, "n/a", 3, True]
    assert CAFE_NFC != CAFE_NFD
    records = [{"age": a, "plan": p} for a, p in zip(ages, plans, strict=True)]

    served = feeds.build_feeds(records, ["age"], ["plan"]).inputs
    age_column, age_invalid = features.numeric_column(csv_texts(ages))
    plan_column, plan_invalid = features.categorical_column(csv_texts(plans))
    trained = features.model_inputs([age_column], [plan_column], len(records))

    assert (age_invalid, plan_invalid) == ([], [])
    assert served.keys() == trained.keys() == {"numeric", "categorical"}
    assert served["numeric"].dtype == trained["numeric"].dtype == np.float32
    np.testing.assert_array_equal(served["numeric"], trained["numeric"])  # NaN where missing, on both
    assert served["categorical"].tolist() == trained["categorical"].tolist()
    assert served["numeric"][:, 0].tolist()[:2] == [1000.0, 12.0]
    assert served["categorical"][:, 0].tolist() == ["pro", "pro", "", "", "", CAFE_NFC, CAFE_NFC, "", "3", "True"]


@pytest.mark.parametrize("sent", ["inf", "1e999", 1e999])
def test_an_infinite_value_is_invalid_on_both_paths(sent):
    """Training makes the cell missing and counts it; serving refuses the request, naming the field."""
    column, invalid = features.numeric_column(csv_texts([sent]))
    assert math.isnan(column[0]) and [c.row for c in invalid] == [0]
    message = error_of(feeds.build_feeds, [{"age": sent}], ["age"], ["plan"], single=True)
    assert message.startswith(("record.age is not a number", "record.age is out of range for a float32 feature"))


# ------------------------------------------------------------------------------------------- outputs
class _FakeChampion:
    model_name, version, problem_type, regression_tolerance = "demo", 3, "classification", None
    classes = ("bronze", "gold", "silver")


def test_format_predictions_for_a_classifier():
    now = datetime(2026, 11, 23, 2, 15, 7, 123456, tzinfo=UTC)
    proba = np.array([[0.1, 0.7, 0.2], [0.3333333, 0.3333333, 0.3333334]], dtype=np.float32)
    preds, items = predict.format_predictions(_FakeChampion(), np.array(["gold", "silver"]), proba,
                                              [{"age": 1}, {"age": 2}], now)
    assert preds[0]["prediction"] == "gold"
    assert preds[0]["probabilities"] == {"bronze": 0.1, "gold": 0.7, "silver": 0.2}
    assert math.isclose(sum(preds[1]["probabilities"].values()), 1.0, abs_tol=1e-6)
    assert len({p["prediction_id"] for p in preds}) == 2 and all(len(p["prediction_id"]) == 32 for p in preds)
    item = items[1]
    assert item["created_at"] == "2026-11-23T02:15:07.123+00:00"
    assert item["expires_at"] == int((now + timedelta(days=90)).timestamp())
    assert (item["model_name"], item["model_version"], item["features"]) == ("demo", 3, {"age": 2})
    assert item["prediction_id"] == preds[1]["prediction_id"] and "regression_tolerance" not in item


def test_format_predictions_for_a_regressor():
    class Reg(_FakeChampion):
        problem_type, classes, regression_tolerance = "regression", None, 2.5

    preds, items = predict.format_predictions(Reg(), np.array([np.float32(12.3)], dtype=np.float64), None,
                                              [{"age": 1}], datetime.now(UTC))
    assert preds == [{"prediction_id": preds[0]["prediction_id"], "prediction": 12.3}]
    assert items[0]["regression_tolerance"] == 2.5 and items[0]["problem_type"] == "regression"


def test_format_predictions_writes_each_float32_as_its_shortest_decimal():
    """The numbers the response had when each value went through float(str(np.float32(value)))."""
    rng = np.random.default_rng(3)
    proba = rng.dirichlet([0.05, 1, 1], size=100).astype(np.float32)  # some down to 1e-30 and below
    preds, items = predict.format_predictions(_FakeChampion(), np.array(["gold"] * 100, dtype=object), proba,
                                              [{"age": i} for i in range(100)], datetime.now(UTC))
    expected = [{c: float(str(p)) for c, p in zip(_FakeChampion.classes, row, strict=True)} for row in proba]
    assert [p["probabilities"] for p in preds] == expected
    assert [json.dumps(p["probabilities"]) for p in preds] == [json.dumps(e) for e in expected]
    assert [i["probabilities"] for i in items] == expected and items[7]["features"] == {"age": 7}

    class Reg(_FakeChampion):
        problem_type, classes, regression_tolerance = "regression", None, None

    values = rng.normal(50, 30, 100).astype(np.float32)
    preds, _ = predict.format_predictions(Reg(), values.astype(np.float64), None, [{}] * 100, datetime.now(UTC))
    assert [p["prediction"] for p in preds] == [float(str(v)) for v in values]


def test_prediction_ids_are_uuid4_hex():
    ids = predict.prediction_ids(500)
    assert len(set(ids)) == 500 and predict.prediction_ids(0) == []
    for pid in ids:
        parsed = uuid.UUID(pid)
        assert parsed.hex == pid and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_the_log_items_go_to_batch_writer_converted_for_dynamodb():
    class Table:
        def __init__(self) -> None:
            self.batches: list[int] = []
            self.buffered: list[dict[str, Any]] = []

        def batch_writer(self) -> Table:
            return self

        def __enter__(self) -> Table:
            return self

        def __exit__(self, *exc: object) -> None:
            self.batches.append(len(self.buffered))

        def put_item(self, Item: dict[str, Any]) -> None:
            self.buffered.append(Item)

    table = Table()
    prediction_log.write(table, [{"prediction_id": str(i), "p": 0.5} for i in range(3)])
    assert table.batches == [3] and table.buffered[0] == {"prediction_id": "0", "p": Decimal("0.5")}


# ------------------------------------------------------------------------------------------- feedback request
@pytest.mark.parametrize(("body", "expected"), [
    ({}, "no feedback"),
    ({"feedback": []}, "no feedback: 'feedback' is empty"),
    ({"feedback": "x"}, "'feedback' must be a list of objects, got a string"),
    ({"feedback": [{"prediction_id": str(i), "label": 1} for i in range(101)]}, "too many feedback items: 101"),
    ({"prediction_id": "a", "label": 1, "feedback": []}, "not both"),
    ({"prediction_id": "a"}, "label is missing"),
    ({"prediction_id": "a", "label": None}, "label is missing (null is not a label)"),
    ({"prediction_id": "", "label": 1}, "prediction_id must be a non-empty string"),
    ({"prediction_id": "a" * 129, "label": 1}, "(at most 128 characters)"),
    ({"prediction_id": "a\ud800", "label": 1}, 'prediction_id must be a non-empty string of valid Unicode text'),
    ({"feedback": [{"prediction_id": "a", "label": 1}, {"prediction_id": 5, "label": 1}]},
     "feedback[1].prediction_id must be a non-empty string"),
    ({"feedback": [{"prediction_id": "a", "label": [1]}]}, "feedback[0].label must be a string, a number or a boolean, "
                                                           "got a list"),
    ({"feedback": [{"prediction_id": "a", "label": {"x": 1}}]}, "got an object"),
    ({"feedback": [{"prediction_id": "a", "label": 1}, 7]}, "feedback[1] must be an object"),
    ({"prediction_id": "a", "label": "x" * 257}, "label is longer than 256 characters"),
    ({"prediction_id": "a", "label": "\ud800"}, "label is not valid Unicode text (it holds a lone surrogate)"),
    ({"feedback": [{"prediction_id": "a", "label": "yes"}, {"prediction_id": "b", "label": "no"},
                   {"prediction_id": "a", "label": "no"}]},
     "feedback[2].prediction_id repeats feedback[0].prediction_id: send one label per prediction"),
])
def test_feedback_request_errors(body, expected):
    assert expected in error_of(requests.parse_feedback_request, body)


def test_feedback_request_forms():
    assert requests.parse_feedback_request({"prediction_id": "a", "label": "gold"}) == [
        requests.FeedbackItem("a", "gold", "")]
    items = requests.parse_feedback_request({"feedback": [{"prediction_id": "a", "label": 0},
                                                          {"prediction_id": "b", "label": "x"}]})
    assert [(i.prediction_id, i.where) for i in items] == [("a", "feedback[0]."), ("b", "feedback[1].")]


# ------------------------------------------------------------------------------------------- labels
CLASSIFIED = {"prediction_id": "p", "problem_type": "classification", "prediction": "yes",
              "probabilities": {"yes": 0.75, "no": 0.25}, "model_name": "demo"}
REGRESSED = {"prediction_id": "r", "problem_type": "regression", "prediction": 10.0, "regression_tolerance": 1.0,
             "model_name": "spend"}


def item_label(label: Any, item: dict[str, Any] = CLASSIFIED) -> str | float:
    return feedback.canonical_label(item, requests.FeedbackItem(item["prediction_id"], label, ""))


@pytest.mark.parametrize(("label", "canonical"), [
    ("yes", "yes"), (" yes ", "yes"), ("no", "no"),
])
def test_classification_labels_become_the_class(label, canonical):
    assert item_label(label) == canonical


def test_numbers_and_booleans_are_classes_by_their_text():
    item = {**CLASSIFIED, "probabilities": {"0": 0.5, "1": 0.5, "True": 0.0, "2.5": 0.0}}
    assert [item_label(v, item) for v in (1, 0, True, 2.5, "1")] == ["1", "0", "True", "2.5", "1"]
    assert "label 1.0 is not one of the model's classes" in error_of(item_label, 1.0, item)


@pytest.mark.parametrize(("label", "expected"), [
    ("maybe", "label 'maybe' is not one of the model's classes ['no', 'yes']"),
    (1, "label 1 is not one of the model's classes ['no', 'yes']"),
    (True, "label True is not one of the model's classes ['no', 'yes']"),
    ("Yes", "label 'Yes' is not one of the model's classes ['no', 'yes']"),
    ("x" * 2000, "label 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is not one of the model's classes ['no', 'yes']"),
    ("NA", "label 'NA' is a missing value, not a label"),
    ("", "label '' is a missing value, not a label"),
])
def test_classification_labels_outside_the_classes_are_refused(label, expected):
    assert error_of(item_label, label) == expected


def test_regression_labels_are_finite_numbers():
    assert item_label(11, REGRESSED) == 11.0 and isinstance(item_label(11, REGRESSED), float)
    assert item_label(" 8.5 ", REGRESSED) == 8.5 and item_label("1e3", REGRESSED) == 1000.0
    for bad, expected in [("many", 'label "many" is not a number (the model is a regressor)'),
                          (True, "label true is a boolean, not a number"),
                          ("inf", 'label "inf" is not a number'),
                          (1e999, "label Infinity is out of range"),
                          ("NA", 'label "NA" is a missing value, not a label')]:
        assert error_of(item_label, bad, REGRESSED).startswith(expected)


class FakeLog:
    """prediction_log.get / set_label over a dict, counting writes."""

    def __init__(self, monkeypatch, items: list[dict[str, Any]]) -> None:
        self.items = {i["prediction_id"]: dict(i) for i in items}
        self.writes: list[tuple[str, Any]] = []
        monkeypatch.setattr(prediction_log, "get", lambda table, pid: dict(self.items[pid]) if pid in self.items else None)
        monkeypatch.setattr(prediction_log, "set_label", self.set_label)

    def set_label(self, table, pid, label, feedback_at) -> bool:
        if pid not in self.items:
            return False
        self.writes.append((pid, label))
        self.items[pid] |= {"label": label, "feedback_at": feedback_at}
        return True


def post(body: dict[str, Any]) -> dict[str, Any]:
    return feedback.record_feedback(requests.parse_feedback_request(body), predictions_table=None)


def test_one_label_per_prediction(monkeypatch):
    log = FakeLog(monkeypatch, [CLASSIFIED, REGRESSED])
    out = post({"feedback": [{"prediction_id": "p", "label": " yes "}, {"prediction_id": "r", "label": "12"},
                             {"prediction_id": "gone", "label": "yes"}]})
    assert out == {"accepted": 2, "results": [
        {"prediction_id": "p", "status": "recorded", "quality": 1.0},
        {"prediction_id": "r", "status": "recorded", "quality": 0.0, "abs_error": 2.0},
        {"prediction_id": "gone", "status": "unknown_prediction"},
    ]}
    assert log.writes == [("p", "yes"), ("r", 12.0)]  # canonical: the class, the number

    # the same labels again (as sent or canonical): acknowledged, nothing written
    out = post({"feedback": [{"prediction_id": "p", "label": "yes"}, {"prediction_id": "r", "label": 12}]})
    assert [r.get("duplicate") for r in out["results"]] == [True, True] and out["accepted"] == 2
    assert len(log.writes) == 2

    # a different label replaces the first one
    out = post({"prediction_id": "p", "label": "no"})
    assert out["results"] == [{"prediction_id": "p", "status": "recorded", "quality": 0.0, "replaced": True}]
    assert log.items["p"]["label"] == "no" and log.writes[-1] == ("p", "no")


def test_labels_are_all_checked_before_any_is_written(monkeypatch):
    log = FakeLog(monkeypatch, [CLASSIFIED, REGRESSED])
    message = error_of(post, {"feedback": [{"prediction_id": "p", "label": "yes"},
                                           {"prediction_id": "r", "label": "lots"}]})
    assert message == 'feedback[1].label "lots" is not a number (the model is a regressor)'
    assert log.writes == []


def test_a_prediction_that_expired_meanwhile_is_unknown(monkeypatch):
    log = FakeLog(monkeypatch, [CLASSIFIED])
    monkeypatch.setattr(prediction_log, "set_label", lambda *a: False)
    assert post({"prediction_id": "p", "label": "yes"})["results"] == [{"prediction_id": "p",
                                                                        "status": "unknown_prediction"}]
    assert log.writes == []


def test_only_unknown():
    assert feedback.only_unknown({"results": [{"status": "unknown_prediction"}]})
    assert not feedback.only_unknown({"results": [{"status": "unknown_prediction"}, {"status": "recorded"}]})


def test_messages_show_values_short_and_without_lone_surrogates():
    assert shown("x" * 100) == '"' + "x" * 36 + "..."
    assert shown("\ud800") == '"\\ud800"' and shown("é") == '"é"' and shown({"a": 1}) == "an object"
    assert shown_repr("\ud800") == "'\\ud800'" and shown_repr(["no", "yes"]) == "['no', 'yes']"
    for text in (shown("a\udc80" * 30), shown_repr("a\udc80" * 30)):
        text.encode("utf-8")  # never raises


# ------------------------------------------------------------------------------------------- model cache (fakes)
class FakeRegistry:
    def __init__(self):
        self.alias: dict[str, Any] | None = None
        self.reads = 0

    def get_item(self, **kwargs):
        self.reads += 1
        return {"Item": dict(self.alias)} if self.alias else {}


class FakeS3:
    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.gets = 0

    def get_object(self, Bucket, Key):  # noqa: N803 (boto3 names)
        self.gets += 1
        return {"Body": io.BytesIO(self.objects[Key])}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def onnx_models():
    from tests.support.tiny_model import train_classifier

    return train_classifier(seed=0), train_classifier(seed=1)


def _alias(model, version, sha=None):
    return {"model_name": "demo", "sk": "alias#champion", "version": version,
            "model_key": f"models/demo/v{version:06d}/model.onnx", "sha256": sha or sha256_hex(model.onnx_bytes),
            "columns": model.columns, "regression_tolerance": None}


def test_the_model_runs_the_feeds_as_they_are_and_returns_class_names(onnx_models):
    from evergreen.onnx_model import OnnxModel

    tiny = onnx_models[0]
    model = OnnxModel(tiny.onnx_bytes, numeric=tiny.columns["numeric"], categorical=tiny.columns["categorical"],
                      classes=tiny.columns["classes"])
    records = [{"age": 30, "income": 40000, "plan": "pro", "region": "north"}, {"age": None, "plan": "basic"}]
    f = feeds.build_feeds(records, tiny.columns["numeric"], tiny.columns["categorical"])
    out = model.run(f.numeric, f.categorical)
    assert out.labels.tolist() == [str(label) for label in tiny.pipeline.predict(tiny.matrix(records))]
    assert all(type(label) is str for label in out.labels) and out.probabilities.dtype == np.float32
    again = model.run(f.numeric.astype(np.float64), f.categorical.astype(str))  # other dtypes are converted
    assert again.labels.tolist() == out.labels.tolist()
    np.testing.assert_array_equal(again.probabilities, out.probabilities)


def test_cache_reads_the_alias_once_per_ttl_and_keeps_the_last_good_model(onnx_models):
    v1, v2 = onnx_models
    registry, s3, clock, emitted = FakeRegistry(), FakeS3(), Clock(), []
    cache = champion.ModelCache(registry=registry, s3=s3, bucket="b", ttl_seconds=30, clock=clock,
                                emit_metric=lambda *a: emitted.append(a))
    with pytest.raises(ModelUnavailable, match="no champion model for 'demo' yet"):
        cache.get("demo")
    clock.now += 31
    s3.objects["models/demo/v000001/model.onnx"] = v1.onnx_bytes
    registry.alias = _alias(v1, 1)
    assert cache.get("demo").version == 1
    for _ in range(5):
        cache.get("demo")
    assert registry.reads == 2 and s3.gets == 1

    # v2 registered with the wrong sha256: refused, v1 keeps serving, refusal not re-downloaded
    s3.objects["models/demo/v000002/model.onnx"] = v2.onnx_bytes
    registry.alias = _alias(v2, 2, sha="0" * 64)
    clock.now += 31
    assert cache.get("demo").version == 1
    assert emitted == [("ModelLoadFailure", 1, {"Model": "demo"})]
    clock.now += 31
    assert cache.get("demo").version == 1 and s3.gets == 2 and len(emitted) == 1

    # the alias is fixed: v2 loads
    registry.alias = _alias(v2, 2)
    clock.now += 31
    assert cache.get("demo").version == 2 and s3.gets == 3


def test_cache_refuses_a_schema_that_does_not_match_the_graph(onnx_models):
    v1, _ = onnx_models
    registry, s3 = FakeRegistry(), FakeS3()
    s3.objects["models/demo/v000001/model.onnx"] = v1.onnx_bytes
    registry.alias = _alias(v1, 1) | {"columns": {**v1.columns, "numeric": ["age"]}}
    cache = champion.ModelCache(registry=registry, s3=s3, bucket="b")
    with pytest.raises(ModelUnavailable, match=r"input 'numeric' has shape \[None, 2\], the schema has 1"):
        cache.get("demo")
    registry.alias = _alias(v1, 1) | {"columns": {**v1.columns, "classes": ["a", "b"]}}
    cache = champion.ModelCache(registry=registry, s3=s3, bucket="b")
    with pytest.raises(ModelUnavailable, match="probabilities have shape"):
        cache.get("demo")
    registry.alias = _alias(v1, 1) | {"sha256": None}
    cache = champion.ModelCache(registry=registry, s3=s3, bucket="b")
    with pytest.raises(ModelUnavailable, match="no sha256"):
        cache.get("demo")


# ------------------------------------------------------------------------------------------- the champion's contract
class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.getMessage()} {getattr(record, 'reason', '')}".strip())


@pytest.fixture
def warnings_logged():
    handler, log = _Warnings(), logging.getLogger("evergreen.serving.champion")
    log.addHandler(handler)
    yield handler.messages
    log.removeHandler(handler)


CONTRACT_KEY = "models/demo/contracts/v000001.json"


def _cache_serving(model, contract: bytes | None, *, key: str | None = CONTRACT_KEY):
    registry, s3, clock, emitted = FakeRegistry(), FakeS3(), Clock(), []
    s3.objects["models/demo/v000001/model.onnx"] = model.onnx_bytes
    if contract is not None:
        s3.objects[CONTRACT_KEY] = contract
    registry.alias = _alias(model, 1) | ({"contract_key": key} if key else {})
    cache = champion.ModelCache(registry=registry, s3=s3, bucket="b", ttl_seconds=30, clock=clock,
                                emit_metric=lambda *a: emitted.append(a))
    return cache, s3, clock, emitted


def test_the_cache_loads_the_champions_contract_with_the_model(onnx_models, warnings_logged):
    from tests.support.tiny_model import contract_document

    cache, s3, clock, _ = _cache_serving(onnx_models[0], json.dumps(contract_document(onnx_models[0])).encode())
    checks = cache.get("demo").plausibility
    assert checks is not None and checks.low.dtype == np.float32 and len(checks.vocabularies) == 2
    assert s3.gets == 2 and warnings_logged == []
    clock.now += 31
    assert cache.get("demo").plausibility is checks and s3.gets == 2  # built once per champion


@pytest.mark.parametrize(("contract", "key", "warning"), [
    (None, None, "champion has no data contract: served without plausibility checks"),
    (b"{not json", CONTRACT_KEY, "champion data contract unusable: served without plausibility checks JSONDecodeError"),
    (None, CONTRACT_KEY, "champion data contract unusable: served without plausibility checks KeyError"),
    (b'{"ranges": {"age": [80, 18]}}', CONTRACT_KEY,
     "unusable: served without plausibility checks ContractUnusable: the contract's ranges.age is not [min, max]"),
])
def test_a_champion_without_a_usable_contract_is_served_unchecked(onnx_models, warnings_logged, contract, key,
                                                                   warning):
    cache, _, _, emitted = _cache_serving(onnx_models[0], contract, key=key)
    served = cache.get("demo")
    assert served.version == 1 and served.plausibility is None and emitted == []  # not a load failure
    assert len(warnings_logged) == 1 and warning in warnings_logged[0], warnings_logged


def test_an_unusable_contract_is_read_again_after_the_ttl(onnx_models, warnings_logged):
    from tests.support.tiny_model import contract_document

    cache, s3, clock, _ = _cache_serving(onnx_models[0], b"")
    first = cache.get("demo")
    assert first.plausibility is None and s3.gets == 2
    assert cache.get("demo") is first and s3.gets == 2  # within the TTL: nothing read
    s3.objects[CONTRACT_KEY] = json.dumps(contract_document(onnx_models[0])).encode()
    clock.now += 31
    again = cache.get("demo")
    assert again.plausibility is not None and again.model is first.model  # the model is not loaded again
    assert s3.gets == 3 and len(warnings_logged) == 1


def test_the_log_keeps_other_scalar_fields_but_not_nested_ones():
    nested = {"a": {"b": [1, {"c": 2}]}}
    f = feeds.build_feeds([{"age": 1, "note": "vip", "meta": nested, "tags": ["x"]}], NUMERIC, CATEGORICAL)
    assert f.received == [{"age": 1, "note": "vip"}] and f.ignored_fields == ["meta", "note", "tags"]


# ------------------------------------------------------------------------------------------- the decision threshold
class LogTable:
    """The prediction log, in memory: batch_writer() -> put_item."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def batch_writer(self) -> LogTable:
        return self

    def __enter__(self) -> LogTable:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def put_item(self, Item: dict[str, Any]) -> None:  # noqa: N803 (boto3 names)
        self.items.append(Item)


@pytest.fixture(scope="module")
def binary_model():
    from tests.support.tiny_model import train_binary_classifier

    return train_binary_classifier()


def _predict_with(tiny, alias_fields: dict[str, Any], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    registry, s3 = FakeRegistry(), FakeS3()
    s3.objects["models/demo/v000001/model.onnx"] = tiny.onnx_bytes
    registry.alias = _alias(tiny, 1) | alias_fields
    cache = champion.ModelCache(registry=registry, s3=s3, bucket="b")
    request = requests.parse_predict_request({"records": records}, "demo")
    return predict.predict(request, cache, LogTable()).body["predictions"]


def test_a_binary_champion_answers_with_its_registered_threshold(binary_model):
    from tests.support.tiny_model import synthetic_records

    records, _, _ = synthetic_records(100, seed=4)
    p_yes = binary_model.pipeline.predict_proba(binary_model.matrix(records))[:, 1]
    threshold = float(np.quantile(p_yes[p_yes < 0.5], 0.5))  # half the rows under 0.5 lie above it
    served = _predict_with(binary_model, {"threshold": threshold}, records)
    between = [i for i, p in enumerate(p_yes) if threshold + 1e-6 < p < 0.5]
    assert len(between) >= 10 and {served[i]["prediction"] for i in between} == {"yes"}
    assert [s["prediction"] for s in served] == ["yes" if s["probabilities"]["yes"] > threshold else "no" for s in served]

    # registered before thresholds (no "threshold") or with none: the graph's argmax, as before
    for fields in ({}, {"threshold": None}):
        plain = _predict_with(binary_model, fields, records)
        assert [s["prediction"] for s in plain] == [str(v) for v in binary_model.pipeline.predict(binary_model.matrix(records))]
        assert {plain[i]["prediction"] for i in between} == {"no"}


@pytest.mark.parametrize("threshold,message", [(1.5, "between 0 and 1"), ("0.3", "between 0 and 1")])
def test_a_threshold_that_cannot_be_applied_refuses_the_champion(binary_model, threshold, message):
    with pytest.raises(ModelUnavailable, match=f"threshold cannot be applied: .*{message}"):
        _predict_with(binary_model, {"threshold": threshold}, [{"age": 30}])


def test_a_multiclass_champion_with_a_threshold_is_refused(onnx_models):
    with pytest.raises(ModelUnavailable, match="applies to two classes"):
        _predict_with(onnx_models[0], {"threshold": 0.3}, [{"age": 30}])
