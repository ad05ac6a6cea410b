"""evergreen.serving without AWS: request parsing, feed building, messages, quality, the model cache."""

from __future__ import annotations

import io
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen import serving  # noqa: E402
from evergreen.onnx_model import sha256_hex  # noqa: E402
from evergreen.serving import RequestError  # noqa: E402

NUMERIC = ["age", "income"]
CATEGORICAL = ["plan", "region"]


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(RequestError) as info:
        fn(*args, **kwargs)
    assert info.value.status == 400
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
])
def test_body_errors_name_the_problem(body, expected):
    assert expected in error_of(serving.parse_json_body, body)


def test_body_accepts_bytes():
    assert serving.parse_json_body(b'{"a": 1}') == {"a": 1}


# ------------------------------------------------------------------------------------------- predict request
def test_predict_request_defaults_the_model_and_keeps_records():
    req = serving.parse_predict_request({"record": {"age": 1}}, "demo")
    assert (req.model, req.records, req.single) == ("demo", [{"age": 1}], True)
    req = serving.parse_predict_request({"model": "churn-2", "records": [{"age": 1}, {"age": 2}]}, "demo")
    assert (req.model, len(req.records), req.single) == ("churn-2", 2, False)
    assert serving.parse_predict_request({"model": None, "record": {}}, "demo").model == "demo"


@pytest.mark.parametrize(("body", "expected"), [
    ({}, "no record"),
    ({"model": "demo"}, "no record"),
    ({"records": []}, "no record: 'records' is empty"),
    ({"records": {"age": 1}}, "'records' must be a list of objects, got an object"),
    ({"record": {}, "records": [{}]}, "either 'record' or 'records'"),
    ({"records": [{"age": 1}] * 101}, "too many records: 101 (at most 100"),
    ({"model": "Bad Name!", "record": {}}, "'model' must be a model name"),
    ({"model": 7, "record": {}}, "'model' must be a model name"),
])
def test_predict_request_errors(body, expected):
    assert expected in error_of(serving.parse_predict_request, body, "demo")


def test_model_name_rule_is_the_spec_rule():
    from evergreen.spec import NAME_RE

    assert serving.MODEL_NAME_RE.pattern == NAME_RE.pattern


# ------------------------------------------------------------------------------------------- features
def test_features_from_dicts():
    records = [
        {"age": 42, "income": "58000.5", "plan": "pro", "region": "north", "extra": 1},
        {"age": None, "income": "", "plan": None},  # region missing
        {"age": " 7 ", "income": 1e5, "plan": 3, "region": True, "other": "x"},
    ]
    f = serving.build_features(records, NUMERIC, CATEGORICAL)
    assert f.numeric.dtype == np.float32 and f.numeric.shape == (3, 2)
    np.testing.assert_array_equal(f.numeric, np.array([[42, 58000.5], [np.nan, np.nan], [7, 1e5]], dtype=np.float32))
    assert f.categorical.tolist() == [["pro", "north"], ["", ""], ["3", "True"]]
    assert f.ignored_fields == ["extra", "other"]
    # the log keeps the record as received, model fields only
    assert f.received[0] == {"age": 42, "income": "58000.5", "plan": "pro", "region": "north"}
    assert f.received[1] == {"age": None, "income": "", "plan": None}


def test_features_without_one_kind_of_column():
    f = serving.build_features([{"age": 1}], ["age"], [])
    assert f.categorical is None and f.numeric.tolist() == [[1.0]]
    f = serving.build_features([{"plan": "pro"}], [], ["plan"])
    assert f.numeric is None and f.categorical.tolist() == [["pro"]]


@pytest.mark.parametrize(("records", "single", "expected"), [
    ([{"age": "forty"}], False, 'records[0].age must be a number or a numeric string, got "forty"'),
    ([{"age": 1}, {"age": 2, "income": "12abc"}], False, "records[1].income must be a number"),
    ([{"age": True}], True, "record.age must be a number or a numeric string, got true (a boolean)"),
    ([{"age": [1]}], True, "record.age must be a number or a numeric string, got a list"),
    ([{"age": "1_000"}], True, "record.age must be a number"),
    ([{"age": 1e39}], False, "records[0].age is out of range for a float32 feature"),
    ([{"age": 10**400}], False, "records[0].age is out of range"),
    ([{"age": "1e999"}], False, "records[0].age is out of range"),
    ([{"plan": {"a": 1}}], False, "records[0].plan must be a string, a number or null, got an object"),
    ([{"plan": "x" * 5000}], False, "records[0].plan is longer than 1024 characters"),
    ([{"age": 1}, "text"], False, "records[1] must be a JSON object, got a string"),
    ([[1, 2]], True, "record must be a JSON object, got a list"),
    ([{"age": 1}, {"height": 180}], False, "records[1] has none of the model's features"),
])
def test_feature_errors_name_record_and_field(records, single, expected):
    assert expected in error_of(serving.build_features, records, NUMERIC, CATEGORICAL, single=single)


def test_all_null_record_is_valid_and_missing():
    f = serving.build_features([{"age": None, "plan": None}], NUMERIC, CATEGORICAL)
    assert np.isnan(f.numeric).all() and f.categorical.tolist() == [["", ""]]


