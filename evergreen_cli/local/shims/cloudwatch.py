"""CloudWatch: the template's alarms created (``create_alarms``) and evaluated on a tick (``AlarmEvaluator``)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class UnsupportedAlarm(ValueError):
    """An alarm this local evaluator does not evaluate (metric math, percentiles, anomaly bands)."""


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def _cw_time(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class Transition:
    alarm_name: str
    alarm_arn: str
    previous: str
    state: str
    reason: str
    datapoints: tuple[float | None, ...]


class AlarmEvaluator:
    """Evaluate CloudWatch metric alarms on demand (``tick``).

    Gap (FACTS): moto stores ``put_metric_data`` but never evaluates alarms, and
    ``set_alarm_state`` fires nothing. ``tick`` does what CloudWatch does each
    period, for single-metric alarms: the statistic of each of the last
    ``EvaluationPeriods`` periods ending now, compared with the threshold;
    ``DatapointsToAlarm`` breaching periods (default: all) make ALARM;
    ``TreatMissingData`` says what an empty period counts as. On a change it
    calls ``set_alarm_state`` and puts the "CloudWatch Alarm State Change"
    event on the default bus. Periods are not clock-aligned as on AWS.
    """

    def __init__(self, cloudwatch_client: Any, events_client: Any):
        self._cw = cloudwatch_client
        self._events = events_client
        self._lock = threading.Lock()  # a background ticker and a test may tick at once

    @staticmethod
    def check(alarm: Mapping[str, Any]) -> None:
        name = alarm["AlarmName"]
        if alarm.get("Metrics"):
            raise UnsupportedAlarm(f"alarm {name}: metric-math alarms are not evaluated locally")
        if alarm.get("ExtendedStatistic") or not alarm.get("Statistic"):
            raise UnsupportedAlarm(f"alarm {name}: only Statistic (not percentiles) is evaluated locally")
        if alarm.get("ComparisonOperator") not in _COMPARE:
            raise UnsupportedAlarm(f"alarm {name}: {alarm.get('ComparisonOperator')} is not evaluated locally")

    def _datapoints(self, alarm: Mapping[str, Any], now: dt.datetime) -> list[float | None]:
        period = int(alarm["Period"])
        end = now.replace(microsecond=0) + dt.timedelta(seconds=1)  # include data put this second
        values: list[float | None] = []
        for i in range(int(alarm["EvaluationPeriods"])):  # newest first
            stop = end - dt.timedelta(seconds=i * period)
            points = self._cw.get_metric_statistics(
                Namespace=alarm["Namespace"], MetricName=alarm["MetricName"],
                Dimensions=alarm.get("Dimensions", []), StartTime=stop - dt.timedelta(seconds=period),
                EndTime=stop, Period=period, Statistics=[alarm["Statistic"]])["Datapoints"]
            values.append(float(points[0][alarm["Statistic"]]) if points else None)
        return values

    @staticmethod
    def decide(alarm: Mapping[str, Any], values: list[float | None]) -> tuple[str, str]:
        """The new state and its reason, from the newest-first period values."""
        threshold, operator = float(alarm["Threshold"]), alarm["ComparisonOperator"]
        needed = int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"])
        missing_as = alarm.get("TreatMissingData") or "missing"
        present = [v for v in values if v is not None]
        breaching = sum(_COMPARE[operator](v, threshold) for v in present)
        if missing_as == "breaching":
            breaching += len(values) - len(present)
        if not present and missing_as in ("missing", "ignore"):
            state = "INSUFFICIENT_DATA" if missing_as == "missing" else alarm["StateValue"]
            return state, "Insufficient Data: no datapoints were received for the evaluation periods."
        shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
        state = "ALARM" if breaching >= needed else "OK"
        verb = "" if state == "ALARM" else "not "
        return state, (f"Threshold Crossed: {breaching} out of the last {len(values)} datapoints [{shown}] "
                       f"were {verb}{_WORDS[operator]} the threshold ({threshold:g}) (minimum {needed} "
                       f"datapoint{'s' if needed > 1 else ''} for OK -> ALARM transition).")

    def _event_detail(self, alarm: Mapping[str, Any], previous: Mapping[str, str],
                      state: str, reason: str, when: dt.datetime) -> dict[str, Any]:
        return {
            "alarmName": alarm["AlarmName"],
            "state": {"value": state, "reason": reason, "timestamp": _cw_time(when)},
            "previousState": previous,
            "configuration": {
                "description": alarm.get("AlarmDescription", ""),
                "metrics": [{
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm["AlarmArn"])),
                    "metricStat": {
                        "metric": {
                            "namespace": alarm["Namespace"],
                            "name": alarm["MetricName"],
                            "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
                        },
                        "period": int(alarm["Period"]),
                        "stat": alarm["Statistic"],
                    },
                    "returnData": True,
                }],
            },
        }

    def tick(self, now: dt.datetime | None = None) -> list[Transition]:
        """Evaluate every metric alarm once; return the state changes (and publish them)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        transitions: list[Transition] = []
        with self._lock:
            alarms = self._cw.describe_alarms()["MetricAlarms"]
            for alarm in alarms:
                self.check(alarm)
            for alarm in alarms:
                values = self._datapoints(alarm, now)
                state, reason = self.decide(alarm, values)
                if state == alarm["StateValue"]:
                    continue
                previous = {"value": alarm["StateValue"], "reason": alarm.get("StateReason", ""),
                            "timestamp": _cw_time(alarm["StateUpdatedTimestamp"])}
                self._cw.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=reason)
                self._events.put_events(Entries=[{
                    "Source": "aws.cloudwatch",
                    "DetailType": "CloudWatch Alarm State Change",
                    "Resources": [alarm["AlarmArn"]],
                    "Detail": json.dumps(self._event_detail(alarm, previous, state, reason, now)),
                }])
                transitions.append(Transition(alarm["AlarmName"], alarm["AlarmArn"], alarm["StateValue"],
                                              state, reason, tuple(values)))
        return transitions


def create_alarms(cloudwatch_client: Any, alarms: Mapping[str, Mapping[str, Any]], resolve: Callable[[Any], Any]) -> dict[str, str]:
    """Create the template's ``AWS::CloudWatch::Alarm`` resources; ``{logical id: name}``.

    Gap (FACTS): moto's CloudFormation cannot create alarms. ``resolve`` turns the
    properties' intrinsics into values (the local stack passes moto's own
    resolver, bound to the created stack). Alarms start as INSUFFICIENT_DATA, as on AWS.
    """
    names: dict[str, str] = {}
    for logical_id, resource in alarms.items():
        props = {k: v for k, v in resolve(resource.get("Properties", {})).items() if v is not None}
        for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if key in props:
                props[key] = int(props[key])
        if "Threshold" in props:
            props["Threshold"] = float(props["Threshold"])
        if "ActionsEnabled" in props:
            props["ActionsEnabled"] = str(props["ActionsEnabled"]).lower() == "true"
        cloudwatch_client.put_metric_alarm(**props)
        cloudwatch_client.set_alarm_state(AlarmName=props["AlarmName"], StateValue="INSUFFICIENT_DATA",
                                          StateReason="Unchecked: Initial alarm creation")
        names[logical_id] = props["AlarmName"]
    return names
