"""A drift alarm closes the loop on the real template and state machine (moto): it fires on inputs
alone, its retrain waits for labels (SKIPPED with the reason), the monitor re-arms it once they
arrive, and the retrain that follows learns the shifted inputs. Two alarms for one model at once
start one retrain; the other is recorded with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from evergreen_cli.local.api import invoke_api
from evergreen_cli.local.demo import _records
from evergreen_cli.local.stack import LocalStack
from evergreen.monitoring import alarms
from evergreen.storage import from_dynamo
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.specs import churn_spec

pytestmark = pytest.mark.e2e

MODEL = "shifty"
SPEC = churn_spec(MODEL, "  - family: hist_gradient_boosting\n    grid: {max_iter: [50]}\n",
                  "monitoring: {quality_threshold: 0.3, min_labels: 100, min_predictions: 200, cooldown_minutes: 0}\n")
NUMERIC = ("tenure_months", "monthly_charges", "support_calls", "data_usage_gb", "days_since_login", "age")


def scaled(record: dict) -> dict:
    return {k: (v * 3 + 10 if k in NUMERIC and isinstance(v, float) else v) for k, v in record.items()}


def run_record(stack: LocalStack, run_id: str) -> dict:
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["ExperimentsTableName"])
    return from_dynamo(table.get_item(Key={"run_id": run_id, "sk": "run"}).get("Item") or {})


def finished(stack: LocalStack, known: int, count: int = 1) -> list[dict]:
    """The `count` executions started after the `known` first, once each has ended: their run records."""
    stack.wait_for_new_execution(known + count - 1, timeout=30)
    executions = stack.list_executions()[known:]
    assert len(executions) == count, executions
    return [run_record(stack, stack.wait_for_execution(e["executionArn"], timeout=300)["name"]) for e in executions]


def test_a_drift_alarm_waits_for_labels_then_retrains_and_two_alarms_at_once_start_one_run():
    with pytest.MonkeyPatch.context() as env, LocalStack(root=ROOT, stack_name="evergreen-drift") as stack:
        env.setenv("CHAMPION_TTL_SECONDS", "0")
        s3, bucket = stack.client("s3"), stack.outputs["DataBucketName"]
        s3.put_object(Bucket=bucket, Key=f"specs/{MODEL}.yaml", Body=SPEC.encode())
        s3.put_object(Bucket=bucket, Key=f"uploads/{MODEL}/v1.csv", Body=make_churn(800, seed=1))
        [first] = finished(stack, 0)
        assert first["status"] == "PROMOTED"
        drift_alarm = alarms.alarm_name(stack.outputs["AlarmNamePrefix"], alarms.DRIFT, MODEL)

        # the inputs shift (x3 + 10), no label yet: the drift alarm fires, its retrain waits for labels
        pairs = [(scaled(r), t) for r, t in _records(make_churn(400, seed=2), "churned")]
        served = []
        for i in range(0, len(pairs), 100):
            status, out = invoke_api(stack, "POST", "/predict", {"model": MODEL, "records": [r for r, _ in pairs[i:i + 100]]})
            assert status == 200
            served += out["predictions"]
        now = datetime.now(UTC) + timedelta(seconds=1)
        [tick] = stack.tick_schedules(now, force=True)
        [summary] = tick.payload["models"]
        assert summary["drift"]["drifted_feature_share"] >= summary["drift"]["drift_share"], summary["drift"]
        known = len(stack.list_executions())
        assert (drift_alarm, "ALARM") in {(t.alarm_name, t.state) for t in stack.tick_alarms(now)}
        [waiting] = finished(stack, known)
        assert waiting["trigger"] == "alarm" and waiting["status"] == "SKIPPED"
        assert "'shifty' has no labelled prediction yet" in waiting["reason"] and "needs at least 100" in waiting["reason"]

        # the labels arrive: the monitor re-arms the stuck drift alarm, it fires again, the retrain follows
        _, fb = invoke_api(stack, "POST", "/feedback", {"feedback": [
            {"prediction_id": p["prediction_id"], "label": t} for p, (_, t) in zip(served, pairs)][:100]})
        _, fb2 = invoke_api(stack, "POST", "/feedback", {"feedback": [
            {"prediction_id": p["prediction_id"], "label": t} for p, (_, t) in zip(served, pairs)][100:200]})
        _, fb3 = invoke_api(stack, "POST", "/feedback", {"feedback": [
            {"prediction_id": p["prediction_id"], "label": t} for p, (_, t) in zip(served, pairs)][200:300]})
        assert fb["accepted"] + fb2["accepted"] + fb3["accepted"] == 300
        now += timedelta(minutes=5)
        [tick] = stack.tick_schedules(now, force=True)
        [summary] = tick.payload["models"]
        assert summary["rearmed"] and summary["rearmed"].startswith(f"{drift_alarm}: Evergreen monitor: ")
        known = len(stack.list_executions())
        assert (drift_alarm, "ALARM") in {(t.alarm_name, t.state) for t in stack.tick_alarms(now)}
        [retrain] = finished(stack, known)
        assert retrain["status"] == "PROMOTED", retrain["reason"]
        assert retrain["summary"]["rows"]["raw"] == 300
        status, out = invoke_api(stack, "POST", "/predict", {"model": MODEL, "records": [r for r, _ in pairs[300:]]})
        assert out["model_version"] == 2

        # two alarms for the model at once (quality and drift): one retrain, the other skipped with why
        cloudwatch = stack.client("cloudwatch")
        names = [alarms.alarm_name(stack.outputs["AlarmNamePrefix"], kind, MODEL) for kind in (alarms.QUALITY, alarms.DRIFT)]
        for name in names:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test: armed")
        now += timedelta(minutes=30)
        cloudwatch.put_metric_data(Namespace="Evergreen", MetricData=[
            {"MetricName": metric, "Dimensions": [{"Name": "Model", "Value": MODEL}], "Timestamp": now, "Value": value}
            for metric, value in (("PredictionQuality", 0.1), ("DriftedFeatureShare", 0.9))])
        known = len(stack.list_executions())
        assert {(t.alarm_name, t.state) for t in stack.tick_alarms(now)} == {(name, "ALARM") for name in names}
        records = finished(stack, known, count=2)
        assert sorted(r["status"] for r in records) in (["PROMOTED", "SKIPPED"], ["REJECTED", "SKIPPED"]), records
        [skipped] = [r for r in records if r["status"] == "SKIPPED"]
        assert "is in progress; this alarm's retrain is skipped" in skipped["reason"], skipped["reason"]  # cooldown 0
