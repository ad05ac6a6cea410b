"""functions/monitor/app.py on moto: a scheduled event in, each champion's quality in CloudWatch out.

Tables come from template.yaml's own definitions (tests/support/infra.py) and the function's settings
from its Environment in the template (parameter defaults), so the test cannot drift from the stack.
Expected values are computed here with numpy from the labels the test stored.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen import prediction_log  # noqa: E402
from evergreen.registry import alias_sk  # noqa: E402
from evergreen.storage import to_dynamo  # noqa: E402
from tests.support import infra  # noqa: E402

APP = ROOT / "functions" / "monitor" / "app.py"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
# What EventBridge sends a scheduled rule's target (the rule ARN is the template's, by its logical id).
SCHEDULED_EVENT = {
    "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/monitor-function-schedule"],
    "detail": {},
}


@dataclass
class FakeLambdaContext:
    function_name: str = "MonitorFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:MonitorFunction"
    aws_request_id: str = "6f1a2b3d-0000-4000-8000-00000000abcd"
    log_group_name: str = "/aws/lambda/MonitorFunction"
    log_stream_name: str = "2026/11/23/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def function_env(logical_id: str) -> dict[str, str]:
    """The function's own Environment in template.yaml, !Ref parameters at their defaults."""
    parameters = infra.template()["Parameters"]
    variables = infra.resource(logical_id)["Properties"].get("Environment", {}).get("Variables", {})
    return {k: str(parameters[v["Ref"]]["Default"] if isinstance(v, dict) else v) for k, v in variables.items()}


ENV = function_env("MonitorFunction")
WINDOW = timedelta(minutes=float(ENV["QUALITY_WINDOW_MINUTES"]))
MIN_LABELS = int(ENV["QUALITY_MIN_LABELS"])


class CountingCloudWatch:
    """The real (moto) client, with its put_metric_data calls recorded."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, []

    def put_metric_data(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.client.put_metric_data(**kwargs)


@pytest.fixture
def env(monkeypatch) -> dict[str, str]:
    values = infra.stack_env() | ENV | {
        "AWS_DEFAULT_REGION": infra.REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def monitor(env):
    """A fresh import of functions/monitor/app.py on moto (config and clients are made at import)."""
    with mock_aws():
        infra.create_storage()
        spec = importlib.util.spec_from_file_location("monitor_app_under_test", APP)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.CLOUDWATCH = CountingCloudWatch(module.CLOUDWATCH)
        yield module


def champion(module, model: str, version: int, **record: Any) -> None:
    """The registry's champion alias item, as promote leaves it (only what the monitor reads matters)."""
    module.STORES.registry.put_item(Item=to_dynamo({"model_name": model, "sk": alias_sk("champion"),
                                                    "version": version, **record}))


def log_predictions(module, model: str, version: int, predictions: list[Any], *, age: timedelta,
                    tolerance: float | None = None) -> list[str]:
    """Prediction-log items as inference writes them, created `age` before the tick."""
    kind = "classification" if isinstance(predictions[0], str) else "regression"
    created = (NOW - age).isoformat(timespec="milliseconds")
    items = [{"prediction_id": f"{model}-v{version}-{age.total_seconds():g}-{i}", "model_name": model,
              "model_version": version, "problem_type": kind, "created_at": created,
              "expires_at": int((NOW + timedelta(days=90)).timestamp()), "features": {"x": i}, "prediction": p,
              **({"regression_tolerance": tolerance} if tolerance is not None else {})}
             for i, p in enumerate(predictions)]
    prediction_log.write(module.STORES.predictions, items)
    return [i["prediction_id"] for i in items]


def label(module, ids: list[str], labels: list[Any]) -> None:
    for pid, y in zip(ids, labels, strict=True):
        assert prediction_log.set_label(module.STORES.predictions, pid, y, NOW.isoformat())


