"""Monitor: each champion's live quality, computed from the labels stored on its predictions.

Runs on a schedule (template.yaml: MonitorFunction, every MonitorScheduleMinutes). For every model
with a champion it reads the labelled predictions of the last QUALITY_WINDOW_MINUTES from the
prediction log (a Query on its ByModel index, never a Scan) and scores those the champion served,
each once, as stored (`monitoring.quality.window_quality`): a retried or repeated /feedback cannot
move the result. Predictions served by earlier versions are counted apart and not judged, so a new
champion is not blamed for its predecessor's mistakes.

With at least QUALITY_MIN_LABELS labels, one put_metric_data call publishes PredictionQuality (what
ModelQualityAlarm watches), LabelledPredictions and, for regression, MeanAbsoluteError, all with the
dimension Model and the window's end as timestamp. Below that only LabelledPredictions is published,
and the summary (and the log) says why.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from evergreen import prediction_log, registry
from evergreen.monitoring.quality import window_quality
from evergreen.storage import Stores

log = logging.getLogger(__name__)

DEFAULT_WINDOW_MINUTES = 60
DEFAULT_MIN_LABELS = 30
MAX_DATAPOINTS_PER_CALL = 1000  # CloudWatch's limit for one put_metric_data


# ------------------------------------------------------------------------------------------- contracts
class MonitorInput(BaseModel):
    """The scheduled event EventBridge sends (only its `time` is read: the window ends then).

    Invoked by hand with ``{}``, the window ends now.
    """

    model_config = ConfigDict(extra="ignore")

    time: datetime | None = None


class ModelQuality(BaseModel):
    """One model's window, as published (or why its quality was not)."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    version: int  # the champion whose predictions were judged
    labels: int  # its labelled predictions in the window (each once): LabelledPredictions
    other_versions: int  # labelled predictions of earlier champions in the window: not judged
    quality: float | None  # PredictionQuality (share of right predictions), when it could be judged
    mean_abs_error: float | None  # regression only
    threshold: float | None  # the spec's monitoring.quality_threshold (the champion's)
    published: bool  # PredictionQuality was published
    metrics: list[str]  # the metric names published for this model
    reason: str | None = None  # why PredictionQuality was not published


class MonitorResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_start: str
    window_end: str
    min_labels: int
    models: list[ModelQuality]


@dataclass(frozen=True)
class MonitorSettings:
    namespace: str
    window: timedelta
    min_labels: int

    def __post_init__(self) -> None:
        if self.window <= timedelta(0):
            raise ValueError(f"the quality window must be positive, got {self.window}")
        if self.min_labels < 1:
            raise ValueError(f"min labels must be at least 1, got {self.min_labels}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> MonitorSettings:
        return cls(namespace=env["METRICS_NAMESPACE"],
                   window=timedelta(minutes=float(env.get("QUALITY_WINDOW_MINUTES", DEFAULT_WINDOW_MINUTES))),
                   min_labels=int(env.get("QUALITY_MIN_LABELS", DEFAULT_MIN_LABELS)))


# ------------------------------------------------------------------------------------------- pure
def _minutes(window: timedelta) -> str:
    return f"{window.total_seconds() / 60:g} min"


def assess(champion: Mapping[str, Any], items: Iterable[Mapping[str, Any]], settings: MonitorSettings) -> ModelQuality:
    """A champion's quality over labelled prediction-log items of its model. Pure."""
    version = int(champion["version"])
    mine, others = [], 0
    for item in items:
        if item.get("model_version") == version:
            mine.append(item)
        else:
            others += 1
    window = window_quality(mine)
    metrics = ["LabelledPredictions"]
    reason: str | None = None
    if window.labels < settings.min_labels:
        reason = (f"{window.labels} labelled predictions of v{version} in the last {_minutes(settings.window)}, "
                  f"fewer than the {settings.min_labels} needed")
    else:
        if window.mean_abs_error is not None:
            metrics.append("MeanAbsoluteError")
        if window.quality is not None and window.judged >= settings.min_labels:
            metrics.append("PredictionQuality")
        elif window.judged == 0 and window.unreadable < window.labels:
            reason = f"v{version} is a regression without a tolerance: its quality cannot be judged"
        else:
            reason = (f"only {window.judged} of the {window.labels} labels of v{version} could be scored, "
                      f"fewer than the {settings.min_labels} needed")
    return ModelQuality(
        model_name=str(champion["model_name"]), version=version, labels=window.labels, other_versions=others,
        quality=window.quality, mean_abs_error=window.mean_abs_error,
        threshold=champion.get("quality_threshold"), published="PredictionQuality" in metrics, metrics=metrics,
        reason=reason,
    )


def datapoints(summary: ModelQuality, when: datetime) -> list[dict[str, Any]]:
    """The MetricData entries for one model's summary (only the metrics it lists). Pure."""
    values = {"LabelledPredictions": (float(summary.labels), "Count"),
              "PredictionQuality": (summary.quality, "None"),
              "MeanAbsoluteError": (summary.mean_abs_error, "None")}
    dims = [{"Name": "Model", "Value": summary.model_name}]
    return [{"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": float(values[name][0]),  # type: ignore[arg-type]
             "Unit": values[name][1]} for name in summary.metrics]


# ------------------------------------------------------------------------------------------- I/O
def run(inp: MonitorInput, stores: Stores, cloudwatch: Any, settings: MonitorSettings) -> MonitorResult:
    end = (inp.time or datetime.now(UTC)).astimezone(UTC)
    start = end - settings.window
    since = start.isoformat(timespec="milliseconds")  # the prediction log's created_at format
    summaries: list[ModelQuality] = []
    data: list[dict[str, Any]] = []
    for champion in registry.champions(stores.registry):
        items = prediction_log.labelled(stores.predictions, str(champion["model_name"]), since=since)
        summary = assess(champion, items, settings)
        summaries.append(summary)
        data += datapoints(summary, end)
        if summary.reason:
            log.info("quality not published", extra={"model": summary.model_name, "version": summary.version,
                                                     "labels": summary.labels, "reason": summary.reason})
        else:
            log.info("quality published", extra={"model": summary.model_name, "version": summary.version,
                                                  "labels": summary.labels, "quality": summary.quality})
    for i in range(0, len(data), MAX_DATAPOINTS_PER_CALL):  # one call up to 333 models
        cloudwatch.put_metric_data(Namespace=settings.namespace, MetricData=data[i:i + MAX_DATAPOINTS_PER_CALL])
    return MonitorResult(window_start=since, window_end=end.isoformat(timespec="milliseconds"),
                         min_labels=settings.min_labels, models=summaries)
