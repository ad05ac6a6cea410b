"""functions/monitor/app.py on moto: a scheduled event in, each champion's quality and drift in CloudWatch out.

Tables and buckets come from template.yaml's own definitions (tests/support/infra.py), the function's
environment from the template, and each model's settings from its champion's registry record (the
spec's `monitoring`, MonitoringSpec's defaults for a record without it), so the test cannot drift from
the stack. Expected values are computed here with numpy from what the test stored.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evergreen.table import Table
from evergreen import data, prediction_log  # noqa: E402
from evergreen.contracts import ColumnSchema  # noqa: E402
from evergreen.monitoring.drift import MODERATE, prediction_profile  # noqa: E402
from evergreen.monitoring.profile import profile as training_profile  # noqa: E402
from evergreen.registry import alias_sk  # noqa: E402
from evergreen.spec import MonitoringSpec  # noqa: E402
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


def function_env(logical_id: str) -> dict[str, str]:
    """The function's own Environment in template.yaml, !Ref parameters at their defaults and the stack
    name as "stack"."""
    parameters = {**infra.template()["Parameters"], "AWS::StackName": {"Default": "stack"}}
    variables = infra.resource(logical_id)["Properties"].get("Environment", {}).get("Variables", {})
    return {k: str(parameters[v["Ref"]]["Default"] if isinstance(v, dict) else v) for k, v in variables.items()}


ENV = function_env("MonitorFunction")
DEFAULTS = MonitoringSpec()  # what a champion registered without a `monitoring` record is monitored with
WINDOW = timedelta(minutes=DEFAULTS.window_minutes)
MIN_LABELS = DEFAULTS.min_labels
MIN_PREDICTIONS = DEFAULTS.min_predictions


class CountingCloudWatch:
    """The real (moto) client, with its put_metric_data calls recorded."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, []

    def put_metric_data(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.client.put_metric_data(**kwargs)

    def __getattr__(self, name: str) -> Any:  # describe_alarms, set_alarm_state: straight to moto
        return getattr(self.client, name)


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


DRIFT_METRICS = ("DriftedFeatureShare", "PredictionDrift", "UnseenCategoryRate", "OutOfRangeRate",
                 "MissingRateIncrease", "EstimatedQuality")
NO_DRIFT = {"min_predictions": MIN_PREDICTIONS, "drift_threshold": DEFAULTS.drift_threshold,
            "drift_share": DEFAULTS.drift_share, "drifted_feature_share": None, "drifted_features": [],
            "prediction_drift": None, "unseen_category_rate": None, "out_of_range_rate": None,
            "missing_rate_increase": None, "estimated_quality": None, "features": {}, "metrics": [],
            "not_published": {}}


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

    result = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))
    json.dumps(result)

    assert len(monitor.CLOUDWATCH.calls) == 1
    by_model = {m["model_name"]: m for m in result["models"]}
    assert list(by_model) == ["churn", "price", "tiny"]

    churn_quality = float(np.mean(predicted == truth))
    assert by_model["churn"] == {
        "model_name": "churn", "version": 2, "window_start": (NOW - WINDOW).isoformat(timespec="milliseconds"),
        "window_minutes": DEFAULTS.window_minutes, "min_labels": MIN_LABELS,
        "cooldown_minutes": DEFAULTS.cooldown_minutes, "rearmed": None,
        "labels": 60, "other_versions": 20, "quality": pytest.approx(churn_quality),
        "mean_abs_error": None, "threshold": 0.7, "published": True,
        "metrics": ["LabelledPredictions", "PredictionQuality"], "reason": None,
        # 60 + 15 predictions of v2 in the window (v1's and the old ones are not v2's): too few to judge drift
        "drift": {**NO_DRIFT, "predictions": 75, "used": 75,
                  "reason": f"75 predictions of v2 in the last 60 min, fewer than the {MIN_PREDICTIONS} needed"}}
    for metric in DRIFT_METRICS:
        assert published(monitor, "churn", metric) is None
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
    [first] = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))["models"]
    assert (first["labels"], first["quality"]) == (MIN_LABELS, pytest.approx((MIN_LABELS - 10) / MIN_LABELS))