def published(module, model: str, metric: str) -> float | None:
    """The one datapoint of `metric` for `model` around the tick, as CloudWatch returns it (None: none)."""
    points = module.CLOUDWATCH.client.get_metric_statistics(
        Namespace=infra.stack_env()["METRICS_NAMESPACE"], MetricName=metric,
        Dimensions=[{"Name": "Model", "Value": model}], StartTime=NOW - timedelta(minutes=5),
        EndTime=NOW + timedelta(minutes=5), Period=600, Statistics=["SampleCount", "Average"])["Datapoints"]
    if not points:
        return None
    [point] = points
    assert point["SampleCount"] == 1, f"{model} {metric}: {point}"
    return point["Average"]


# ------------------------------------------------------------------------------------------- tests
def test_each_champion_gets_its_window_quality_in_one_put_metric_data(monitor):
    rng = np.random.default_rng(0)
    classes = np.array(["no", "yes"])

    # churn: classifier v2 is the champion. 60 labelled predictions of v2 in the window, 5 of them
    # relabelled (the second label replaces the first); 20 of v1 (not v2's fault); 10 too old; 15 unlabelled.
    champion(monitor, "churn", 2, quality_threshold=0.7)
    predicted = rng.choice(classes, 60)
    truth = np.where(rng.random(60) < 0.8, predicted, rng.choice(classes, 60))
    ids = log_predictions(monitor, "churn", 2, list(predicted), age=timedelta(minutes=10))
    label(monitor, ids[:5], ["maybe"] * 5)  # a first, wrong label...
    label(monitor, ids, list(truth))  # ...replaced
    label(monitor, log_predictions(monitor, "churn", 1, ["no"] * 20, age=timedelta(minutes=30)), ["yes"] * 20)
    label(monitor, log_predictions(monitor, "churn", 2, ["no"] * 10, age=WINDOW + timedelta(minutes=1)), ["yes"] * 10)
    log_predictions(monitor, "churn", 2, ["no"] * 15, age=timedelta(minutes=1))

    # price: regressor v1; 40 labels in the window, judged within the tolerance stored on each prediction.
    champion(monitor, "price", 1, quality_threshold=0.7, regression_tolerance=5.0)
    guess = rng.normal(100, 20, 40).round(3)
    actual = (guess + rng.normal(0, 5, 40)).round(3)
    label(monitor, log_predictions(monitor, "price", 1, list(map(float, guess)), age=timedelta(minutes=20),
                                   tolerance=5.0), list(map(float, actual)))

    # tiny: fewer labels than the minimum: only the count is published.
    champion(monitor, "tiny", 1)
    few = MIN_LABELS - 1
    label(monitor, log_predictions(monitor, "tiny", 1, ["a"] * few, age=timedelta(minutes=5)), ["b"] * few)

    result = monitor.handler(SCHEDULED_EVENT, FakeLambdaContext())
    json.dumps(result)

    assert len(monitor.CLOUDWATCH.calls) == 1
    by_model = {m["model_name"]: m for m in result["models"]}
    assert list(by_model) == ["churn", "price", "tiny"]

    churn_quality = float(np.mean(predicted == truth))
    assert by_model["churn"] == {
        "model_name": "churn", "version": 2, "labels": 60, "other_versions": 20, "quality": pytest.approx(churn_quality),
        "mean_abs_error": None, "threshold": 0.7, "published": True,
        "metrics": ["LabelledPredictions", "PredictionQuality"], "reason": None}
    assert published(monitor, "churn", "PredictionQuality") == pytest.approx(churn_quality)
    assert published(monitor, "churn", "LabelledPredictions") == 60
    assert published(monitor, "churn", "MeanAbsoluteError") is None

    errors = np.abs(actual - guess)
    assert by_model["price"]["quality"] == pytest.approx(float(np.mean(errors <= 5.0)))
    assert published(monitor, "price", "PredictionQuality") == pytest.approx(float(np.mean(errors <= 5.0)))
    assert published(monitor, "price", "MeanAbsoluteError") == pytest.approx(float(np.mean(errors)))
    assert published(monitor, "price", "LabelledPredictions") == 40

    tiny = by_model["tiny"]
    assert (tiny["labels"], tiny["quality"], tiny["published"], tiny["metrics"]) == (few, 0.0, False, ["LabelledPredictions"])
    assert tiny["reason"] == (f"{few} labelled predictions of v1 in the last {WINDOW.total_seconds() / 60:g} min, "
                              f"fewer than the {MIN_LABELS} needed")
    assert published(monitor, "tiny", "PredictionQuality") is None
    assert published(monitor, "tiny", "LabelledPredictions") == few

    [call] = monitor.CLOUDWATCH.calls
    assert call["Namespace"] == infra.stack_env()["METRICS_NAMESPACE"]
    assert {d["Timestamp"] for d in call["MetricData"]} == {NOW}  # the scheduled time ends the window
    assert result["window_end"] == NOW.isoformat(timespec="milliseconds")
    assert result["window_start"] == (NOW - WINDOW).isoformat(timespec="milliseconds")


