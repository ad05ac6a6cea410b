"""Two models in one stack: each gets its own alarms from its own spec, and an alarm on one retrains
only that one (the real template and state machine on moto)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evergreen_cli.local.api import invoke_api
from evergreen_cli.local.demo import _records, quality_alarm_name
from evergreen_cli.local.stack import LocalStack
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.specs import churn_spec

pytestmark = pytest.mark.e2e

def spec(name: str, threshold: float) -> str:
    return churn_spec(name, "  - family: logistic_regression\n    grid: {C: [1.0]}\n",
                      f"monitoring: {{quality_threshold: {threshold}, min_labels: 50}}\n")


def test_each_model_has_its_own_alarms_and_an_alarm_retrains_only_its_model():
    with pytest.MonkeyPatch.context() as env, LocalStack(root=ROOT, stack_name="evergreen-two") as stack:
        env.setenv("CHAMPION_TTL_SECONDS", "0")
        s3, bucket = stack.client("s3"), stack.outputs["DataBucketName"]
        for name, threshold in (("alpha", 0.7), ("beta", 0.65)):
            s3.put_object(Bucket=bucket, Key=f"specs/{name}.yaml", Body=spec(name, threshold))
            known = len(stack.list_executions())
            s3.put_object(Bucket=bucket, Key=f"uploads/{name}/v1.csv", Body=make_churn(600, seed=1))
            execution = stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=300)
            assert execution["status"] == "SUCCEEDED"
        cloudwatch = stack.client("cloudwatch")
        thresholds = {a["AlarmName"]: a["Threshold"] for a in cloudwatch.describe_alarms(
            AlarmNamePrefix=f"{stack.stack_name}-quality-")["MetricAlarms"]}
        assert thresholds == {quality_alarm_name(stack.outputs, "alpha"): 0.7,
                              quality_alarm_name(stack.outputs, "beta"): 0.65}

        # beta's world shifts; alpha's does not
        for name, drift in (("alpha", 0.0), ("beta", 1.0)):
            pairs = _records(make_churn(300, seed=8, drift=drift), "churned")
            for i in range(0, len(pairs), 100):
                chunk = pairs[i:i + 100]
                _, out = invoke_api(stack, "POST", "/predict", {"model": name, "records": [r for r, _ in chunk]})
                _, fb = invoke_api(stack, "POST", "/feedback", {"feedback": [
                    {"prediction_id": p["prediction_id"], "label": t} for p, (_, t) in zip(out["predictions"], chunk)]})
                assert fb["accepted"] == len(chunk)
        known = len(stack.list_executions())
        now = datetime.now(UTC)
        [tick] = stack.tick_schedules(now, force=True)
        quality = {m["model_name"]: m["quality"] for m in tick.payload["models"]}
        assert quality["alpha"] > 0.7 and quality["beta"] < 0.65, quality
        fired = {t.alarm_name: t.state for t in stack.tick_alarms(now) if "-quality-" in t.alarm_name}
        assert fired.get(quality_alarm_name(stack.outputs, "beta")) == "ALARM"
        assert fired.get(quality_alarm_name(stack.outputs, "alpha"), "OK") == "OK"
        execution = stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=300)
        detail = stack.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])
        assert '"Model": "beta"' in detail["input"] or '"Model":"beta"' in detail["input"]
        assert len(stack.list_executions()) == known + 1  # one retrain: beta's