def test_regression_without_a_tolerance_publishes_its_error_not_a_quality(monitor):
    champion(monitor, "price", 3)
    guess = [float(v) for v in range(MIN_LABELS)]
    label(monitor, log_predictions(monitor, "price", 3, guess, age=timedelta(minutes=2)), [g + 2.0 for g in guess])
    [summary] = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))["models"]
    assert summary["metrics"] == ["LabelledPredictions", "MeanAbsoluteError"] and not summary["published"]
    assert summary["reason"] == "v3 is a regression without a tolerance: its quality cannot be judged"
    assert published(monitor, "price", "MeanAbsoluteError") == pytest.approx(2.0)
    assert published(monitor, "price", "PredictionQuality") is None


def test_no_champion_no_call_and_a_manual_invocation_ends_the_window_now(monitor):
    result = monitor.handler({}, infra.lambda_context("MonitorFunction", 256, 120_000))
    assert result["models"] == [] and monitor.CLOUDWATCH.calls == []
    end = datetime.fromisoformat(result["window_end"])
    assert abs((datetime.now(UTC) - end).total_seconds()) < 60


def test_the_template_grants_the_monitor_only_what_it_uses():
    props = infra.resource("MonitorFunction")["Properties"]
    # its settings are each champion's (the spec's monitoring), not the stack's: only where the alarms are
    assert props["Environment"]["Variables"] == {"ALARM_PREFIX": {"Ref": "AWS::StackName"}}
    [policy] = props["Policies"]
    grants = {tuple(s["Action"]): s for s in policy["Statement"]}
    registry_moves = ("dynamodb:Scan", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem",
                      "dynamodb:ConditionCheckItem")  # a rollout's end: one audited transaction
    assert set(grants) == {registry_moves, ("dynamodb:Query",), ("s3:GetObject",), ("cloudwatch:PutMetricData",),
                           ("cloudwatch:DescribeAlarms", "cloudwatch:SetAlarmState"), ("dynamodb:GetItem",)}
    assert grants[registry_moves]["Resource"] == {"Fn::GetAtt": ["RegistryTable", "Arn"]}
    assert grants[("dynamodb:GetItem",)]["Resource"] == {"Fn::GetAtt": ["ExperimentsTable", "Arn"]}  # last retrain
    assert grants[("cloudwatch:DescribeAlarms", "cloudwatch:SetAlarmState")]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"}
    assert grants[("dynamodb:Query",)]["Resource"] == {"Fn::Sub": "${PredictionsTable.Arn}/index/ByModel"}
    assert grants[("s3:GetObject",)]["Resource"] == {"Fn::Sub": "${ArtifactsBucket.Arn}/datasets/*/profile.json"}
    assert grants[("cloudwatch:PutMetricData",)]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": infra.stack_env()["METRICS_NAMESPACE"]}}
    schedule = props["Events"]["Schedule"]
    assert schedule["Type"] == "Schedule"
    assert schedule["Properties"]["Schedule"] == {"Fn::FindInMap": ["MonitorSchedule", {"Ref": "MonitorScheduleMinutes"}, "Rate"]}
    # the models' alarms (put by promote) judge one schedule period: one monitor run
    promote_env = infra.resource("PromoteFunction")["Properties"]["Environment"]["Variables"]
    assert promote_env["MONITOR_PERIOD_SECONDS"] == {
        "Fn::FindInMap": ["MonitorSchedule", {"Ref": "MonitorScheduleMinutes"}, "Seconds"]}
    for minutes, row in infra.template()["Mappings"]["MonitorSchedule"].items():
        assert row["Seconds"] == 60 * int(minutes)
        assert row["Rate"] == (f"rate({minutes} minute)" if minutes == "1" else f"rate({minutes} minutes)")


# ------------------------------------------------------------------------------------------- drift
SCHEMA = ColumnSchema(numeric=["tenure", "calls"], categorical=["plan", "region"], target="churned",
                      problem_type="classification", classes=["no", "yes"])
PLANS = ["basic", "plus", "pro"]  # every value is in the profile: a closed vocabulary
REGIONS = [f"r{i:02d}" for i in range(30)]  # more than TOP: the profile keeps the rest under "__other__"
REGION_P = np.linspace(3, 1, 30) / np.linspace(3, 1, 30).sum()
TOP = 10
DATASET = "ds-0123456789abcdef"
EPS = 1e-4  # monitoring.drift's stated smoothing


