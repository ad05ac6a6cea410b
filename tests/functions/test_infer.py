"""functions/infer/app.py on moto: real API Gateway REST proxy events in, HTTP responses out.

Tables and buckets come from template.yaml's own definitions (tests/support/infra.py); models are
tiny scikit-learn pipelines exported to ONNX (tests/support/tiny_model.py), so every prediction is
checked against the scikit-learn reference.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import math
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen.onnx_model import sha256_hex  # noqa: E402
from evergreen.registry import get_alias, register_champion  # noqa: E402
from evergreen.serving.plausibility import number  # noqa: E402
from evergreen.storage import Stores, contract_key, from_dynamo, model_key  # noqa: E402
from tests.support import infra, tiny_model  # noqa: E402

EVENTS = ROOT / "tests" / "events"
APP = ROOT / "functions" / "infer" / "app.py"


# ------------------------------------------------------------------------------------------- fixtures
class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def classifier() -> tiny_model.TinyModel:
    return tiny_model.train_classifier(seed=0)


@pytest.fixture(scope="module")
def other_classifier() -> tiny_model.TinyModel:
    return tiny_model.train_classifier(seed=7, n=120)


@pytest.fixture(scope="module")
def regressor() -> tiny_model.TinyModel:
    return tiny_model.train_regressor(seed=0)


@pytest.fixture
def env(monkeypatch) -> dict[str, str]:
    values = infra.stack_env() | {
        "AWS_DEFAULT_REGION": infra.REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "inference",
        "CHAMPION_TTL_SECONDS": "30",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def aws(env):
    with mock_aws():
        infra.create_storage()
        yield


def import_app():
    """A fresh import of functions/infer/app.py: config and clients are made at import, as in Lambda init."""
    spec = importlib.util.spec_from_file_location("infer_app_under_test", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def infer(aws):
    """The handler module with a controllable clock for the champion cache."""
    module = import_app()
    module.CACHE.clock = Clock()
    yield module
    module.metrics.clear_metrics()
    module.metrics.clear_default_dimensions()


def registry(infer):
    return infer.STORES.registry


def publish(infer, model: tiny_model.TinyModel, version: int, *, name: str = "demo", sha256: str | None = None,
            data: bytes | None = None, tolerance: float | None = None,
            contract: dict[str, Any] | bytes | None = None) -> None:
    """Upload the ONNX bytes (and the data contract document, if any), register the version and point the
    champion alias at it, as promote does."""
    key = model_key(name, version)
    infer.STORES.s3.put_object(Bucket=infer.STORES.artifacts_bucket, Key=key, Body=data or model.onnx_bytes)
    extra = {}
    if contract is not None:
        extra = {"contract_version": 1, "contract_key": contract_key(name, 1)}
        body = contract if isinstance(contract, bytes) else json.dumps(contract).encode()
        infer.STORES.s3.put_object(Bucket=infer.STORES.artifacts_bucket, Key=extra["contract_key"], Body=body)
    current = get_alias(registry(infer), name)
    register_champion(registry(infer), name, version, {
        "model_key": key, "sha256": sha256 or sha256_hex(data or model.onnx_bytes), "columns": model.columns,
        "primary_metric": "accuracy" if model.columns["classes"] else "rmse", "test_score": 0.9,
        "run_id": f"run-{version}", "dataset_version": "ds-0123456789abcdef", "regression_tolerance": tolerance,
        **extra,
    }, expected_version=current["version"] if current else None)


class CountingTable:
    def __init__(self, table: Any, calls: list[str]) -> None:
        self.table, self.calls = table, calls

    def get_item(self, **kwargs: Any) -> Any:
        self.calls.append(f'{kwargs["Key"]["model_name"]} {kwargs["Key"]["sk"]}')
        return self.table.get_item(**kwargs)


def advance(infer, seconds: float = 31) -> None:
    infer.CACHE.clock.now += seconds


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["body"] = json.dumps(body)
    event["isBase64Encoded"] = False
    return event


def call(infer, event: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
    if isinstance(event, str):
        event = load_event(event)
    response = infer.handler(event, infra.lambda_context("InferenceFunction"))
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    return response["statusCode"], json.loads(response["body"])


def request_records(event_name: str) -> list[dict[str, Any]]:
    body = json.loads(load_event(event_name)["body"])
    return body["records"] if "records" in body else [body["record"]]


def reference(model: tiny_model.TinyModel, records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
    X = model.matrix(records)
    k = len(model.columns["numeric"])
    X[:, :k] = X[:, :k].astype(np.float32)
    if model.columns["classes"]:
        return model.pipeline.predict(X), model.pipeline.predict_proba(X)
    return model.pipeline.predict(X), None


def assert_matches_sklearn(model: tiny_model.TinyModel, records: list[dict[str, Any]], predictions: list[dict]) -> None:
    labels, proba = reference(model, records)
    assert len(predictions) == len(records)
    for i, p in enumerate(predictions):
        if proba is None:
            assert "probabilities" not in p
            assert p["prediction"] == pytest.approx(labels[i], abs=1e-4)
            continue
        assert p["prediction"] == str(labels[i])
        assert list(p["probabilities"]) == model.columns["classes"]
        assert math.isclose(sum(p["probabilities"].values()), 1.0, abs_tol=1e-5)
        np.testing.assert_allclose(list(p["probabilities"].values()), proba[i], atol=1e-5)


def prediction_item(infer, prediction_id: str) -> dict[str, Any]:
    item = infer.STORES.predictions.get_item(Key={"prediction_id": prediction_id}).get("Item")
    assert item is not None, prediction_id
    return from_dynamo(item)


def cloudwatch_metrics() -> list[dict[str, Any]]:
    """Every Evergreen metric put to CloudWatch with PutMetricData (EMF metrics go to stdout, not here)."""
    import boto3

    return boto3.client("cloudwatch", region_name=infra.REGION).list_metrics(Namespace="Evergreen")["Metrics"]


# ------------------------------------------------------------------------------------------- predict
def test_predict_single_matches_scikit_learn_and_is_logged(infer, classifier):
    publish(infer, classifier, 1)
    status, body = call(infer, "predict_single")
    assert status == 200, body
    assert (body["model"], body["model_version"]) == ("demo", 1)
    assert body["ignored_fields"] == ["customer_id"]
    assert_matches_sklearn(classifier, request_records("predict_single"), body["predictions"])

    pred = body["predictions"][0]
    item = prediction_item(infer, pred["prediction_id"])
    assert len(pred["prediction_id"]) == 32 and int(pred["prediction_id"], 16) >= 0
    assert item["model_name"] == "demo" and item["model_version"] == 1
    assert item["prediction"] == pred["prediction"]
    assert item["probabilities"] == pytest.approx(pred["probabilities"])
    assert item["features"] == {"age": 42, "income": "58000.5", "plan": "pro", "region": "north",
                                "customer_id": "c-1001"}  # as received, every scalar field
    created = datetime.fromisoformat(item["created_at"])
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)
    assert item["created_at"].endswith("+00:00") and len(item["created_at"].split(".")[1]) == len("123+00:00")
    assert abs(item["expires_at"] - (created + timedelta(days=90)).timestamp()) < 2


def test_predict_batch_matches_scikit_learn(infer, classifier):
    publish(infer, classifier, 1)
    status, body = call(infer, "predict_batch")
    assert status == 200, body
    assert body["ignored_fields"] == ["signup_channel"]
    assert_matches_sklearn(classifier, request_records("predict_batch"), body["predictions"])
    ids = [p["prediction_id"] for p in body["predictions"]]
    assert len(set(ids)) == 4
    logged = infer.STORES.predictions.scan()["Items"]
    assert sorted(i["prediction_id"] for i in logged) == sorted(ids)
    assert prediction_item(infer, ids[3])["features"] == {"age": 23.5, "income": "", "plan": "unheard-of",
                                                          "region": "east"}


def test_predict_base64_body(infer, classifier):
    publish(infer, classifier, 1)
    status, body = call(infer, "predict_base64")
    assert status == 200, body
    assert_matches_sklearn(classifier, [{"age": 30, "income": 40000, "plan": "plus", "region": "south"}],
                           body["predictions"])


def test_predict_regression_by_model_name(infer, regressor):
    publish(infer, regressor, 1, name="spend", tolerance=1.0)
    records = tiny_model.synthetic_records(5, seed=3)[0]
    status, body = call(infer, with_body(load_event("predict_batch"), {"model": "spend", "records": records}))
    assert status == 200, body
    assert (body["model"], body["model_version"], body["ignored_fields"]) == ("spend", 1, [])
    assert_matches_sklearn(regressor, records, body["predictions"])


def test_predict_emits_emf_metrics(capsys, infer, classifier):
    publish(infer, classifier, 1)
    capsys.readouterr()
    assert call(infer, "predict_batch")[0] == 200
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[-1]["PredictionCount"] in (4, [4])
    assert emf[-1]["Model"] == "demo"
    assert {m["Name"] for m in emf[-1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]} >= {
        "PredictionCount", "ModelLatency", "PredictLatency"}


# ------------------------------------------------------------------------------------------- plausibility
RANGES = {"age": [18, 80], "income": [1000, 200000]}
SEEN = {"age": 42, "income": "58000.5", "plan": "pro", "region": "north"}  # inside everything training saw


def predict_records(infer, records: list[dict[str, Any]], model: str = "demo") -> list[dict[str, Any]]:
    status, body = call(infer, with_body(load_event("predict_batch"), {"model": model, "records": records}))
    assert status == 200, body
    return body["predictions"]


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def test_inputs_outside_what_training_saw_are_answered_flagged_logged_and_counted(capsys, infer, classifier):
    publish(infer, classifier, 1, contract=tiny_model.contract_document(classifier, ranges=RANGES))
    records = [SEEN, {**SEEN, "age": 130}, {**SEEN, "plan": "gold", "region": "south"}, {"age": 40},
               {**SEEN, "income": None}]
    capsys.readouterr()
    predictions = predict_records(infer, records)
    assert_matches_sklearn(classifier, records, predictions)  # flagged or not, every record is answered
    assert [p.get("flags") for p in predictions] == [
        None,
        ["age 130 is above the training range [18, 80]"],
        ["plan 'gold' was not seen in training"],
        ["3 of 4 features are missing (income, plan, region)"],
        None,  # one missing feature of four is not "many"
    ]
    for p in predictions:
        item = prediction_item(infer, p["prediction_id"])
        assert item.get("flags") == p.get("flags")
    emf = emf_lines(capsys.readouterr().out)
    assert emf[-1]["Model"] == "demo"
    assert emf[-1]["PredictionCount"] in (5, [5]) and emf[-1]["ImplausiblePredictions"] in (3, [3])
    assert {m["Name"] for m in emf[-1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]} >= {
        "PredictionCount", "ImplausiblePredictions"}
    assert cloudwatch_metrics() == []

    # a plausible request's answer is exactly as before: no "flags" key, and a zero count
    status, body = call(infer, "predict_single")
    assert status == 200 and set(body["predictions"][0]) == {"prediction_id", "prediction", "probabilities"}
    assert "flags" not in prediction_item(infer, body["predictions"][0]["prediction_id"])
    assert emf_lines(capsys.readouterr().out)[-1]["ImplausiblePredictions"] in (0, [0])


def test_the_contract_recorded_from_the_training_data_flags_what_training_never_saw(infer, classifier):
    contract = tiny_model.contract_document(classifier)
    publish(infer, classifier, 1, contract=contract)
    low, high = contract["ranges"]["income"]
    assert predict_records(infer, [SEEN, {**SEEN, "income": low}, {**SEEN, "income": high}])[0].get("flags") is None
    (p,) = predict_records(infer, [{**SEEN, "income": 1_000_000}])
    assert p["flags"] == [f"income 1000000 is above the training range [{number(low)}, {number(high)}]"]


def test_an_open_vocabulary_is_not_flagged(infer, classifier):
    publish(infer, classifier, 1, contract=tiny_model.contract_document(classifier, open_vocabulary=["region"]))
    open_, closed = predict_records(infer, [{**SEEN, "region": "west"}, {**SEEN, "plan": "platinum"}])
    assert "flags" not in open_
    assert closed["flags"] == ["plan 'platinum' was not seen in training"]


def test_a_regression_output_far_outside_the_training_target_is_flagged(infer, regressor):
    contract = tiny_model.contract_document(regressor)
    publish(infer, regressor, 1, name="spend", tolerance=1.0, contract=contract)
    t_low, t_high = contract["target_range"]
    margin = 0.1 * (t_high - t_low)
    records = tiny_model.synthetic_records(20, seed=3)[0]
    predictions = predict_records(infer, records, model="spend")
    assert_matches_sklearn(regressor, records, predictions)
    assert not any("prediction" in f for p in predictions for f in p.get("flags", []))  # realistic inputs

    (p,) = predict_records(infer, [{**SEEN, "age": 400}], model="spend")
    assert p["prediction"] > t_high + margin
    assert p["flags"] == [
        f"age 400 is above the training range [{number(contract['ranges']['age'][0])}, "
        f"{number(contract['ranges']['age'][1])}]",
        f"prediction {number(p['prediction'])} is outside the plausible range "
        f"[{number(t_low - margin)}, {number(t_high + margin)}]",
    ]
    assert prediction_item(infer, p["prediction_id"])["flags"] == p["flags"]


def test_a_champion_without_a_contract_is_served_unflagged_and_uncounted(capsys, infer, classifier, champion_log):
    publish(infer, classifier, 1)  # a champion promoted before contracts were recorded: no contract_key
    capsys.readouterr()
    (p,) = predict_records(infer, [{**SEEN, "age": 130, "plan": "gold"}])
    assert "flags" not in p and "flags" not in prediction_item(infer, p["prediction_id"])
    emf = emf_lines(capsys.readouterr().out)
    assert emf[-1]["PredictionCount"] in (1, [1]) and "ImplausiblePredictions" not in emf[-1]  # nothing was checked
    assert [r.getMessage() for r in champion_log if r.levelno == logging.WARNING] == [
        "champion has no data contract: served without plausibility checks"]


@pytest.mark.parametrize("contract", [b"{this is not json", b"", b'["a list"]', b'{"ranges": {"age": "wide"}}'])
def test_a_contract_that_cannot_be_used_still_serves(capsys, infer, classifier, champion_log, contract):
    publish(infer, classifier, 1, contract=contract)
    capsys.readouterr()
    status, body = call(infer, with_body(load_event("predict_single"), {"record": {**SEEN, "age": 130}}))
    assert status == 200, body
    assert body["model_version"] == 1 and "flags" not in body["predictions"][0]
    out = capsys.readouterr().out
    assert '"ModelLoadFailure"' not in out and "ImplausiblePredictions" not in out
    warnings = [r for r in champion_log if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["champion data contract unusable: served without plausibility checks"]
    assert warnings[0].contract_key == "models/demo/contracts/v000001.json"


def test_a_missing_contract_document_still_serves_and_is_read_again_after_the_ttl(infer, classifier, champion_log):
    publish(infer, classifier, 1, contract=b"{}")
    infer.STORES.s3.delete_object(Bucket=infer.STORES.artifacts_bucket, Key=contract_key("demo", 1))
    record = {**SEEN, "age": 130}
    assert "flags" not in predict_records(infer, [record])[0]
    (warning,) = [r for r in champion_log if r.levelno == logging.WARNING]
    assert "NoSuchKey" in warning.reason
    infer.STORES.s3.put_object(Bucket=infer.STORES.artifacts_bucket, Key=contract_key("demo", 1),
                               Body=json.dumps(tiny_model.contract_document(classifier, ranges=RANGES)).encode())
    assert "flags" not in predict_records(infer, [record])[0]  # within the TTL
    advance(infer)
    assert predict_records(infer, [record])[0]["flags"] == ["age 130 is above the training range [18, 80]"]


# ------------------------------------------------------------------------------------------- 400s
@pytest.mark.parametrize(("event_name", "expected"), [
    ("predict_malformed_json", "request body is not valid JSON"),
    ("predict_bad_numeric", 'records[1].age is not a number, got "forty"'),
    ("predict_record_not_object", "records[1] must be a JSON object, got a list"),
    ("predict_too_many", "too many records: 101 (at most 100 per request)"),
    ("predict_no_record", "no record"),
    ("predict_no_features", "record has none of the model's features"),
    ("feedback_missing_label", "feedback[1].label is missing"),
    ("feedback_repeated_id", "feedback[1].prediction_id repeats feedback[0].prediction_id: send one label per prediction"),
    ("predict_surrogate", 'record.plan is not valid Unicode text (it holds a lone surrogate), got "pro\\ud800"'),
])
def test_malformed_requests_are_400_naming_the_problem(infer, classifier, event_name, expected):
    publish(infer, classifier, 1)
    status, body = call(infer, event_name)
    assert status == 400
    assert expected in body["message"]
    assert "Traceback" not in json.dumps(body)
    assert infer.STORES.predictions.scan()["Count"] == 0


@pytest.mark.parametrize(("body", "expected"), [
    ({"model": "../etc", "record": {"age": 1}}, "'model' must be a model name"),
    ({"record": {"age": 1, "plan": {"tier": 1}}}, "record.plan must be a string, a number or null"),
    ({"records": [{"age": 1}, {"age": 1, "income": True}]}, "records[1].income is a boolean, not a number, got true"),
    ({"record": {"age": 1, "plan": "x" * 2000}}, "record.plan is longer than 1024 characters"),
])
def test_more_400s(infer, classifier, body, expected):
    publish(infer, classifier, 1)
    status, out = call(infer, with_body(load_event("predict_single"), body))
    assert (status, expected in out["message"]) == (400, True), out


def test_empty_body_is_400(infer, classifier):
    event = load_event("predict_single")
    event["body"] = None
    assert call(infer, event) == (400, {"message": "request body is empty: send a JSON object"})


# ------------------------------------------------------------------------------------------- 503s and integrity
def test_no_champion_is_503(infer):
    status, body = call(infer, "predict_single")
    assert (status, body) == (503, {"message": "no champion model for 'demo' yet"})
    assert call(infer, with_body(load_event("predict_single"), {"model": "other", "record": {"age": 1}}))[1] == {
        "message": "no champion model for 'other' yet"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def champion_log():
    handler, log = Records(), logging.getLogger("evergreen.serving.champion")
    log.addHandler(handler)
    yield handler.records
    log.removeHandler(handler)


@pytest.fixture
def serving_log():
    handler, log = Records(), logging.getLogger("evergreen.serving")
    log.addHandler(handler)
    yield handler.records
    log.removeHandler(handler)


def test_wrong_sha256_is_refused_and_the_previous_model_keeps_serving(capsys, infer, classifier, other_classifier,
                                                                      serving_log):
    publish(infer, classifier, 1)
    records = tiny_model.synthetic_records(60, seed=11)[0]
    event = with_body(load_event("predict_batch"), {"records": records})
    status, body = call(infer, event)
    assert (status, body["model_version"]) == (200, 1)
    v1_predictions = [p["prediction"] for p in body["predictions"]]
    v2_labels = [str(v) for v in reference(other_classifier, records)[0]]
    assert v1_predictions != v2_labels  # the two models are distinguishable on these records

    # v2's bytes are uploaded, but the registry holds a sha256 that is not theirs
    publish(infer, other_classifier, 2, sha256=sha256_hex(b"not the model"))
    advance(infer)
    capsys.readouterr()
    status, body = call(infer, event)
    assert (status, body["model"], body["model_version"]) == (200, "demo", 1)
    assert_matches_sklearn(classifier, records, body["predictions"])
    errors = [r.getMessage() for r in serving_log if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "champion 'demo' version 2 was refused" in errors[0]
    assert "does not match the registered" in errors[0]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ModelLoadFailure"' in line]
    assert len(emf) == 1 and emf[0]["Model"] == "demo" and emf[0]["ModelLoadFailure"] in (1, [1])
    assert {prediction_item(infer, p["prediction_id"])["model_version"] for p in body["predictions"]} == {1}

    # once a version with the right sha256 is registered, it is served after the TTL
    publish(infer, other_classifier, 3)
    advance(infer)
    status, body = call(infer, event)
    assert (status, body["model_version"]) == (200, 3)
    assert_matches_sklearn(other_classifier, records, body["predictions"])


def test_alias_is_reread_only_after_the_ttl(infer, classifier, other_classifier):
    reads: list[str] = []
    infer.CACHE.registry = CountingTable(infer.CACHE.registry, reads)
    publish(infer, classifier, 1)
    for _ in range(3):
        assert call(infer, "predict_single")[1]["model_version"] == 1
    per_ttl = ["demo alias#champion", "demo alias#challenger"]  # the champion, and a challenger in rollout if any
    assert reads == per_ttl
    publish(infer, other_classifier, 2)
    advance(infer, 29)
    assert call(infer, "predict_single")[1]["model_version"] == 1
    advance(infer, 2)
    assert call(infer, "predict_single")[1]["model_version"] == 2
    assert reads == per_ttl * 2


def test_preload_loads_the_champion_at_init(aws, monkeypatch, classifier):
    publish(SimpleNamespace(STORES=Stores.from_env()), classifier, 1)  # before the import: as after a promotion
    monkeypatch.setenv("PRELOAD_CHAMPION", "true")
    module = import_app()
    try:
        reads = []
        module.CACHE.registry = CountingTable(module.CACHE.registry, reads)
        status, body = call(module, "predict_single")
        assert (status, body["model_version"], reads) == (200, 1, [])  # no registry read in the first request
    finally:
        module.metrics.clear_metrics()


def test_wrong_sha256_without_a_previous_model_is_503(infer, classifier):
    publish(infer, classifier, 1, sha256="f" * 64)
    status, body = call(infer, "predict_single")
    assert status == 503
    assert "champion 'demo' version 1 was refused" in body["message"]
    assert "does not match the registered" in body["message"]


def test_non_standard_op_domain_is_refused(infer, classifier):
    publish(infer, classifier, 1, data=tiny_model.custom_domain_model())
    status, body = call(infer, "predict_single")
    assert status == 503
    assert "operator domains outside the standard ones: ['com.example.custom']" in body["message"]


def test_unexpected_errors_are_500_without_a_trace(infer, classifier):
    publish(infer, classifier, 1)
    infer.STORES._dynamodb.meta.client.delete_table(TableName=infer.STORES.predictions_table)
    status, body = call(infer, "predict_single")
    assert (status, body["message"]) == (500, "internal error")
    assert body["request_id"] == infra.lambda_context("InferenceFunction").aws_request_id
    assert "Traceback" not in json.dumps(body) and "ResourceNotFound" not in json.dumps(body)


def test_unknown_route_is_404(infer):
    event = load_event("predict_single")
    event["path"] = event["resource"] = "/nope"
    assert call(infer, event)[0] == 404


# ------------------------------------------------------------------------------------------- feedback
def test_feedback_stores_labels_and_publishes_no_metric(infer, classifier):
    publish(infer, classifier, 1)
    status, body = call(infer, "predict_batch")
    assert status == 200
    p0, p1 = body["predictions"][:2]
    event = load_event("feedback_batch")
    event["body"] = event["body"].replace("PREDICTION_ID_0", p0["prediction_id"]).replace(
        "PREDICTION_ID_1", p1["prediction_id"])
    labels = {p0["prediction_id"]: "gold", p1["prediction_id"]: "bronze"}  # as in the fixture
    expected_quality = {pid: 1.0 if labels[pid] == p["prediction"] else 0.0 for pid, p in
                        ((p0["prediction_id"], p0), (p1["prediction_id"], p1))}

    status, out = call(infer, event)
    assert status == 200, out
    assert out["accepted"] == 2
    assert [r["status"] for r in out["results"]] == ["recorded", "recorded", "unknown_prediction"]
    first_at = {}
    for result in out["results"][:2]:
        assert result["quality"] == expected_quality[result["prediction_id"]]
        assert "duplicate" not in result and "replaced" not in result
        item = prediction_item(infer, result["prediction_id"])
        assert item["label"] == labels[result["prediction_id"]]
        assert "quality" not in item  # quality is computed from the stored labels, by the monitor
        assert datetime.fromisoformat(item["feedback_at"]).utcoffset() == timedelta(0)
        first_at[result["prediction_id"]] = item["feedback_at"]
    assert cloudwatch_metrics() == []

    # a retried request is acknowledged without a write
    status, again = call(infer, event)
    assert status == 200 and again["accepted"] == 2
    assert [r.get("duplicate") for r in again["results"][:2]] == [True, True]
    for pid, at in first_at.items():
        assert prediction_item(infer, pid)["feedback_at"] == at
    assert cloudwatch_metrics() == []


def test_a_different_label_replaces_the_first(infer, classifier):
    publish(infer, classifier, 1)
    pid = call(infer, "predict_single")[1]["predictions"][0]["prediction_id"]
    first = call(infer, with_body(load_event("feedback_single"), {"prediction_id": pid, "label": "gold"}))
    assert first[0] == 200 and "replaced" not in first[1]["results"][0]
    status, out = call(infer, with_body(load_event("feedback_single"), {"prediction_id": pid, "label": "bronze"}))
    assert status == 200, out
    assert out["results"][0] | {"quality": None} == {"prediction_id": pid, "status": "recorded", "quality": None,
                                                     "replaced": True}
    assert prediction_item(infer, pid)["label"] == "bronze"
    assert [i["label"] for i in infer.STORES.predictions.scan()["Items"]] == ["bronze"]


def test_feedback_single_fixture(infer, classifier):
    publish(infer, classifier, 1)
    pid = call(infer, "predict_single")[1]["predictions"][0]["prediction_id"]
    event = load_event("feedback_single")
    event["body"] = event["body"].replace("PREDICTION_ID", pid)
    status, out = call(infer, event)
    assert status == 200 and out["accepted"] == 1 and out["results"][0]["status"] == "recorded"
    assert prediction_item(infer, pid)["label"] == "gold"
    assert cloudwatch_metrics() == []


@pytest.mark.parametrize(("label", "expected"), [
    ("maybe", "label 'maybe' is not one of the model's classes ['bronze', 'gold', 'silver']"),
    (1, "label 1 is not one of the model's classes ['bronze', 'gold', 'silver']"),
    ("Gold", "label 'Gold' is not one of the model's classes ['bronze', 'gold', 'silver']"),
    ("NA", "label 'NA' is a missing value, not a label"),
])
def test_a_classifier_label_must_be_one_of_its_classes(infer, classifier, label, expected):
    publish(infer, classifier, 1)
    pid = call(infer, "predict_single")[1]["predictions"][0]["prediction_id"]
    status, out = call(infer, with_body(load_event("feedback_single"), {"prediction_id": pid, "label": label}))
    assert (status, out["message"]) == (400, expected)
    assert "label" not in prediction_item(infer, pid)


def test_a_bad_label_refuses_the_whole_request(infer, classifier):
    publish(infer, classifier, 1)
    p0, p1 = call(infer, "predict_batch")[1]["predictions"][:2]
    feedback = {"feedback": [{"prediction_id": p0["prediction_id"], "label": "gold"},
                             {"prediction_id": p1["prediction_id"], "label": "platinum"}]}
    status, out = call(infer, with_body(load_event("feedback_batch"), feedback))
    assert (status, out["message"]) == (400, "feedback[1].label 'platinum' is not one of the model's classes "
                                             "['bronze', 'gold', 'silver']")
    assert "label" not in prediction_item(infer, p0["prediction_id"])  # checked before anything was written


def test_feedback_with_only_unknown_ids_is_404(infer):
    status, out = call(infer, "feedback_unknown")
    assert status == 404
    assert out["accepted"] == 0 and out["results"][0]["status"] == "unknown_prediction"
    assert "unknown prediction_id" in out["message"]
    assert cloudwatch_metrics() == []


def test_regression_feedback_uses_the_registered_tolerance(infer, regressor):
    publish(infer, regressor, 1, name="spend", tolerance=1.0)
    records = tiny_model.synthetic_records(2, seed=5)[0]
    preds = call(infer, with_body(load_event("predict_batch"), {"model": "spend", "records": records}))[1]["predictions"]
    near, far = preds[0], preds[1]
    feedback = {"feedback": [{"prediction_id": near["prediction_id"], "label": near["prediction"] + 0.5},
                             {"prediction_id": far["prediction_id"], "label": f" {far['prediction'] - 4} "}]}
    status, out = call(infer, with_body(load_event("feedback_batch"), feedback))
    assert status == 200, out
    assert [r["quality"] for r in out["results"]] == [1.0, 0.0]
    assert [r["abs_error"] for r in out["results"]] == pytest.approx([0.5, 4.0])
    stored = prediction_item(infer, far["prediction_id"])["label"]
    assert isinstance(stored, float) and stored == pytest.approx(far["prediction"] - 4)  # the number, not the text
    assert cloudwatch_metrics() == []

    for bad, expected in [("a lot", 'label "a lot" is not a number'), (True, "label true is a boolean, not a number"),
                          ("NaN", 'label "NaN" is a missing value, not a label'), (1e39, "label 1e+39 is out of range")]:
        status, out = call(infer, with_body(load_event("feedback_single"), {"prediction_id": near["prediction_id"],
                                                                            "label": bad}))
        assert status == 400 and out["message"].startswith(expected), out
    assert prediction_item(infer, near["prediction_id"])["label"] == pytest.approx(near["prediction"] + 0.5)


def test_regression_without_tolerance_reports_the_error_but_no_quality(infer, regressor):
    publish(infer, regressor, 1, name="spend", tolerance=None)
    pred = call(infer, with_body(load_event("predict_single"), {"model": "spend", "record": {"age": 40, "plan": "pro"}}))[1]
    pid = pred["predictions"][0]["prediction_id"]
    status, out = call(infer, with_body(load_event("feedback_single"), {"prediction_id": pid, "label": 10}))
    assert status == 200 and out["results"][0]["quality"] is None
    assert out["results"][0]["abs_error"] == pytest.approx(abs(10 - pred["predictions"][0]["prediction"]))
    assert prediction_item(infer, pid)["label"] == 10.0
    assert cloudwatch_metrics() == []


# ------------------------------------------------------------------------------------------- no scikit-learn
def test_serving_never_imports_scikit_learn(env, classifier, tmp_path):
    """A fresh interpreter imports the handler and serves a prediction; sklearn must not be in sys.modules."""
    model_file = tmp_path / "model.onnx"
    model_file.write_bytes(classifier.onnx_bytes)
    script = textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from moto import mock_aws
        with mock_aws():
            from tests.support import infra
            import boto3
            infra.create_storage()
            from evergreen.onnx_model import sha256_hex
            from evergreen.registry import register_champion
            data = open({str(model_file)!r}, "rb").read()
            boto3.client("s3").put_object(Bucket="artifacts-bucket", Key="models/demo/v000001/model.onnx", Body=data)
            table = boto3.resource("dynamodb").Table("registry-table")
            register_champion(table, "demo", 1, {{"model_key": "models/demo/v000001/model.onnx", "sha256": sha256_hex(data),
                                          "columns": json.loads({json.dumps(classifier.columns)!r})}},
                      expected_version=None)
            before = set(sys.modules)
            started = time.perf_counter()
            import importlib.util
            spec = importlib.util.spec_from_file_location("infer_app", {str(APP)!r})
            app = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(app)
            imported = time.perf_counter() - started
            class Ctx:
                function_name = "InferenceFunction"; memory_limit_in_mb = 1024; aws_request_id = "r-1"
                invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:InferenceFunction"
            event = json.load(open({str(EVENTS / "predict_single.json")!r}))
            response = app.handler(event, Ctx())
            first = time.perf_counter() - started
            heavy = sorted(m for m in sys.modules
                           if m.split(".")[0] in ("sklearn", "skl2onnx", "pandas", "scipy", "pydantic"))
            # moto itself imports yaml, so for yaml: no evergreen module loaded here may import it
            heavy += sorted(m for m in sys.modules if m.split(".")[0] == "evergreen" and any(
                isinstance(v, type(sys)) and v.__name__.split(".")[0] == "yaml" for v in vars(sys.modules[m]).values()))
            print(json.dumps({{"status": response["statusCode"], "heavy": heavy, "import_s": imported,
                               "first_prediction_s": first,
                               "new_modules": len(set(sys.modules) - before)}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == 200, proc.stdout
    assert result["heavy"] == [], f"the inference path imported {result['heavy']}"
    print(f"cold import {result['import_s']:.2f} s, first prediction {result['first_prediction_s']:.2f} s")