def test_a_repeated_or_relabelled_prediction_counts_once(monitor):
    champion(monitor, "churn", 1)
    ids = log_predictions(monitor, "churn", 1, ["yes"] * MIN_LABELS, age=timedelta(minutes=1))
    label(monitor, ids, ["yes"] * MIN_LABELS)
    label(monitor, ids, ["yes"] * MIN_LABELS)  # a retried /feedback
    label(monitor, ids[:10], ["no"] * 10)  # a correction: the latest label is the one stored
    [first] = monitor.handler(SCHEDULED_EVENT, FakeLambdaContext())["models"]
    assert (first["labels"], first["quality"]) == (MIN_LABELS, pytest.approx((MIN_LABELS - 10) / MIN_LABELS))


def test_regression_without_a_tolerance_publishes_its_error_not_a_quality(monitor):
    champion(monitor, "price", 3)
    guess = [float(v) for v in range(MIN_LABELS)]
    label(monitor, log_predictions(monitor, "price", 3, guess, age=timedelta(minutes=2)), [g + 2.0 for g in guess])
    [summary] = monitor.handler(SCHEDULED_EVENT, FakeLambdaContext())["models"]
    assert summary["metrics"] == ["LabelledPredictions", "MeanAbsoluteError"] and not summary["published"]
    assert summary["reason"] == "v3 is a regression without a tolerance: its quality cannot be judged"
    assert published(monitor, "price", "MeanAbsoluteError") == pytest.approx(2.0)
    assert published(monitor, "price", "PredictionQuality") is None


def test_no_champion_no_call_and_a_manual_invocation_ends_the_window_now(monitor):
    result = monitor.handler({}, FakeLambdaContext())
    assert result["models"] == [] and monitor.CLOUDWATCH.calls == []
    end = datetime.fromisoformat(result["window_end"])
    assert abs((datetime.now(UTC) - end).total_seconds()) < 60


def test_the_template_grants_the_monitor_only_what_it_uses():
    props = infra.resource("MonitorFunction")["Properties"]
    [policy] = props["Policies"]
    grants = {tuple(s["Action"]): s for s in policy["Statement"]}
    assert set(grants) == {("dynamodb:Scan",), ("dynamodb:Query",), ("cloudwatch:PutMetricData",)}
    assert grants[("dynamodb:Scan",)]["Resource"] == {"Fn::GetAtt": ["RegistryTable", "Arn"]}
    assert grants[("dynamodb:Query",)]["Resource"] == {"Fn::Sub": "${PredictionsTable.Arn}/index/ByModel"}
    assert grants[("cloudwatch:PutMetricData",)]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": infra.stack_env()["METRICS_NAMESPACE"]}}
    schedule = props["Events"]["Schedule"]
    assert schedule["Type"] == "Schedule"
    assert schedule["Properties"]["Schedule"] == {"Fn::FindInMap": ["MonitorSchedule", {"Ref": "MonitorScheduleMinutes"}, "Rate"]}
    alarm = infra.resource("ModelQualityAlarm")["Properties"]
    assert alarm["Period"] == {"Fn::FindInMap": ["MonitorSchedule", {"Ref": "MonitorScheduleMinutes"}, "Seconds"]}
    assert (alarm["MetricName"], alarm["Statistic"], alarm["TreatMissingData"]) == ("PredictionQuality", "Average", "notBreaching")
    for minutes, row in infra.template()["Mappings"]["MonitorSchedule"].items():
        assert row["Seconds"] == 60 * int(minutes)
        assert row["Rate"] == (f"rate({minutes} minute)" if minutes == "1" else f"rate({minutes} minutes)")