def reference_psi(expected, actual) -> float:
    e, a = np.asarray(expected, float), np.asarray(actual, float)
    e = (e / e.sum() + EPS) / (1 + EPS * e.size)
    a = (a / a.sum() + EPS) / (1 + EPS * a.size)
    return float(np.sum((a - e) * np.log(a / e)))


def put_training_profile(module, model: str = "churn", dataset: str = DATASET, seed: int = 0) -> dict:
    """profile.json as ingest writes it, from CSV cells cleaned by data.build_frame (the training coercion)."""
    rng = np.random.default_rng(seed)
    n = 3000
    tenure = [f"{v:.1f}" for v in rng.gamma(2.0, 12.0, n)]
    for i in rng.choice(n, 150, replace=False):
        tenure[i] = ""  # 5% missing in training
    rows = [[t, str(c), p, r, y] for t, c, p, r, y in zip(
        tenure, rng.poisson(2.0, n), rng.choice(PLANS, n, p=[0.5, 0.3, 0.2]), rng.choice(REGIONS, n, p=REGION_P),
        rng.choice(["no", "yes"], n), strict=True)]
    frame = data.build_frame(Table.from_rows(["tenure", "calls", "plan", "region", "churned"], rows), SCHEMA).frame
    document = {"dataset_version": dataset, "columns": SCHEMA.model_dump(), "profile": training_profile(frame, SCHEMA, TOP)}
    module.STORES.put_json(module.STORES.artifacts_bucket, f"datasets/{model}/{dataset}/profile.json", document)
    return document["profile"]


def champion_test_profile(seed: int = 1) -> dict:
    """The champion's outputs on its test split, as export records them."""
    rng = np.random.default_rng(seed)
    p_yes = rng.beta(2.0, 3.0, 1000).astype(np.float32)
    probabilities = np.stack([1 - p_yes, p_yes], axis=1)
    labels = np.where(p_yes >= 0.5, "yes", "no")
    targets = np.where(rng.random(1000) < probabilities.max(axis=1), labels, np.where(labels == "yes", "no", "yes"))
    return prediction_profile(labels, probabilities, SCHEMA.classes, targets)


def live_records(rng: np.random.Generator, n: int, *, shifted: bool) -> list[dict[str, Any]]:
    """Request records as clients send them (JSON values; a missing value is null or absent)."""
    tenure = rng.gamma(2.0, 12.0, n) * (2.5 if shifted else 1.0) + (20.0 if shifted else 0.0)
    plans = (rng.choice(PLANS + ["enterprise"], n, p=[0.1, 0.3, 0.4, 0.2]) if shifted
             else rng.choice(PLANS, n, p=[0.5, 0.3, 0.2]))
    records = []
    for i in range(n):
        record: dict[str, Any] = {"tenure": round(float(tenure[i]), 1), "calls": int(rng.poisson(2.0)),
                                  "plan": str(plans[i]), "region": str(rng.choice(REGIONS, p=REGION_P))}
        if rng.random() < (0.25 if shifted else 0.05):
            record["tenure"] = None
        if rng.random() < 0.02:
            del record["region"]
        records.append(record)
    return records


def log_served(module, model: str, version: int, records: list[dict[str, Any]], p_yes: np.ndarray, *,
               age: timedelta) -> None:
    """Prediction-log items of a classifier as inference writes them (probabilities as float32 texts)."""
    created = (NOW - age).isoformat(timespec="milliseconds")
    items = []
    for i, (record, p) in enumerate(zip(records, p_yes, strict=True)):
        yes = float(str(np.float32(p)))
        no = float(str(np.float32(1 - np.float32(p))))
        items.append({"prediction_id": f"{model}-v{version}-{age.total_seconds():g}-{i}", "model_name": model,
                      "model_version": version, "problem_type": "classification", "created_at": created,
                      "expires_at": int((NOW + timedelta(days=90)).timestamp()), "features": record,
                      "prediction": "yes" if yes >= no else "no", "probabilities": {"no": no, "yes": yes}})
    prediction_log.write(module.STORES.predictions, items)


