"""Each model's CloudWatch alarms, from its spec's `monitoring` section (the one source of truth).

Promote puts them (PutMetricAlarm is an upsert) with every promotion, before the champion moves, so
every model in a stack has its own alarms and a spec change takes effect with the next champion:
  - ``<prefix>-quality-<model>``: PredictionQuality (published by the monitor from stored labels)
    below ``monitoring.quality_threshold``.
  - ``<prefix>-drift-<model>``: DriftedFeatureShare at or above ``monitoring.drift_share``: the inputs
    moved, before any label says whether the model suffers.
The pipeline's EventBridge rule matches every alarm whose name starts with ``<prefix>-quality-`` or
``<prefix>-drift-`` and retrains the model named by its Model dimension; ingest guards the retrain (it
needs monitoring.min_labels labels: after a drift alarm it waits for them, and the monitor re-arms the
alarm once they are there).
Both average one monitor period and treat missing data as not breaching (no traffic is no alarm).
"""

from __future__ import annotations

from typing import Any

from evergreen.spec import MonitoringSpec

QUALITY = "quality"
DRIFT = "drift"


def alarm_name(prefix: str, kind: str, model: str) -> str:
    return f"{prefix}-{kind}-{model}"


def model_of(detail: dict[str, Any]) -> str | None:
    """The model an "Alarm State Change" event is about: its metric's Model dimension, or None."""
    for metric in (detail.get("configuration") or {}).get("metrics") or []:
        dims = ((metric.get("metricStat") or {}).get("metric") or {}).get("dimensions") or {}
        if dims.get("Model"):
            return str(dims["Model"])
    return None


def model_alarms(*, prefix: str, model: str, monitoring: MonitoringSpec, namespace: str, period_seconds: int,
                 topic_arn: str | None) -> list[dict[str, Any]]:
    """The PutMetricAlarm requests for one model. Pure."""
    common = {"Namespace": namespace, "Dimensions": [{"Name": "Model", "Value": model}], "Period": period_seconds,
              "EvaluationPeriods": 1, "TreatMissingData": "notBreaching",
              "AlarmActions": [topic_arn] if topic_arn else []}
    return [
        {**common, "AlarmName": alarm_name(prefix, QUALITY, model), "MetricName": "PredictionQuality",
         "Statistic": "Average", "Threshold": monitoring.quality_threshold, "ComparisonOperator": "LessThanThreshold",
         "AlarmDescription": (f"Live quality of {model} (its labelled predictions of the last {monitoring.window_minutes} "
                              f"min, at least {monitoring.min_labels}) fell below {monitoring.quality_threshold:g}: "
                              "retraining starts.")},
        {**common, "AlarmName": alarm_name(prefix, DRIFT, model), "MetricName": "DriftedFeatureShare",
         "Statistic": "Maximum", "Threshold": monitoring.drift_share,
         "ComparisonOperator": "GreaterThanOrEqualToThreshold",
         "AlarmDescription": (f"At least {monitoring.drift_share:.0%} of {model}'s features drifted from training "
                              f"(PSI above {monitoring.drift_threshold:g} over the last {monitoring.window_minutes} min): "
                              "retraining starts once labels of the drifted inputs arrive.")},
    ]
