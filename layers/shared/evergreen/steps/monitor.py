"""Monitor: every rollout judged and ended when its labels suffice (evergreen.steps.rollouts); then each
champion's live quality from stored labels, and its drift from what it was trained on. An alarm of a
model whose challenger is still being judged is not re-armed (its retrain's answer is on the way).

Runs on a schedule (template.yaml: MonitorFunction, every MonitorScheduleMinutes). Each model's
settings are its spec's `monitoring` section, kept on the champion's registry record by promote
(window_minutes, min_labels, min_predictions, drift_threshold, drift_share; a champion registered
before that uses MonitoringSpec's defaults). For every model with a champion it reads the predictions
of the last window_minutes once (``prediction_log.window``: a Query on the ByModel index, never a Scan).

Quality (`monitoring.quality`): the labelled predictions the champion served, each once, as stored: a
retried or repeated /feedback cannot move the result. Labelled predictions of earlier versions are
counted apart and not judged, so a new champion is not blamed for its predecessor's mistakes. With at
least min_labels labels: PredictionQuality (what the quality alarm watches), LabelledPredictions and,
for regression, MeanAbsoluteError; below that only LabelledPredictions, and the summary says why.

Drift (`monitoring.drift`, no labels needed): the champion's predictions of the window (the newest
MAX_DRIFT_PREDICTIONS) against its training profile (``datasets/<model>/<dataset_version>/profile.json``,
read once per model and run) and against its prediction profile (from export, on the registry record).
With at least min_predictions of them: DriftedFeatureShare (what the drift alarm watches),
PredictionDrift, UnseenCategoryRate, OutOfRangeRate, MissingRateIncrease and, for classifiers,
EstimatedQuality. Per-feature PSI and skew stay in the returned summary and the log, never in
CloudWatch (each metric name x dimension is billed monthly: a few aggregates per model). A statistic
that cannot be computed is not published, and the summary says why.

Every datapoint has the dimension Model and the window's end as timestamp, and all of them go out in
one put_metric_data call (up to 1000 datapoints: about 100 models).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, ValidationError

from evergreen import prediction_log, registry, run_records
from evergreen.monitoring import alarms, drift
from evergreen.monitoring.quality import window_quality
from evergreen.spec import MonitoringSpec
from evergreen.steps import rollouts
from evergreen.steps.rollouts import RolloutSummary
from evergreen.storage import Stores, dataset_prefix

log = logging.getLogger(__name__)

MAX_DATAPOINTS_PER_CALL = 1000  # CloudWatch's limit for one put_metric_data
MAX_DRIFT_PREDICTIONS = 20_000  # the newest predictions of a window the drift statistics use (PSI is stable long before)
DRIFT_METRICS = ("DriftedFeatureShare", "PredictionDrift", "UnseenCategoryRate", "OutOfRangeRate",
                 "MissingRateIncrease", "EstimatedQuality")


# ------------------------------------------------------------------------------------------- contracts
class MonitorInput(BaseModel):
    """The scheduled event EventBridge sends (only its `time` is read: the window ends then).

    Invoked by hand with ``{}``, the window ends now.
    """

    model_config = ConfigDict(extra="ignore")

    time: datetime | None = None


class DriftSummary(BaseModel):
    """One model's drift in the window, as published (or why it was not)."""

    model_config = ConfigDict(extra="forbid")

    predictions: int  # the champion's predictions in the window
    used: int  # the newest of them the statistics were computed on (at most MAX_DRIFT_PREDICTIONS)
    min_predictions: int
    drift_threshold: float  # a feature drifted when its PSI is above this
    drift_share: float  # the drift alarm's threshold on DriftedFeatureShare
    drifted_feature_share: float | None = None
    drifted_features: list[str] = []
    prediction_drift: float | None = None  # PSI of the predictions against the test split's
    unseen_category_rate: float | None = None
    out_of_range_rate: float | None = None
    missing_rate_increase: float | None = None
    estimated_quality: float | None = None  # classifiers: expected accuracy from the calibrated confidence
    features: dict[str, dict[str, Any]] = {}  # per feature: psi, drifted, missing rates, skew (not in CloudWatch)
    metrics: list[str] = []  # the drift metrics published
    reason: str | None = None  # why no drift metric was published
    not_published: dict[str, str] = {}  # a drift metric -> why it was not published (when others were)