def expected_drift(profile: dict, reference: dict, records: list[dict[str, Any]], p_yes: np.ndarray) -> dict[str, Any]:
    """Every drift statistic of a window, computed here with numpy from what the test logged."""
    n = len(records)
    out: dict[str, Any] = {"psi": {}, "missing": {}}
    present_cells = outside_cells = 0
    for name in SCHEMA.numeric:
        values = np.array([np.nan if r.get(name) is None else r[name] for r in records], dtype=np.float32).astype(float)
        present = values[~np.isnan(values)]
        summary = profile["numeric"][name]
        edges = np.asarray(summary["histogram"]["edges"])
        actual = np.histogram(np.clip(present, edges[0], edges[-1]), bins=edges)[0]
        out["psi"][name] = reference_psi(summary["histogram"]["counts"], actual)
        out["missing"][name] = 1 - present.size / n - summary["missing"] / (summary["missing"] + summary["count"])
        present_cells += present.size
        outside_cells += int(np.sum((present < summary["min"]) | (present > summary["max"])))
    unseen = closed_cells = 0
    for name in SCHEMA.categorical:
        values = [r.get(name) or "" for r in records]
        present = [v for v in values if v != ""]
        frequencies = profile["categorical"][name]["frequencies"]
        named = [v for v in frequencies if v != "__other__"]
        expected = [frequencies[v] for v in named] + [frequencies.get("__other__", 0)]
        actual = [present.count(v) for v in named] + [sum(v not in named for v in present)]
        out["psi"][name] = reference_psi(expected, actual)
        summary = profile["categorical"][name]
        out["missing"][name] = 1 - len(present) / n - summary["missing"] / (summary["missing"] + summary["count"])
        if "__other__" not in frequencies:
            unseen += actual[-1]
            closed_cells += len(present)
    drifted = [name for name, value in out["psi"].items() if value > DEFAULTS.drift_threshold]
    yes = np.array([float(str(np.float32(p))) for p in p_yes])
    no = np.array([float(str(np.float32(1 - np.float32(p)))) for p in p_yes])
    predicted = np.where(yes >= no, "yes", "no")
    classes = reference["classes"]
    served = [int(np.sum(predicted == c)) for c in classes] + [0]
    confidence = np.maximum(yes, no).astype(np.float32)
    table = reference["confidence"]
    bins = np.clip(np.digitize(confidence, np.asarray(table["edges"], np.float32)) - 1, 0, 9)
    per = [table["accuracy"][b] if table["accuracy"][b] is not None else float(c) for b, c in zip(bins, confidence, strict=True)]
    out["metrics"] = {
        "DriftedFeatureShare": len(drifted) / len(out["psi"]),
        "PredictionDrift": reference_psi([classes[c] for c in classes] + [0], served),
        "UnseenCategoryRate": unseen / closed_cells,
        "OutOfRangeRate": outside_cells / present_cells,
        "MissingRateIncrease": max(0.0, *out["missing"].values()),
        "EstimatedQuality": float(np.mean(per)),
    }
    out["drifted"] = drifted
    return out


class CountingGets:
    """STORES.get_json with its keys recorded (the profile is read once per model and run)."""

    def __init__(self, stores: Any) -> None:
        self.get_json, self.keys = stores.get_json, []

    def __call__(self, bucket: str, key: str) -> Any:
        self.keys.append(key)
        return self.get_json(bucket, key)


def drift_champion(module, model: str = "churn", version: int = 3, **record: Any) -> dict:
    reference = champion_test_profile()
    champion(module, model, version, **{"columns": SCHEMA.model_dump(), "dataset_version": DATASET,
                                        "prediction_profile": reference, "quality_threshold": DEFAULTS.quality_threshold,
                                        "monitoring": DEFAULTS.model_dump(), **record})
    return reference


