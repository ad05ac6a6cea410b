"""Hostile input to the inference API, through the real handler (functions/infer/app.py) on moto.

Resources come from template.yaml (tests/support/infra.py); the champion is a tiny real ONNX
classifier (tests/support/tiny_model.py, classes bronze/gold/silver) with its data contract, so the
plausibility checks run on every hostile value too. Every case asserts three things:
  1. the answer: its status and a message naming the problem, or, for a documented acceptance,
     the accepted result (e.g. " pro " predicts exactly as "pro");
  2. the champion is unchanged and still serving: a normal /predict afterwards answers 200 with the
     same model version and the same prediction and probabilities as before the case;
  3. no 500, no trace in the answer, no metric put to CloudWatch, and a refused request wrote nothing
     (no prediction logged, no label changed).

Choices documented here:
  - two items for one prediction_id in one /feedback request are refused (400), whatever the labels;
  - a classifier's label is coerced as training coerces its target (NFC, stripped): " gold " is "gold";
  - duplicate JSON keys follow JSON semantics: the last one wins;
  - a value outside what training saw is answered (200) with a short flag naming it, never refused.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen.onnx_model import sha256_hex  # noqa: E402
from evergreen.registry import register_champion  # noqa: E402
from evergreen.storage import contract_key, from_dynamo, model_key  # noqa: E402
from tests.support import infra, tiny_model  # noqa: E402

EVENTS = ROOT / "tests" / "events"
APP = ROOT / "functions" / "infer" / "app.py"
BASE = {"age": 42, "income": "58000.5", "plan": "pro", "region": "north"}
CLASSES = "['bronze', 'gold', 'silver']"


# ------------------------------------------------------------------------------------------- harness
@pytest.fixture(scope="module")
def classifier() -> tiny_model.TinyModel:
    return tiny_model.train_classifier(seed=0)


@pytest.fixture
def infer(monkeypatch, classifier):
    """The handler, freshly imported on moto, serving `classifier` as champion v1 of "demo"."""
    env = infra.stack_env() | {
        "AWS_DEFAULT_REGION": infra.REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_SERVICE_NAME": "inference",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        infra.create_storage()
        spec = importlib.util.spec_from_file_location("infer_app_hostile", APP)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        key, contract = model_key("demo", 1), contract_key("demo", 1)
        module.STORES.s3.put_object(Bucket=module.STORES.artifacts_bucket, Key=key, Body=classifier.onnx_bytes)
        module.STORES.s3.put_object(Bucket=module.STORES.artifacts_bucket, Key=contract,
                                    Body=json.dumps(tiny_model.contract_document(classifier)).encode())
        register_champion(module.STORES.registry, "demo", 1, {
            "model_key": key, "sha256": sha256_hex(classifier.onnx_bytes), "columns": classifier.columns,
            "regression_tolerance": None, "contract_version": 1, "contract_key": contract}, expected_version=None)
        yield module
        module.metrics.clear_metrics()
        module.metrics.clear_default_dimensions()


def event(path: str, body: str | None, *, base64_encoded: bool = False) -> dict[str, Any]:
    fixture = "predict_single" if path == "/predict" else "feedback_single"
    out = json.loads((EVENTS / f"{fixture}.json").read_text())
    out["body"], out["isBase64Encoded"] = body, base64_encoded
    return out


def call(infer, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = infer.handler(event(path, json.dumps(body)), infra.lambda_context("InferenceFunction"))
    return response["statusCode"], json.loads(response["body"])


def normal_prediction(infer) -> tuple[int, int, str, dict[str, float], str]:
    """A v1-style /predict of the documented example: (status, version, prediction, probabilities, id)."""
    status, body = call(infer, "/predict", {"record": BASE})
    assert status == 200, body
    p = body["predictions"][0]
    return status, body["model_version"], p["prediction"], p["probabilities"], p["prediction_id"]


def logged(infer) -> int:
    return infer.STORES.predictions.scan(Select="COUNT")["Count"]


def stored(infer, pid: str) -> dict[str, Any]:
    return from_dynamo(infer.STORES.predictions.get_item(Key={"prediction_id": pid})["Item"])


def cloudwatch_metrics() -> list[dict[str, Any]]:
    import boto3

    return boto3.client("cloudwatch", region_name=infra.REGION).list_metrics(Namespace="Evergreen")["Metrics"]


@dataclass
class Ctx:
    infer: Any
    pid: str  # a fresh prediction (of BASE) that feedback cases label
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """A body sent as this exact text (not JSON-encoded by the test)."""

    text: str


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    body: Any  # a JSON value, a Raw text, or a function of Ctx returning either
    status: int
    message: str | None = None  # must be in the answer's message
    check: Callable[[Ctx, dict[str, Any]], None] | None = None  # more about the answer or what is stored
    before: Callable[[Ctx], None] | None = None  # what happened before the request (e.g. a first label)
    base64: bool = False


def send(ctx: Ctx, case: Case) -> tuple[int, dict[str, Any]]:
    body = case.body(ctx) if callable(case.body) else case.body
    text = body.text if isinstance(body, Raw) else json.dumps(body)
    response = ctx.infer.handler(event(case.path, text, base64_encoded=case.base64),
                                 infra.lambda_context("InferenceFunction"))
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    return response["statusCode"], json.loads(response["body"])


# ------------------------------------------------------------------------------------------- checks
def predicts_like(equivalent: dict[str, Any]) -> Callable[[Ctx, dict[str, Any]], None]:
    """The answer equals a /predict of `equivalent`: the value was coerced exactly to it."""
    def check(ctx: Ctx, body: dict[str, Any]) -> None:
        status, reference = call(ctx.infer, "/predict", {"record": equivalent})
        assert status == 200, reference
        got = [(p["prediction"], p["probabilities"]) for p in body["predictions"]]
        assert got == [(p["prediction"], p["probabilities"]) for p in reference["predictions"]]
    return check


def label_is(expected: Any) -> Callable[[Ctx, dict[str, Any]], None]:
    def check(ctx: Ctx, body: dict[str, Any]) -> None:
        assert stored(ctx.infer, ctx.pid).get("label") == expected
    return check


def first_label(label: Any) -> Callable[[Ctx], None]:
    def before(ctx: Ctx) -> None:
        status, body = call(ctx.infer, "/feedback", {"prediction_id": ctx.pid, "label": label})
        assert status == 200 and body["results"][0]["status"] == "recorded", body
        ctx.state["first_feedback_at"] = stored(ctx.infer, ctx.pid)["feedback_at"]
    return before


def another_prediction(ctx: Ctx) -> None:
    ctx.state["other_pid"] = normal_prediction(ctx.infer)[4]


def stored_once(ctx: Ctx, body: dict[str, Any]) -> None:
    assert body["results"][0] | {"quality": None} == {"prediction_id": ctx.pid, "status": "recorded",
                                                      "quality": None, "duplicate": True}
    item = stored(ctx.infer, ctx.pid)
    assert (item["label"], item["feedback_at"]) == ("gold", ctx.state["first_feedback_at"])  # not written again


def replaced(ctx: Ctx, body: dict[str, Any]) -> None:
    assert body["results"][0] | {"quality": None} == {"prediction_id": ctx.pid, "status": "recorded",
                                                      "quality": None, "replaced": True}
    assert stored(ctx.infer, ctx.pid)["label"] == "bronze"
    labelled = [i for i in ctx.infer.STORES.predictions.scan()["Items"] if "label" in i]
    assert [i["label"] for i in labelled] == ["bronze"]  # one label for the prediction


def one_prediction_each(n: int) -> Callable[[Ctx, dict[str, Any]], None]:
    def check(ctx: Ctx, body: dict[str, Any]) -> None:
        assert len(body["predictions"]) == n and len({p["prediction_id"] for p in body["predictions"]}) == n
    return check


def ignores(*fields: str) -> Callable[[Ctx, dict[str, Any]], None]:
    def check(ctx: Ctx, body: dict[str, Any]) -> None:
        assert body["ignored_fields"] == list(fields)
        predicts_like(BASE)(ctx, body)
    return check


def unknown(ctx: Ctx, body: dict[str, Any]) -> None:
    assert body["accepted"] == 0 and [r["status"] for r in body["results"]] == ["unknown_prediction"]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def with_(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


def flagged(*expected: str) -> Callable[[Ctx, dict[str, Any]], None]:
    """Answered, with these flags, in the response and in the prediction log."""
    def check(ctx: Ctx, body: dict[str, Any]) -> None:
        (p,) = body["predictions"]
        assert p["flags"] == list(expected)
        assert stored(ctx.infer, p["prediction_id"])["flags"] == list(expected)
    return check


def label(value: Any) -> Callable[[Ctx], dict[str, Any]]:
    return lambda ctx: {"prediction_id": ctx.pid, "label": value}


# ------------------------------------------------------------------------------------------- cases
CASES = [
    # -- numeric edge values: coerced exactly as training coerces a CSV cell
    Case("numeric-1e3", "/predict", {"record": with_(age="1e3")}, 200, check=predicts_like(with_(age=1000))),
    Case("numeric-padded", "/predict", {"record": with_(age=" 12 ")}, 200, check=predicts_like(with_(age=12))),
    Case("numeric-NA-missing", "/predict", {"record": with_(age="NA")}, 200, check=predicts_like(with_(age=None))),
    Case("numeric-empty-missing", "/predict", {"record": with_(age="")}, 200, check=predicts_like(with_(age=None))),
    Case("numeric-null-missing", "/predict", {"record": with_(age=None)}, 200,
         check=predicts_like({k: v for k, v in BASE.items() if k != "age"})),
    Case("numeric-NaN-text-missing", "/predict", {"record": with_(age="NaN")}, 200,
         check=predicts_like(with_(age=None))),
    Case("numeric-inf-text", "/predict", {"record": with_(age="inf")}, 400, 'record.age is not a number, got "inf"'),
    Case("numeric-1e39", "/predict", {"record": with_(age=1e39)}, 400,
         "record.age is out of range for a float32 feature, got 1e+39"),
    Case("numeric-1e400-is-infinity", "/predict", Raw('{"record": {"age": 1e400, "plan": "pro"}}'), 400,
         "record.age is out of range for a float32 feature"),
    Case("numeric-10**400-int", "/predict", Raw('{"record": {"age": 1' + "0" * 400 + ', "plan": "pro"}}'), 400,
         "record.age is out of range for a float32 feature"),
    Case("numeric-5000-digit-int", "/predict", Raw('{"record": {"age": 1' + "0" * 5000 + "}}"), 400,
         "request body is not valid JSON: Exceeds the limit (4300 digits)"),
    Case("numeric-true", "/predict", {"record": with_(age=True)}, 400,
         "record.age is a boolean, not a number, got true"),
    Case("numeric-arabic-digits", "/predict", {"record": with_(age="١٢")}, 400, 'record.age is not a number, got "١٢"'),
    Case("numeric-underscores", "/predict", {"record": with_(age="1_000")}, 400,
         'record.age is not a number, got "1_000"'),
    Case("numeric-list", "/predict", {"records": [BASE, with_(income=[1])]}, 400,
         "records[1].income must be a number or a numeric string, not list"),
    # -- categorical edge values
    Case("categorical-padded", "/predict", {"record": with_(plan=" pro ")}, 200, check=predicts_like(BASE)),
    Case("categorical-NA-missing", "/predict", {"record": with_(plan="NA")}, 200,
         check=predicts_like(with_(plan=None))),
    Case("categorical-1024-chars-flag-is-short", "/predict", {"record": with_(plan="p" * 1024)}, 200,
         check=flagged("plan 'pppppppppppppppppppppppppppppppppppp... was not seen in training")),
    Case("numeric-far-out-flagged", "/predict", {"record": with_(age="3e38")}, 200,
         check=flagged("age 3e+38 is above the training range [18.018642, 79.82702]")),
    Case("all-features-null-flagged", "/predict", {"record": {"age": None, "plan": "NA", "customer_id": "c-1"}}, 200,
         check=flagged("4 of 4 features are missing (age, income, plan, ...)")),
    Case("categorical-2000-chars", "/predict", {"record": with_(plan="p" * 2000)}, 400,
         "record.plan is longer than 1024 characters"),
    Case("categorical-surrogate", "/predict", {"record": with_(plan="pro\ud800")}, 400,
         'record.plan is not valid Unicode text (it holds a lone surrogate), got "pro\\ud800"'),
    Case("categorical-object", "/predict", {"record": with_(region={"name": "north"})}, 400,
         "record.region must be a string, a number or null, not dict"),
    Case("categorical-huge-int", "/predict", {"record": with_(region=10**1500)}, 400,
         "record.region is longer than 1024 characters"),
    # -- records and fields
    Case("record-not-object", "/predict", {"records": [BASE, "text"]}, 400,
         "records[1] must be a JSON object, got a string"),
    Case("record-without-features", "/predict", {"record": {"height": 180}}, 400,
         "record has none of the model's features"),
    Case("records-101", "/predict", {"records": [BASE] * 101}, 400, "too many records: 101 (at most 100 per request)"),
    Case("records-100-accepted", "/predict", {"records": [BASE] * 100}, 200, check=one_prediction_each(100)),
    Case("fields-10000-extra", "/predict", {"record": {**BASE, **{f"x{i}": i for i in range(10_000)}}}, 400,
         "record has 10,004 fields (at most 1,000 per record)"),
    Case("field-name-100k-chars", "/predict", {"record": {**BASE, "n" * 100_000: 1}}, 400,
         "record has a field name longer than 256 characters"),
    Case("field-name-surrogate", "/predict", {"record": {**BASE, "a\udc80": 1}}, 400,
         "record has a field name that is not valid Unicode text"),
    Case("duplicate-keys-last-wins", "/predict",
         Raw('{"record": {"age": "forty", "income": "58000.5", "plan": "pro", "region": "north", "age": 42}}'), 200,
         check=predicts_like(BASE)),
    Case("nested-ignored-field-accepted", "/predict", {"record": {**BASE, "deep": nested(200)}}, 200,
         check=ignores("deep")),
    # -- model names
    Case("model-number", "/predict", {"model": 7, "record": BASE}, 400, "'model' must be a model name matching"),
    Case("model-uppercase", "/predict", {"model": "Demo", "record": BASE}, 400, 'got "Demo"'),
    Case("model-path", "/predict", {"model": "../etc/passwd", "record": BASE}, 400, "'model' must be a model name"),
    Case("model-surrogate", "/predict", {"model": "demo\ud800", "record": BASE}, 400, 'got "demo\\ud800"'),
    Case("model-list", "/predict", {"model": ["demo"], "record": BASE}, 400, "got a list"),
    Case("model-empty", "/predict", {"model": "", "record": BASE}, 400, 'got ""'),
    Case("model-unknown-503", "/predict", {"model": "other", "record": BASE}, 503, "no champion model for 'other' yet"),
    Case("model-null-is-default", "/predict", {"model": None, "record": BASE}, 200, check=predicts_like(BASE)),
    # -- bodies
    Case("body-too-large-413", "/predict", {"record": with_(notes="n" * 1_100_000)}, 413,
         "bytes: at most 1,000,000 bytes per request"),
    Case("body-nested-too-deep", "/predict", Raw("[" * 100_000), 400, "request body is nested too deeply"),
    Case("body-raw-surrogate", "/predict", Raw('{"record": {"plan": "\ud800"}}'), 400,
         "request body is not valid Unicode text"),
    Case("body-bad-base64", "/predict", Raw("eyJyZWNvcmQiOi*!"), 400, "request body is not valid base64", base64=True),
    Case("body-base64-not-utf8", "/predict", Raw(base64.b64encode(b'{"record": {"plan": "\xff"}}').decode()), 400,
         "request body is not valid UTF-8", base64=True),
    Case("body-NaN-literal", "/predict", Raw('{"record": {"age": NaN}}'), 400, "NaN is not valid JSON"),
    Case("body-null", "/predict", None, 400, "request body must be a JSON object, got null"),
    Case("body-empty", "/predict", Raw(""), 400, "request body is empty"),
    # -- feedback labels
    Case("label-wrong-class", "/feedback", label("maybe"), 400,
         f"label 'maybe' is not one of the model's classes {CLASSES}", check=label_is(None)),
    Case("label-int-for-string-classes", "/feedback", label(1), 400,
         f"label 1 is not one of the model's classes {CLASSES}", check=label_is(None)),
    Case("label-boolean", "/feedback", label(True), 400, f"label True is not one of the model's classes {CLASSES}"),
    Case("label-infinity", "/feedback", lambda ctx: Raw(f'{{"prediction_id": "{ctx.pid}", "label": 1e400}}'), 400,
         "label inf is not one of the model's classes"),
    Case("label-10000-chars", "/feedback", label("g" * 10_000), 400, "label is longer than 256 characters"),
    Case("label-null", "/feedback", label(None), 400, "label is missing (null is not a label)"),
    Case("label-list", "/feedback", label(["gold"]), 400, "label must be a string, a number or a boolean, got a list"),
    Case("label-object", "/feedback", label({"class": "gold"}), 400, "got an object"),
    Case("label-surrogate", "/feedback", label("\ud800"), 400, "label is not valid Unicode text"),
    Case("label-NA", "/feedback", label("NA"), 400, "label 'NA' is a missing value, not a label"),
    Case("label-padded-is-the-class", "/feedback", label(" gold "), 200, check=label_is("gold")),
    Case("label-same-twice-stored-once", "/feedback", label("gold"), 200, check=stored_once,
         before=first_label("gold")),
    Case("label-changed-replaces", "/feedback", label("bronze"), 200, check=replaced, before=first_label("gold")),
    Case("label-changed-refused-keeps-first", "/feedback", label("platinum"), 400,
         "label 'platinum' is not one of", check=label_is("gold"), before=first_label("gold")),
    Case("two-labels-one-id-refused", "/feedback",
         lambda ctx: {"feedback": [{"prediction_id": ctx.pid, "label": "gold"},
                                   {"prediction_id": ctx.pid, "label": "bronze"}]}, 400,
         "feedback[1].prediction_id repeats feedback[0].prediction_id", check=label_is(None)),
    Case("bad-label-refuses-batch", "/feedback",
         lambda ctx: {"feedback": [{"prediction_id": ctx.pid, "label": "gold"},
                                   {"prediction_id": ctx.state["other_pid"], "label": "platinum"}]}, 400,
         "feedback[1].label 'platinum' is not one of", check=label_is(None), before=another_prediction),
    Case("feedback-101-items", "/feedback",
         lambda ctx: {"feedback": [{"prediction_id": f"{i:032x}", "label": "gold"} for i in range(101)]}, 400,
         "too many feedback items: 101 (at most 100 per request)"),
    # -- feedback ids
    Case("unknown-id-404", "/feedback", {"prediction_id": "0123456789abcdef0123456789abcdef", "label": "gold"}, 404,
         "unknown prediction_id", check=unknown),
    Case("id-number", "/feedback", {"prediction_id": 7, "label": "gold"}, 400,
         "prediction_id must be a non-empty string"),
    Case("id-surrogate", "/feedback", {"prediction_id": "\ud800", "label": "gold"}, 400,
         'prediction_id must be a non-empty string of valid Unicode text (at most 128 characters), got "\\ud800"'),
    Case("id-too-long", "/feedback", {"prediction_id": "a" * 5000, "label": "gold"}, 400, "(at most 128 characters)"),
    Case("feedback-not-list", "/feedback", {"feedback": {"prediction_id": "x"}}, 400,
         "'feedback' must be a list of objects, got an object"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_answered_and_the_champion_keeps_serving(infer, case):
    before = normal_prediction(infer)
    ctx = Ctx(infer, pid=before[4])
    if case.before:
        case.before(ctx)
    label_before = stored(infer, ctx.pid).get("label")
    count_before = logged(infer)

    status, body = send(ctx, case)

    # 1. the answer
    assert status != 500, body
    assert status == case.status, body
    if case.message is not None:
        assert case.message in body["message"], body["message"]
    if case.check is not None:
        case.check(ctx, body)
    # 3. nothing else happened
    assert "Traceback" not in json.dumps(body) and "request_id" not in body
    for p in body.get("predictions", []):  # whatever was sent, a flag stays a short sentence
        assert all(isinstance(f, str) and len(f) <= 200 for f in p.get("flags", [])), p["flags"]
    assert cloudwatch_metrics() == []  # /feedback publishes no metric: quality comes from stored labels
    if status >= 400:
        assert stored(infer, ctx.pid).get("label") == label_before
        if case.path == "/predict":
            assert logged(infer) == count_before
    # 2. the champion is unchanged and still serving
    after = normal_prediction(infer)
    assert after[:4] == before[:4]


def test_the_cases_are_many_distinct_and_each_says_what_it_expects():
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
    assert {c.path for c in CASES} == {"/predict", "/feedback"}
    assert all(c.message for c in CASES if c.status >= 400)  # every refusal names its problem
    assert all(c.check for c in CASES if c.status == 200)  # every acceptance says what was accepted