class ModelSummary(BaseModel):
    """One model's window, as published (or why its quality or drift was not)."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    version: int  # the champion whose predictions were judged
    window_start: str
    window_minutes: int
    min_labels: int
    cooldown_minutes: int
    labels: int  # its labelled predictions in the window (each once): LabelledPredictions
    other_versions: int  # labelled predictions of earlier champions in the window: not judged
    quality: float | None  # PredictionQuality (share of right predictions), when it could be judged
    mean_abs_error: float | None  # regression only
    threshold: float | None  # the spec's monitoring.quality_threshold (the champion's)
    published: bool  # PredictionQuality was published
    metrics: list[str]  # every metric name published for this model (quality and drift)
    reason: str | None = None  # why PredictionQuality was not published
    drift: DriftSummary
    rearmed: str | None = None  # the alarm this run set back to OK, and why (see rearm_reason)


class MonitorResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_start: str  # the earliest start among the models' windows (each model's own: its window_start)
    window_end: str
    models: list[ModelSummary]
    rollouts: list[RolloutSummary] = []  # every challenger in shadow or canary, judged (evergreen.steps.rollouts)


@dataclass(frozen=True)
class MonitorSettings:
    """What the stack sets (the per-model settings come from each champion's record)."""

    namespace: str
    max_drift_predictions: int = MAX_DRIFT_PREDICTIONS
    alarm_prefix: str | None = None  # the models' alarms (monitoring.alarms); None: the monitor re-arms none

    def __post_init__(self) -> None:
        if self.max_drift_predictions < 1:
            raise ValueError(f"max drift predictions must be at least 1, got {self.max_drift_predictions}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> MonitorSettings:
        return cls(namespace=env["METRICS_NAMESPACE"], alarm_prefix=env.get("ALARM_PREFIX") or None)


@dataclass
class Window:
    """One model's predictions of the window, as the monitor keeps them."""

    labelled: list[dict[str, Any]] = field(default_factory=list)  # every version's: quality counts others apart
    served: list[dict[str, Any]] = field(default_factory=list)  # the champion's, newest first, at most the cap
    served_total: int = 0  # the champion's predictions in the window


# ------------------------------------------------------------------------------------------- pure
def _minutes(minutes: float) -> str:
    return f"{minutes:g} min"


def monitoring_of(champion: Mapping[str, Any]) -> MonitoringSpec:
    """The champion's monitoring settings (its spec's, recorded by promote); defaults for a champion
    registered before they were recorded (keeping its recorded quality_threshold)."""
    recorded = champion.get("monitoring")
    if isinstance(recorded, Mapping):
        known = {k: v for k, v in recorded.items() if k in MonitoringSpec.model_fields}  # a newer record's extra settings
        try:
            return MonitoringSpec.model_validate(known)
        except ValidationError as exc:
            log.warning("unreadable monitoring settings on the champion: defaults used",
                        extra={"model": champion.get("model_name"), "error": str(exc)})
    threshold = champion.get("quality_threshold")
    return MonitoringSpec(quality_threshold=float(threshold)) if threshold is not None else MonitoringSpec()


def split_window(items: Iterable[dict[str, Any]], version: int, cap: int) -> Window:
    """The window's prediction-log items (newest first) -> the labelled ones and the champion's. Pure."""
    window = Window()
    for item in items:
        if "label" in item:
            window.labelled.append(item)
        if item.get("model_version") == version:
            window.served_total += 1
            if len(window.served) < cap:
                window.served.append(item)
    return window


def assess_quality(champion: Mapping[str, Any], labelled: Iterable[Mapping[str, Any]],
                   monitoring: MonitoringSpec) -> dict[str, Any]:
    """A champion's quality over labelled prediction-log items of its model (ModelSummary's quality fields). Pure."""
    version = int(champion["version"])
    mine, others = [], 0
    for item in labelled:
        if item.get("model_version") == version:
            mine.append(item)
        else:
            others += 1
    window = window_quality(mine)
    metrics = ["LabelledPredictions"]
    reason: str | None = None
    if window.labels < monitoring.min_labels:
        reason = (f"{window.labels} labelled predictions of v{version} in the last {_minutes(monitoring.window_minutes)}, "
                  f"fewer than the {monitoring.min_labels} needed")
    else:
        if window.mean_abs_error is not None:
            metrics.append("MeanAbsoluteError")
        if window.quality is not None and window.judged >= monitoring.min_labels:
            metrics.append("PredictionQuality")
        elif window.judged == 0 and window.unreadable < window.labels:
            reason = f"v{version} is a regression without a tolerance: its quality cannot be judged"
        else:
            reason = (f"only {window.judged} of the {window.labels} labels of v{version} could be scored, "
                      f"fewer than the {monitoring.min_labels} needed")
    return {"labels": window.labels, "other_versions": others, "quality": window.quality,
            "mean_abs_error": window.mean_abs_error, "threshold": monitoring.quality_threshold,
            "published": "PredictionQuality" in metrics, "metrics": metrics, "reason": reason}


def assess_drift(champion: Mapping[str, Any], served: list[Mapping[str, Any]], total: int,
                 profile: Mapping[str, Any] | None, monitoring: MonitoringSpec, *,
                 profile_error: str | None = None) -> DriftSummary:
    """A champion's served predictions (newest first) against its training profile (profile.json's
    content; None with `profile_error` saying why) and its prediction profile. Pure."""
    version = int(champion["version"])
    summary = DriftSummary(predictions=total, used=len(served), min_predictions=monitoring.min_predictions,
                           drift_threshold=monitoring.drift_threshold, drift_share=monitoring.drift_share)
    if total < monitoring.min_predictions:
        summary.reason = (f"{total} predictions of v{version} in the last {_minutes(monitoring.window_minutes)}, "
                          f"fewer than the {monitoring.min_predictions} needed")
        return summary
    why: dict[str, str] = {}
    values: dict[str, float | None] = {}
    columns = champion.get("columns") or (profile or {}).get("columns") or {}
    classifier = columns.get("problem_type") == "classification" if columns else None

    if profile is None or not isinstance(profile.get("profile"), Mapping):
        missing = profile_error or f"the training profile of v{version} has no feature summaries"
        for name in ("DriftedFeatureShare", "UnseenCategoryRate", "OutOfRangeRate", "MissingRateIncrease"):
            why[name] = missing
    else:
        inputs = drift.input_drift(
            profile["profile"],
            drift.served_columns(served, columns.get("numeric") or [], columns.get("categorical") or []),
            monitoring.drift_threshold)
        summary.features = {f.name: f.as_dict() for f in inputs.features}
        summary.drifted_features = inputs.drifted
        values |= {"DriftedFeatureShare": inputs.drifted_share, "UnseenCategoryRate": inputs.unseen_category_rate,
                   "OutOfRangeRate": inputs.out_of_range_rate, "MissingRateIncrease": inputs.missing_rate_increase}
        for name, reason in (("DriftedFeatureShare", "no feature has both training and live values"),
                             ("UnseenCategoryRate", "no categorical feature with a closed vocabulary was served"),
                             ("OutOfRangeRate", "no numeric feature with a training range was served"),
                             ("MissingRateIncrease", "no feature has a training missing rate")):
            if values[name] is None:
                why[name] = reason

    reference = champion.get("prediction_profile")
    if not isinstance(reference, Mapping):
        why["PredictionDrift"] = f"v{version} was registered without a prediction profile"
        if classifier is not False:
            why["EstimatedQuality"] = why["PredictionDrift"]
    else:
        values["PredictionDrift"] = drift.prediction_drift(reference, [item.get("prediction") for item in served])
        if values["PredictionDrift"] is None:
            why["PredictionDrift"] = "the predictions cannot be compared with the prediction profile"
        if "classes" in reference:
            table = reference.get("confidence")
            if isinstance(table, Mapping):
                values["EstimatedQuality"] = drift.estimated_quality(table, [drift.max_probability(i) for i in served])
                if values["EstimatedQuality"] is None:
                    why["EstimatedQuality"] = "no prediction of the window carries probabilities"
            else:
                why["EstimatedQuality"] = f"v{version}'s prediction profile has no confidence table"

    for name, value in values.items():
        if value is not None and not math.isfinite(value):  # CloudWatch refuses NaN and infinities
            values[name], why[name] = None, f"not a finite number ({value})"
    summary.drifted_feature_share = values.get("DriftedFeatureShare")
    summary.prediction_drift = values.get("PredictionDrift")
    summary.unseen_category_rate = values.get("UnseenCategoryRate")
    summary.out_of_range_rate = values.get("OutOfRangeRate")
    summary.missing_rate_increase = values.get("MissingRateIncrease")
    summary.estimated_quality = values.get("EstimatedQuality")
    summary.metrics = [name for name in DRIFT_METRICS if values.get(name) is not None]
    if summary.metrics:
        summary.not_published = why
    else:
        summary.reason = "; ".join(f"{name}: {reason}" for name, reason in why.items()) or "nothing to compare"
    return summary


def assess(champion: Mapping[str, Any], window: Window, profile: Mapping[str, Any] | None,
           monitoring: MonitoringSpec, start: datetime, *, profile_error: str | None = None) -> ModelSummary:
    """One model's summary: quality from the labelled predictions, drift from the served ones. Pure."""
    quality = assess_quality(champion, window.labelled, monitoring)
    drifted = assess_drift(champion, window.served, window.served_total, profile, monitoring,
                           profile_error=profile_error)
    return ModelSummary(model_name=str(champion["model_name"]), version=int(champion["version"]),
                        window_start=start.isoformat(timespec="milliseconds"),
                        window_minutes=monitoring.window_minutes, min_labels=monitoring.min_labels,
                        cooldown_minutes=monitoring.cooldown_minutes, **{**quality, "metrics": quality["metrics"] + drifted.metrics}, drift=drifted)


def datapoints(summary: ModelSummary, when: datetime) -> list[dict[str, Any]]:
    """The MetricData entries for one model's summary (only the metrics it lists). Pure."""
    d = summary.drift
    values = {"LabelledPredictions": (float(summary.labels), "Count"),
              "PredictionQuality": (summary.quality, "None"),
              "MeanAbsoluteError": (summary.mean_abs_error, "None"),
              "DriftedFeatureShare": (d.drifted_feature_share, "None"),
              "PredictionDrift": (d.prediction_drift, "None"),
              "UnseenCategoryRate": (d.unseen_category_rate, "None"),
              "OutOfRangeRate": (d.out_of_range_rate, "None"),
              "MissingRateIncrease": (d.missing_rate_increase, "None"),
              "EstimatedQuality": (d.estimated_quality, "None")}
    dims = [{"Name": "Model", "Value": summary.model_name}]
    return [{"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": float(values[name][0]),  # type: ignore[arg-type]
             "Unit": values[name][1]} for name in summary.metrics]


# ------------------------------------------------------------------------------------------- I/O
def load_profile(stores: Stores, champion: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The champion's training profile (profile.json of its dataset) -> (profile, None) or (None, why)."""
    model, dataset = str(champion["model_name"]), champion.get("dataset_version")
    if not dataset:
        return None, f"v{champion['version']} was registered without a dataset version"
    key = f"{dataset_prefix(model, str(dataset))}profile.json"
    try:
        return stores.get_json(stores.artifacts_bucket, key), None
    except ClientError as exc:
        return None, f"the training profile s3://{stores.artifacts_bucket}/{key} cannot be read ({exc.response['Error']['Code']})"
    except ValueError as exc:  # not JSON
        return None, f"the training profile s3://{stores.artifacts_bucket}/{key} is not JSON ({exc})"


def still_breaching(kind: str, summary: ModelSummary) -> str | None:
    """What still holds the model's `kind` alarm's condition in this window, or None. Pure."""
    if kind == alarms.QUALITY:
        if summary.published and summary.quality is not None and summary.threshold is not None \
                and summary.quality < summary.threshold:
            return f"quality {summary.quality:.3f} is still below {summary.threshold:g}"
        return None
    share = summary.drift.drifted_feature_share
    if share is not None and share >= summary.drift.drift_share:
        return f"{share:.0%} of the features still drift (alarm at {summary.drift.drift_share:.0%})"
    return None


def rearm_reason(kind: str, alarm: Mapping[str, Any], summary: ModelSummary, last_retrain: datetime | None,
                 now: datetime) -> str | None:
    """Why an alarm stuck in ALARM should be set back to OK, or None. EventBridge only sees state
    changes: an alarm that stays in ALARM (the retrain it started was skipped for too few labels or a
    run in progress, or did not recover) would never start another, and the loop would stop. Once a
    retrain may run (the cooldown has passed since the last one, and the window holds min_labels
    labels of the champion), setting it to OK lets the next evaluation fire it again. Pure."""
    if alarm.get("StateValue") != "ALARM":
        return None
    breach = still_breaching(kind, summary)
    if breach is None or summary.labels < summary.min_labels:
        return None
    cooldown = timedelta(minutes=summary.cooldown_minutes)
    if last_retrain is not None and now - last_retrain < cooldown:
        return None
    since = ("no retrain since" if last_retrain is None else
             f"the last retrain started {(now - last_retrain).total_seconds() / 60:.0f} min ago (cooldown "
             f"{summary.cooldown_minutes} min)")
    return (f"Evergreen monitor: {breach} {(now - alarm['StateUpdatedTimestamp']).total_seconds() / 60:.0f} min after "
            f"this alarm fired, {since}, {summary.labels} labels in the window: re-armed so the next evaluation "
            "can start a retrain")


def rearm(cloudwatch: Any, prefix: str, summary: ModelSummary, last_retrain: datetime | None,
          now: datetime) -> str | None:
    """Re-arm one of the model's stuck alarms (see rearm_reason), the quality alarm first: one retrain
    at a time is all the model can take -> why, or None."""
    names = {alarms.alarm_name(prefix, kind, summary.model_name): kind for kind in (alarms.QUALITY, alarms.DRIFT)}
    found = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(
        AlarmNames=list(names), AlarmTypes=["MetricAlarm"])["MetricAlarms"]}
    for name, kind in names.items():
        reason = rearm_reason(kind, found[name], summary, last_retrain, now) if name in found else None
        if reason:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason=reason)
            log.info("alarm re-armed", extra={"model": summary.model_name, "alarm": name, "reason": reason})
            return f"{name}: {reason}"
    return None


def run(inp: MonitorInput, stores: Stores, cloudwatch: Any, settings: MonitorSettings) -> MonitorResult:
    end = (inp.time or datetime.now(UTC)).astimezone(UTC)
    judged = rollouts.run(stores)  # first: a challenger promoted now is the champion judged below
    waiting = {r.model_name for r in judged if r.outcome == "waiting"}
    summaries: list[ModelSummary] = []
    data: list[dict[str, Any]] = []
    starts: list[datetime] = []
    for champion in registry.champions(stores.registry):
        model, version = str(champion["model_name"]), int(champion["version"])
        monitoring = monitoring_of(champion)
        start = end - timedelta(minutes=monitoring.window_minutes)
        starts.append(start)
        since = start.isoformat(timespec="milliseconds")  # the prediction log's created_at format
        window = split_window(prediction_log.window(stores.predictions, model, since=since), version,
                              settings.max_drift_predictions)
        profile, profile_error = None, None
        if window.served_total >= monitoring.min_predictions:  # read only when drift can be judged
            profile, profile_error = load_profile(stores, champion)
        summary = assess(champion, window, profile, monitoring, start, profile_error=profile_error)
        summaries.append(summary)
        data += datapoints(summary, end)
        log.info("quality published" if summary.published else "quality not published",
                 extra={"model": model, "version": version, "labels": summary.labels, "quality": summary.quality,
                        "reason": summary.reason})
        log.info("drift published" if summary.drift.metrics else "drift not published",
                 extra={"model": model, "version": version, **summary.drift.model_dump()})
    for i in range(0, len(data), MAX_DATAPOINTS_PER_CALL):  # one call up to ~100 models
        cloudwatch.put_metric_data(Namespace=settings.namespace, MetricData=data[i:i + MAX_DATAPOINTS_PER_CALL])
    if settings.alarm_prefix:
        for summary in summaries:
            if summary.model_name in waiting:  # its retrain's challenger is being judged live: no new retrain
                continue
            last = run_records.last_retrain(stores.experiments, summary.model_name)
            summary.rearmed = rearm(cloudwatch, settings.alarm_prefix, summary, last, end)
    first = min(starts, default=end - timedelta(minutes=MonitoringSpec().window_minutes))
    return MonitorResult(window_start=first.isoformat(timespec="milliseconds"),
                         window_end=end.isoformat(timespec="milliseconds"), models=summaries,
                         rollouts=judged)