def test_a_covariate_shifted_window_publishes_drift_above_the_alarm_share(monitor, monkeypatch):
    gets = CountingGets(monitor.STORES)
    monkeypatch.setattr(monitor.STORES, "get_json", gets)
    profile = put_training_profile(monitor)
    reference = drift_champion(monitor)
    rng = np.random.default_rng(11)
    records = live_records(rng, 300, shifted=True)
    p_yes = rng.beta(3.0, 2.0, 300)  # the model answers "yes" more often on the shifted inputs
    half = 150  # two batches: the window is everything since its start, in any number of pages
    log_served(monitor, "churn", 3, records[:half], p_yes[:half], age=timedelta(minutes=5))
    log_served(monitor, "churn", 3, records[half:], p_yes[half:], age=timedelta(minutes=50))
    log_served(monitor, "churn", 2, live_records(rng, 40, shifted=False), rng.beta(2, 3, 40), age=timedelta(minutes=9))
    log_served(monitor, "churn", 3, live_records(rng, 40, shifted=False), rng.beta(2, 3, 40), age=WINDOW + timedelta(minutes=1))

    [summary] = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))["models"]
    want = expected_drift(profile, reference, records, p_yes)
    drift = summary["drift"]

    assert len(monitor.CLOUDWATCH.calls) == 1  # quality's count and every drift aggregate in the same call
    assert gets.keys == [f"datasets/churn/{DATASET}/profile.json"]
    assert (drift["predictions"], drift["used"], drift["reason"], drift["not_published"]) == (300, 300, None, {})
    assert summary["metrics"] == ["LabelledPredictions", *DRIFT_METRICS]
    assert drift["metrics"] == list(DRIFT_METRICS)
    for metric, value in want["metrics"].items():
        assert published(monitor, "churn", metric) == pytest.approx(value, rel=1e-9), metric
    assert published(monitor, "churn", "PredictionQuality") is None and published(monitor, "churn", "LabelledPredictions") == 0

    assert drift["drifted_features"] == want["drifted"] == ["tenure", "plan"]
    assert drift["drifted_feature_share"] == pytest.approx(0.5) and drift["drifted_feature_share"] > DEFAULTS.drift_share
    for name in ("tenure", "calls", "plan", "region"):
        assert drift["features"][name]["psi"] == pytest.approx(want["psi"][name], rel=1e-9), name
        assert drift["features"][name]["missing_rate_increase"] == pytest.approx(want["missing"][name], abs=1e-12)
    assert drift["features"]["tenure"]["psi"] > 1.0 and drift["features"]["calls"]["psi"] < 0.1
    assert drift["features"]["tenure"]["out_of_range_rate"] > 0.1  # tenure scaled 2.5x and moved 20 up
    assert drift["out_of_range_rate"] == pytest.approx(want["metrics"]["OutOfRangeRate"])  # over all numeric cells
    assert drift["out_of_range_rate"] > 0.05
    assert drift["unseen_category_rate"] == pytest.approx(want["metrics"]["UnseenCategoryRate"])  # "enterprise"
    assert drift["features"]["region"]["unseen_category_rate"] is None  # an open vocabulary
    assert drift["prediction_drift"] > 0.2

    # per-feature detail never becomes a CloudWatch metric: only the aggregates, per model
    listed = monitor.CLOUDWATCH.client.list_metrics(Namespace=infra.stack_env()["METRICS_NAMESPACE"])["Metrics"]
    assert {m["MetricName"] for m in listed} == {"LabelledPredictions", *DRIFT_METRICS}
    assert all(m["Dimensions"] == [{"Name": "Model", "Value": "churn"}] for m in listed)


def test_a_stationary_window_gives_low_values_and_a_regressor_has_no_estimated_quality(monitor):
    profile = put_training_profile(monitor)
    reference = drift_champion(monitor)
    rng = np.random.default_rng(12)
    records = live_records(rng, 400, shifted=False)
    p_yes = rng.beta(2.0, 3.0, 400)  # as on the test split
    log_served(monitor, "churn", 3, records, p_yes, age=timedelta(minutes=15))

    # price: a regressor on the same inputs; its predictions drift, it has no confidence to estimate from
    put_training_profile(monitor, "price")
    test_predictions = np.random.default_rng(13).normal(100, 15, 800).astype(np.float32).astype(float)
    price_reference = prediction_profile(test_predictions, None, None, test_predictions)
    columns = {**SCHEMA.model_dump(), "problem_type": "regression", "classes": None}
    champion(monitor, "price", 1, columns=columns, dataset_version=DATASET, prediction_profile=price_reference,
             monitoring=DEFAULTS.model_dump())
    served = [float(str(np.float32(v))) for v in rng.normal(100, 15, 250)]
    prediction_log.write(monitor.STORES.predictions, [
        {"prediction_id": f"price-{i}", "model_name": "price", "model_version": 1, "problem_type": "regression",
         "created_at": (NOW - timedelta(minutes=3)).isoformat(timespec="milliseconds"), "features": record,
         "prediction": value} for i, (record, value) in enumerate(zip(live_records(rng, 250, shifted=False), served, strict=True))])

    result = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))
    churn, price = result["models"]
    want = expected_drift(profile, reference, records, p_yes)
    assert len(monitor.CLOUDWATCH.calls) == 1
    for metric, value in want["metrics"].items():
        assert published(monitor, "churn", metric) == pytest.approx(value, rel=1e-9), metric
    assert churn["drift"]["drifted_features"] == [] and published(monitor, "churn", "DriftedFeatureShare") == 0.0
    assert max(f["psi"] for f in churn["drift"]["features"].values()) < MODERATE
    assert churn["drift"]["prediction_drift"] < MODERATE
    assert churn["drift"]["unseen_category_rate"] == 0.0 and churn["drift"]["missing_rate_increase"] < 0.05
    assert churn["drift"]["out_of_range_rate"] < 0.01  # the training range holds all but the rarest values

    edges = np.asarray(price_reference["edges"])
    values = np.asarray(served, np.float32).astype(float)
    expected_psi = reference_psi(price_reference["counts"], np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0])
    assert price["drift"]["prediction_drift"] == pytest.approx(expected_psi, rel=1e-9)
    assert published(monitor, "price", "PredictionDrift") == pytest.approx(expected_psi, rel=1e-9)
    assert price["drift"]["metrics"] == ["DriftedFeatureShare", "PredictionDrift", "UnseenCategoryRate", "OutOfRangeRate",
                                         "MissingRateIncrease"]
    assert published(monitor, "price", "EstimatedQuality") is None and price["drift"]["not_published"] == {}


