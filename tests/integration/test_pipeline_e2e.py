"""The real template.yaml and statemachines/pipeline.asl.json, end to end on moto's own interpreter.

One local stack per module (moto's backends are global); tests run in order and build on v1.
"""

from __future__ import annotations

import hashlib
import importlib

import boto3
import pytest

from evergreen import registry, run_records
from evergreen.contracts import ParityReport
from evergreen_cli.local.api import invoke_api
from evergreen_cli.local.stack import LocalStack
from evergreen.spec import dump_spec, parse_spec
from evergreen.storage import from_dynamo
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.specs import churn_spec

pytestmark = pytest.mark.e2e

SPEC = parse_spec(churn_spec("churn", """  - family: logistic_regression
    grid: {C: [1.0]}
  - family: decision_tree
    grid: {max_depth: [4]}
"""))


@pytest.fixture(scope="module")
def stack():
    # inference re-reads the champion alias at most every CHAMPION_TTL_SECONDS (30 on AWS); here: every request
    with pytest.MonkeyPatch.context() as env, LocalStack(
            root=ROOT, parameters={"ModelName": "churn"},
            stack_name="evergreen-e2e") as s:
        env.setenv("CHAMPION_TTL_SECONDS", "0")
        s.client("s3").put_object(Bucket=s.outputs["DataBucketName"], Key="specs/churn.yaml",
                                  Body=dump_spec(SPEC).encode())
        yield s


def upload_and_wait(stack, name: str, body: bytes, model: str = "churn") -> dict:
    known = len(stack.list_executions())
    stack.client("s3").put_object(Bucket=stack.outputs["DataBucketName"], Key=f"uploads/{model}/{name}", Body=body)
    execution = stack.wait_for_new_execution(known)
    return stack.wait_for_execution(execution["executionArn"], timeout=300)


def run_record(stack, run_id: str) -> dict:
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["ExperimentsTableName"])
    return from_dynamo(table.get_item(Key={"run_id": run_id, "sk": "run"})["Item"])


def champion(stack) -> dict | None:
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["RegistryTableName"])
    return registry.get_alias(table, "churn")


def predict_version(stack) -> int:
    status, body = invoke_api(stack, "POST", "/predict", {"model": "churn", "record": {"tenure_months": 3, "contract": "one-year"}})
    assert status == 200, body
    return body["model_version"]


def check_cost(stack, execution: dict, rec: dict) -> None:
    """The run record's cost (evergreen.cost) agrees with the execution's history, the functions'
    memory and the trial records: what moto's interpreter records is what FinishRun read."""
    spent, sfn = rec["summary"]["cost"], stack.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [e for e in history if e["type"].endswith("StateEntered")]
    # FinishRun read the history before the Succeed state; each of the two trials is a child execution
    assert entered[-1]["type"] == "SucceedStateEntered"
    assert spent["state_transitions"] == len(entered) - 1 + 2
    ingest = spent["steps"]["Ingest"]
    memory = stack.client("lambda").get_function_configuration(FunctionName=stack.function_name("IngestFunction"))["MemorySize"]
    assert ingest["invocations"] == 1 and ingest["seconds"] > 0
    assert ingest["gb_seconds"] == pytest.approx(ingest["seconds"] * memory / 1024, abs=1e-3)
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["ExperimentsTableName"])
    trials = [t for t in run_records.run_trials(table, execution["name"]) if not t["candidate_id"].endswith("-refit")]
    assert spent["steps"]["Train"] == {"invocations": 2, "gb_seconds": pytest.approx(sum(t["gb_seconds"] for t in trials), abs=1e-3)}
    assert spent["steps"]["Train"]["gb_seconds"] > 0 and spent["steps"]["RecordPromotion"]["invocations"] == 1
    assert spent["usd"]["total"] > spent["usd"]["step_functions"] > 0


def test_an_upload_trains_registers_and_promotes_v1(stack):
    execution = upload_and_wait(stack, "first.csv", make_churn(600, seed=1))
    assert execution["status"] == "SUCCEEDED"
    rec = run_record(stack, execution["name"])
    assert rec["status"] == "PROMOTED" and rec["trigger"] == "upload" and "v1 promoted" in rec["reason"]
    assert rec["summary"]["trials"] == {"total": 2, "failed": 0}
    check_cost(stack, execution, rec)

    champ = champion(stack)
    assert champ["version"] == 1 and champ["run_id"] == execution["name"]
    body = stack.client("s3").get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=champ["model_key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == champ["sha256"]
    assert champ["model_key"] == "models/churn/v000001/model.onnx"
    assert predict_version(stack) == 1


@pytest.mark.parametrize("name,body,reason", [
    ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)), "not UTF-8"),
    ("no-target.csv", b"tenure_months,contract\n" + b"1,one-year\n" * 200, "target column 'churned' not found"),
    ("tiny.csv", make_churn(30, seed=3), "requires at least 100"),
])
def test_bad_uploads_fail_with_a_clear_reason_and_the_champion_keeps_serving(stack, name, body, reason):
    before = champion(stack)
    execution = upload_and_wait(stack, name, body)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "DataError" and reason in execution["cause"]
    rec = run_record(stack, execution["name"])
    assert rec["status"] == "FAILED" and reason in rec["reason"]
    assert champion(stack) == before and predict_version(stack) == 1
    # the raw upload is kept
    stack.client("s3").head_object(Bucket=stack.outputs["DataBucketName"], Key=f"uploads/churn/{name}")


def test_an_upload_for_a_model_without_a_spec_fails_naming_the_spec_path(stack):
    execution = upload_and_wait(stack, "data.csv", make_churn(200, seed=4), model="nospec")
    assert execution["status"] == "FAILED" and "no spec for model 'nospec'" in execution["cause"]