def test_storable_numbers_for_dynamodb():
    assert serving.storable(1.5) == 1.5 and serving.storable("x") == "x" and serving.storable(None) is None
    assert serving.storable(10**40) == str(10**40)
    assert serving.storable(1e-200) == "1e-200" and serving.storable(1e200) == "1e+200"
    assert serving.storable(True) is True and serving.storable(0.0) == 0.0


# ------------------------------------------------------------------------------------------- outputs
class _FakeChampion:
    model_name, version, problem_type, regression_tolerance = "demo", 3, "classification", None
    classes = ("bronze", "gold", "silver")


def test_format_predictions_for_a_classifier():
    now = datetime(2026, 11, 23, 2, 15, 7, 123456, tzinfo=UTC)
    proba = np.array([[0.1, 0.7, 0.2], [0.3333333, 0.3333333, 0.3333334]], dtype=np.float32)
    preds, items = serving.format_predictions(_FakeChampion(), np.array(["gold", "silver"]), proba,
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

    preds, items = serving.format_predictions(Reg(), np.array([np.float32(12.3)], dtype=np.float64), None,
                                              [{"age": 1}], datetime.now(UTC))
    assert preds == [{"prediction_id": preds[0]["prediction_id"], "prediction": 12.3}]
    assert items[0]["regression_tolerance"] == 2.5 and items[0]["problem_type"] == "regression"


# ------------------------------------------------------------------------------------------- feedback
@pytest.mark.parametrize(("prediction", "label", "quality"), [
    ("gold", "gold", 1.0), ("gold", "silver", 0.0), ("1", 1, 1.0), ("True", True, 1.0), ("1", 1.0, 0.0),
])
def test_classification_quality_compares_str_label(prediction, label, quality):
    assert serving.score_feedback("classification", prediction, label, None) == serving.Score(quality, None)


def test_regression_quality_uses_the_tolerance():
    assert serving.score_feedback("regression", 10.0, 11.0, 1.0) == serving.Score(1.0, 1.0)
    assert serving.score_feedback("regression", 10.0, "8.5", 1.0) == serving.Score(0.0, 1.5)
    assert serving.score_feedback("regression", 10.0, 12, None) == serving.Score(None, 2.0)
    for bad in ("many", True, "inf", 1e999):
        with pytest.raises(ValueError):
            serving.score_feedback("regression", 10.0, bad, 1.0)


@pytest.mark.parametrize(("body", "expected"), [
    ({}, "no feedback"),
    ({"feedback": []}, "no feedback: 'feedback' is empty"),
    ({"feedback": "x"}, "'feedback' must be a list of objects, got a string"),
    ({"feedback": [{"prediction_id": "a", "label": 1}] * 101}, "too many feedback items: 101"),
    ({"prediction_id": "a", "label": 1, "feedback": []}, "not both"),
    ({"prediction_id": "a"}, "label is missing"),
    ({"prediction_id": "a", "label": None}, "label is missing"),
    ({"prediction_id": "", "label": 1}, "prediction_id must be a non-empty string"),
    ({"feedback": [{"prediction_id": "a", "label": 1}, {"prediction_id": 5, "label": 1}]},
     "feedback[1].prediction_id must be a non-empty string"),
    ({"feedback": [{"prediction_id": "a", "label": [1]}]}, "feedback[0].label must be a string or a number"),
    ({"feedback": [{"prediction_id": "a", "label": 1}, 7]}, "feedback[1] must be an object"),
])
def test_feedback_request_errors(body, expected):
    assert expected in error_of(serving.parse_feedback_request, body)


def test_feedback_request_forms():
    assert serving.parse_feedback_request({"prediction_id": "a", "label": "gold"}) == [serving.FeedbackItem("a", "gold")]
    items = serving.parse_feedback_request({"feedback": [{"prediction_id": "a", "label": 0}, {"prediction_id": "b", "label": "x"}]})
    assert [i.prediction_id for i in items] == ["a", "b"]


def test_only_unknown():
    assert serving.only_unknown({"results": [{"status": "unknown_prediction"}]})
    assert not serving.only_unknown({"results": [{"status": "unknown_prediction"}, {"status": "recorded"}]})


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


def test_cache_reads_the_alias_once_per_ttl_and_keeps_the_last_good_model(onnx_models):
    v1, v2 = onnx_models
    registry, s3, clock, emitted = FakeRegistry(), FakeS3(), Clock(), []
    cache = serving.ModelCache(registry=registry, s3=s3, bucket="b", ttl_seconds=30, clock=clock,
                               emit_metric=lambda *a: emitted.append(a))
    with pytest.raises(serving.ModelUnavailable, match="no champion model for 'demo' yet"):
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
    cache = serving.ModelCache(registry=registry, s3=s3, bucket="b")
    with pytest.raises(serving.ModelUnavailable, match=r"input 'numeric' has shape \[None, 2\], the schema has 1"):
        cache.get("demo")
    registry.alias = _alias(v1, 1) | {"columns": {**v1.columns, "classes": ["a", "b"]}}
    cache = serving.ModelCache(registry=registry, s3=s3, bucket="b")
    with pytest.raises(serving.ModelUnavailable, match="probabilities have shape"):
        cache.get("demo")
    registry.alias = _alias(v1, 1) | {"sha256": None}
    cache = serving.ModelCache(registry=registry, s3=s3, bucket="b")
    with pytest.raises(serving.ModelUnavailable, match="no sha256"):
        cache.get("demo")