def test_below_min_predictions_nothing_drift_related_is_published(monitor, monkeypatch):
    gets = CountingGets(monitor.STORES)
    monkeypatch.setattr(monitor.STORES, "get_json", gets)
    put_training_profile(monitor)
    drift_champion(monitor)
    rng = np.random.default_rng(14)
    few = MIN_PREDICTIONS - 1
    log_served(monitor, "churn", 3, live_records(rng, few, shifted=True), rng.beta(3, 2, few), age=timedelta(minutes=2))
    log_served(monitor, "churn", 2, live_records(rng, 60, shifted=True), rng.beta(3, 2, 60), age=timedelta(minutes=2))

    [summary] = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))["models"]
    assert summary["metrics"] == ["LabelledPredictions"]
    assert summary["drift"] == {**NO_DRIFT, "predictions": few, "used": few,
                                "reason": f"{few} predictions of v3 in the last 60 min, fewer than the {MIN_PREDICTIONS} needed"}
    for metric in DRIFT_METRICS:
        assert published(monitor, "churn", metric) is None
    assert gets.keys == []  # the profile is not even read


def test_each_models_settings_come_from_its_champion_record(monitor):
    put_training_profile(monitor)
    settings = MonitoringSpec(quality_threshold=0.8, window_minutes=15, min_labels=5, min_predictions=50,
                              drift_threshold=0.5, drift_share=0.9)
    drift_champion(monitor, monitoring=settings.model_dump())
    rng = np.random.default_rng(15)
    inside = live_records(rng, 60, shifted=True)
    log_served(monitor, "churn", 3, inside, rng.beta(3, 2, 60), age=timedelta(minutes=10))
    log_served(monitor, "churn", 3, live_records(rng, 500, shifted=False), rng.beta(2, 3, 500), age=timedelta(minutes=20))
    label(monitor, [f"churn-v3-600-{i}" for i in range(5)], ["yes"] * 5)

    [summary] = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))["models"]
    assert (summary["window_minutes"], summary["min_labels"], summary["threshold"]) == (15, 5, 0.8)
    assert summary["window_start"] == (NOW - timedelta(minutes=15)).isoformat(timespec="milliseconds")
    assert (summary["labels"], summary["published"]) == (5, True)  # 5 labels are enough for this model
    drift = summary["drift"]
    assert (drift["predictions"], drift["min_predictions"], drift["drift_threshold"], drift["drift_share"]) == (60, 50, 0.5, 0.9)
    assert drift["drifted_features"] == [n for n, f in drift["features"].items() if f["psi"] > 0.5]
    assert published(monitor, "churn", "DriftedFeatureShare") == pytest.approx(drift["drifted_feature_share"])