@pytest.mark.parametrize("step", ["ingest", "train", "evaluate", "export_onnx", "promote"])
def test_a_lambda_failure_in_any_step_leaves_the_champion_untouched(stack, monkeypatch, step):
    module = importlib.import_module(f"evergreen.steps.{step}")

    def broken(*args, **kwargs):
        raise RuntimeError(f"injected failure in {step}")

    monkeypatch.setattr(module, "run", broken)
    before = champion(stack)
    # drifted data: without the failure this challenger would replace v1
    execution = upload_and_wait(stack, f"drifted-{step}.csv", make_churn(600, seed=5, drift=1.0))
    assert execution["status"] == "FAILED"
    rec = run_record(stack, execution["name"])
    assert rec["status"] == "FAILED" and f"injected failure in {step}" in rec["reason"]
    if step == "train":  # crashed trials are failed trials; with none left the run fails
        assert rec["reason"].startswith("NoViableCandidate: all 2 candidates failed")
    assert champion(stack) == before and predict_version(stack) == 1


def test_a_failed_parity_check_rejects_the_candidate_not_the_service(stack, monkeypatch):
    from evergreen import export

    monkeypatch.setattr(export, "check_parity", lambda *a, **k: ParityReport(
        rows=10, tolerance=1e-4, max_abs_diff=0.5, label_agreement=0.7, passed=False))
    execution = upload_and_wait(stack, "drifted-parity.csv", make_churn(600, seed=6, drift=1.0))
    assert execution["status"] == "SUCCEEDED"
    rec = run_record(stack, execution["name"])
    assert rec["status"] == "REJECTED" and "parity check failed" in rec["reason"]
    assert champion(stack)["version"] == 1


def test_a_candidate_failing_parity_is_skipped_for_the_next_best(stack, monkeypatch):
    from evergreen import export

    real, calls = export.check_parity, []

    def first_fails(*args, **kwargs):
        calls.append(1)
        report = real(*args, **kwargs)
        return report.model_copy(update={"passed": False, "max_abs_diff": 0.9}) if len(calls) == 1 else report

    monkeypatch.setattr(export, "check_parity", first_fails)
    before = champion(stack)
    execution = upload_and_wait(stack, "same-world.csv", make_churn(600, seed=9))
    rec = run_record(stack, execution["name"])
    assert execution["status"] == "SUCCEEDED" and len(calls) == 2
    assert rec["summary"]["challenger"] != rec["summary"]["best_trial"]
    assert "after skipping: ONNX parity check failed for " + rec["summary"]["best_trial"] in rec["summary"]["export"]["reason"]
    assert champion(stack) == before or rec["status"] == "PROMOTED"


def test_the_quality_alarm_closes_the_loop(stack):
    """Labels on shifted data -> the monitor's window quality falls -> alarm -> retraining on the labels -> v2,
    whose own quality (judged apart from v1's predictions) clears the alarm."""
    from datetime import UTC, datetime, timedelta

    from evergreen_cli.local.demo import _records, quality_alarm_name

    def label_shifted(n: int, seed: int) -> int:
        shifted = _records(make_churn(n, seed=seed, drift=1.0), "churned")
        for i in range(0, len(shifted), 100):
            chunk = shifted[i:i + 100]
            status, out = invoke_api(stack, "POST", "/predict", {"model": "churn", "records": [r for r, _ in chunk]})
            assert status == 200
            status, fb = invoke_api(stack, "POST", "/feedback", {"feedback": [
                {"prediction_id": p["prediction_id"], "label": truth} for p, (_, truth) in zip(out["predictions"], chunk)]})
            assert status == 200 and fb["accepted"] == len(chunk)
        return out["model_version"]

    def monitor(now: datetime) -> dict:
        [tick] = stack.tick_schedules(now, force=True)  # moto never fires schedules; this is one scheduled run
        assert tick.error is None, tick.payload
        [summary] = [m for m in tick.payload["models"] if m["model_name"] == "churn"]
        return summary

    name = quality_alarm_name(stack.outputs, "churn")  # put by promote from the spec
    alarm = stack.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert alarm["Threshold"] == SPEC.monitoring.quality_threshold
    known = len(stack.list_executions())
    assert label_shifted(400, seed=8) == 1
    now = datetime.now(UTC)
    v1 = monitor(now)
    assert (v1["version"], v1["labels"], v1["published"]) == (1, 400, True)
    assert v1["quality"] < alarm["Threshold"]
    [transition] = [t for t in stack.tick_alarms(now) if t.alarm_name == name]
    assert transition.state == "ALARM"
    assert transition.datapoints == (pytest.approx(v1["quality"]),)  # the alarm reads what the monitor put

    execution = stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=300)
    assert execution["status"] == "SUCCEEDED"
    rec = run_record(stack, execution["name"])
    assert rec["trigger"] == "alarm" and rec["status"] == "PROMOTED", rec
    assert "beats champion v1" in rec["reason"]
    assert champion(stack)["version"] == 2 and predict_version(stack) == 2

    # One schedule period later: v2 has served and been labelled; its quality alone is judged.
    assert label_shifted(100, seed=10) == 2
    later = max(datetime.now(UTC), now + timedelta(seconds=alarm["Period"]))
    v2 = monitor(later)
    assert (v2["version"], v2["labels"], v2["other_versions"]) == (2, 100, 400)
    assert v2["quality"] > alarm["Threshold"] > v1["quality"]
    [recovered] = [t for t in stack.tick_alarms(later) if t.alarm_name == name]
    assert (recovered.previous, recovered.state, recovered.datapoints) == ("ALARM", "OK", (pytest.approx(v2["quality"]),))
