"""evergreen.monitoring.alarms: each model's alarms come from its spec."""

from evergreen.monitoring.alarms import model_alarms
from evergreen.spec import MonitoringSpec


def test_a_models_alarms_follow_its_spec():
    spec = MonitoringSpec(quality_threshold=0.8, drift_share=0.25)
    quality, drift = model_alarms(prefix="stack", model="churn", monitoring=spec, namespace="Evergreen",
                                  period_seconds=300, topic_arn="arn:topic")
    assert quality["AlarmName"] == "stack-quality-churn" and drift["AlarmName"] == "stack-drift-churn"
    assert (quality["MetricName"], quality["Threshold"], quality["ComparisonOperator"]) == (
        "PredictionQuality", 0.8, "LessThanThreshold")
    assert (drift["MetricName"], drift["Threshold"], drift["ComparisonOperator"]) == (
        "DriftedFeatureShare", 0.25, "GreaterThanOrEqualToThreshold")
    for alarm in (quality, drift):
        assert alarm["Dimensions"] == [{"Name": "Model", "Value": "churn"}]
        assert alarm["Period"] == 300 and alarm["EvaluationPeriods"] == 1
        assert alarm["TreatMissingData"] == "notBreaching" and alarm["AlarmActions"] == ["arn:topic"]


def test_without_a_topic_the_alarms_have_no_actions():
    [quality, _] = model_alarms(prefix="p", model="m", monitoring=MonitoringSpec(), namespace="N",
                                period_seconds=60, topic_arn=None)
    assert quality["AlarmActions"] == []