def test_a_champion_registered_before_drift_monitoring_gets_defaults_and_reasons(monitor):
    put_training_profile(monitor)
    champion(monitor, "churn", 1, columns=SCHEMA.model_dump(), dataset_version=DATASET, quality_threshold=0.6)
    rng = np.random.default_rng(16)
    log_served(monitor, "churn", 1, live_records(rng, MIN_PREDICTIONS, shifted=False), rng.beta(2, 3, MIN_PREDICTIONS),
               age=timedelta(minutes=30))

    [summary] = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))["models"]
    assert (summary["threshold"], summary["window_minutes"], summary["drift"]["min_predictions"]) == (
        0.6, DEFAULTS.window_minutes, MIN_PREDICTIONS)
    assert summary["drift"]["metrics"] == ["DriftedFeatureShare", "UnseenCategoryRate", "OutOfRangeRate", "MissingRateIncrease"]
    assert summary["drift"]["not_published"] == {"PredictionDrift": "v1 was registered without a prediction profile",
                                                 "EstimatedQuality": "v1 was registered without a prediction profile"}
    assert published(monitor, "churn", "PredictionDrift") is None
    assert published(monitor, "churn", "DriftedFeatureShare") == 0.0


def test_an_unreadable_training_profile_stops_only_input_drift(monitor):
    drift_champion(monitor)  # no profile.json was written
    rng = np.random.default_rng(17)
    log_served(monitor, "churn", 3, live_records(rng, 250, shifted=False), rng.beta(2, 3, 250), age=timedelta(minutes=1))

    [summary] = monitor.handler(SCHEDULED_EVENT, infra.lambda_context("MonitorFunction", 256, 120_000))["models"]
    bucket = infra.stack_env()["ARTIFACTS_BUCKET"]
    why = f"the training profile s3://{bucket}/datasets/churn/{DATASET}/profile.json cannot be read (NoSuchKey)"
    assert summary["drift"]["not_published"] == {name: why for name in ("DriftedFeatureShare", "UnseenCategoryRate",
                                                                          "OutOfRangeRate", "MissingRateIncrease")}
    assert summary["drift"]["metrics"] == ["PredictionDrift", "EstimatedQuality"]
    assert published(monitor, "churn", "DriftedFeatureShare") is None
    assert published(monitor, "churn", "PredictionDrift") is not None


def test_monitoring_settings_are_read_from_the_record_leniently():
    from evergreen.steps.monitor import monitoring_of

    settings = MonitoringSpec(window_minutes=15, min_predictions=50, drift_share=0.5)
    assert monitoring_of({"monitoring": settings.model_dump()}) == settings
    # a record written by a later version, with settings this one does not know: the known ones count
    assert monitoring_of({"monitoring": {**settings.model_dump(), "a_later_setting": 1}}) == settings
    # a champion registered before the settings were recorded: the defaults, with its own quality threshold
    assert monitoring_of({"quality_threshold": 0.55}) == MonitoringSpec(quality_threshold=0.55)
    assert monitoring_of({"monitoring": {"window_minutes": "soon"}}) == DEFAULTS  # unreadable: defaults, logged


def test_the_monitor_function_ships_numpy():
    """monitoring.drift and evergreen.features (the one coercion) need numpy: some layer of MonitorFunction
    must install it (ServingLayer does; SharedLayer does not). In-process tests cannot see a missing layer."""
    layers = [ref["Ref"] for ref in infra.resource("MonitorFunction")["Properties"]["Layers"]]
    requirements = "".join((ROOT / infra.resource(layer)["Properties"]["ContentUri"] / "requirements.txt").read_text()
                           for layer in layers)
    assert "numpy==" in requirements, f"MonitorFunction's layers {layers} do not install numpy: add ServingLayer"
    assert "scikit-learn" not in requirements and "scipy" not in requirements


# ------------------------------------------------------------------------------------------- re-arm

def summary_with(quality, threshold=0.7, published=True, labels=100, drifted=None):
    from evergreen.steps.monitor import DriftSummary, ModelSummary

    drift = DriftSummary(predictions=500, used=500, min_predictions=200, drift_threshold=0.2, drift_share=0.3,
                         drifted_feature_share=drifted)
    return ModelSummary(model_name="churn", version=2, window_start="", window_minutes=60, min_labels=30,
                        cooldown_minutes=60, labels=labels, other_versions=0, quality=quality, mean_abs_error=None,
                        threshold=threshold, published=published, metrics=[], drift=drift)


FIRED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
STUCK = {"StateValue": "ALARM", "StateUpdatedTimestamp": FIRED}


def test_a_quality_alarm_stuck_in_alarm_is_rearmed_once_a_retrain_may_run_while_quality_stays_low():
    from evergreen.steps.monitor import rearm_reason

    retrained = FIRED + timedelta(seconds=20)  # the retrain this alarm started (did not recover)
    later = retrained + timedelta(minutes=61)
    reason = rearm_reason("quality", STUCK, summary_with(0.55), retrained, later)
    assert reason and "quality 0.550 is still below 0.7 61 min after this alarm fired, the last retrain started " \
                      "61 min ago (cooldown 60 min), 100 labels in the window" in reason
    assert rearm_reason("quality", STUCK, summary_with(0.55), retrained, retrained + timedelta(minutes=59)) is None
    assert rearm_reason("quality", STUCK, summary_with(0.75), retrained, later) is None  # recovered: it clears itself
    assert rearm_reason("quality", STUCK, summary_with(None, published=False), retrained, later) is None  # unjudged
    assert rearm_reason("quality", {**STUCK, "StateValue": "OK"}, summary_with(0.55), retrained, later) is None
    # the alarm's retrain never ran (a run was in progress): no need to wait a cooldown from the alarm
    assert rearm_reason("quality", STUCK, summary_with(0.55), None, FIRED + timedelta(minutes=2))


def test_a_drift_alarm_whose_retrain_waited_for_labels_is_rearmed_when_they_arrive():
    from evergreen.steps.monitor import rearm_reason

    soon = FIRED + timedelta(minutes=5)
    long_ago = FIRED - timedelta(hours=3)  # the last retrain: before the drift, outside the cooldown
    # no labels yet: its retrain was skipped, and re-arming would only skip again
    assert rearm_reason("drift", STUCK, summary_with(None, published=False, labels=3, drifted=0.6), long_ago, soon) is None
    reason = rearm_reason("drift", STUCK, summary_with(0.9, labels=40, drifted=0.6), long_ago, soon)
    assert reason and "60% of the features still drift (alarm at 30%) 5 min after this alarm fired" in reason
    assert rearm_reason("drift", STUCK, summary_with(0.9, labels=40, drifted=0.1), long_ago, soon) is None  # over
    assert rearm_reason("drift", STUCK, summary_with(0.9, labels=40, drifted=0.6), FIRED, soon) is None  # cooldown


def test_the_monitor_rearms_the_stuck_alarms_through_cloudwatch(monitor):
    from evergreen.steps.monitor import rearm

    cw = boto3.client("cloudwatch", region_name=infra.REGION)
    for kind, metric, op in (("quality", "PredictionQuality", "LessThanThreshold"),
                             ("drift", "DriftedFeatureShare", "GreaterThanOrEqualToThreshold")):
        cw.put_metric_alarm(AlarmName=f"stack-{kind}-churn", Namespace="Evergreen", MetricName=metric,
                            Statistic="Average", Period=300, EvaluationPeriods=1, Threshold=0.5,
                            ComparisonOperator=op)
        cw.set_alarm_state(AlarmName=f"stack-{kind}-churn", StateValue="ALARM", StateReason="low")
    fired = cw.describe_alarms(AlarmNames=["stack-quality-churn"])["MetricAlarms"][0]["StateUpdatedTimestamp"]
    retrained = fired + timedelta(seconds=10)
    assert rearm(cw, "stack", summary_with(0.55, drifted=0.6), retrained, fired + timedelta(minutes=5)) is None
    # both breach: one retrain at a time, so only the quality alarm is re-armed
    reason = rearm(cw, "stack", summary_with(0.55, drifted=0.6), retrained, fired + timedelta(minutes=61))
    assert reason.startswith("stack-quality-churn: Evergreen monitor: quality 0.550")
    state = {a["AlarmName"]: a["StateValue"] for a in cw.describe_alarms(AlarmNamePrefix="stack-")["MetricAlarms"]}
    assert state == {"stack-quality-churn": "OK", "stack-drift-churn": "ALARM"}
    reason = rearm(cw, "stack", summary_with(0.9, drifted=0.6), retrained, fired + timedelta(minutes=62))
    assert reason.startswith("stack-drift-churn: Evergreen monitor: 60% of the features still drift")
    alarm = cw.describe_alarms(AlarmNames=["stack-quality-churn"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "OK" and alarm["StateReason"].startswith("Evergreen monitor: quality 0.550")
