"""EventBridge: rules deliver to Step Functions (``EventBridgeToStepFunctions``) and scheduled
rules fire on a tick (``ScheduledRules``)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from evergreen_cli.local.shims.patch import Patch

log = logging.getLogger(__name__)


def aws_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """moto's internal event as AWS delivers it (ISO ``time``, no ``ingestion-time``)."""
    from moto.events.utils import _BASE_EVENT_MESSAGE

    shaped = {k: v for k, v in event.items() if k != "ingestion-time"}
    if shaped.get("id") == _BASE_EVENT_MESSAGE["id"]:  # moto's S3 events all carry its placeholder id
        shaped["id"] = str(uuid.uuid4())
    when = shaped.get("time")
    if isinstance(when, (int, float)):
        shaped["time"] = dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(when, dt.datetime):
        shaped["time"] = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return shaped


def target_input(target: Mapping[str, Any], event: dict[str, Any]) -> Any:
    """What a target receives: ``Input``, ``InputPath``, ``InputTransformer`` or the event."""
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        from jsonpath_ng.ext import parse

        matches = parse(target["InputPath"]).find(event)
        return matches[0].value if matches else None
    if "InputTransformer" in target:
        from moto.events.utils import EventTemplateParser

        transformer = target["InputTransformer"]
        return EventTemplateParser.parse(transformer.get("InputTemplate"),
                                         transformer.get("InputPathsMap", {}), event)
    return event


@dataclass(frozen=True)
class Delivery:
    rule: str
    target_arn: str
    execution_arn: str | None
    error: str | None = None


class EventBridgeToStepFunctions(Patch):
    """Deliver EventBridge events to Step Functions targets.

    Gap (FACTS): ``Rule.send_to_targets`` handles only logs/SQS/bus/api-destination
    targets and the error for others is swallowed. This wraps it: ``states``
    targets start an execution (input = the event, as AWS sends it; the name is
    generated, as a rule cannot set it); other targets keep moto's behaviour.
    Gap (found here): moto matches a scheduled rule (no pattern) to every event
    on the bus; on AWS it never sees them, so it gets none here (``ScheduledRules``
    fires it instead).
    """

    name = "send_to_targets"

    def __init__(self) -> None:
        super().__init__()
        from moto.events.models import Rule

        self.owner = Rule
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def _start(self, rule: Any, target: Mapping[str, Any], event: dict[str, Any]) -> None:
        from moto.stepfunctions.responses import get_backend  # the backend the API (and interpreter) use
        from moto.utilities.arns import parse_arn

        arn = parse_arn(target["Arn"])
        try:
            execution = get_backend(arn.account, arn.region).start_execution(
                target["Arn"], name=str(uuid.uuid4()), execution_input=json.dumps(target_input(target, event)))
            delivery = Delivery(rule.name, target["Arn"], execution.execution_arn)
        except Exception as exc:  # noqa: BLE001 - AWS would retry, then drop: report, don't raise
            log.warning("rule %s could not start %s: %s", rule.name, target["Arn"], exc)
            delivery = Delivery(rule.name, target["Arn"], None, f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._deliveries.append(delivery)

    def _replacement(self) -> Callable[..., Any]:
        shim, original = self, self._original

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            if rule.scheduled_expression and not rule.event_pattern.get_pattern():
                return  # a scheduled rule is fired by its schedule, never by bus events
            states = [t for t in rule.targets if t["Arn"].split(":")[2] == "states"]
            others = [t for t in rule.targets if t not in states]
            if others:
                moto_rule = copy.copy(rule)
                moto_rule.targets = others
                original(moto_rule, original_event, transform_input)
            if states and rule.event_pattern.matches_event(original_event):
                event = aws_event(original_event)
                for target in states:
                    shim._start(rule, target, event)

        return send_to_targets


# --------------------------------------------------------------------------- EventBridge schedules


class UnsupportedSchedule(ValueError):
    """A schedule this local runtime does not fire (``cron(...)``; only ``rate(...)`` is)."""


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    """``rate(5 minutes)`` -> 300. AWS's rule: the unit is singular for 1 and plural otherwise."""
    match = _RATE.match(expression.strip())
    if not match:
        raise UnsupportedSchedule(f"schedule {expression!r}: only rate(...) expressions are fired locally")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1 or (value == 1) != (not unit.endswith("s")):
        raise UnsupportedSchedule(f"schedule {expression!r} is not valid on AWS: use 'rate(1 {unit.rstrip('s')})' "
                                  f"or 'rate(N {unit.rstrip('s')}s)' for N > 1")
    return value * _RATE_SECONDS[unit.rstrip("s")]


def scheduled_event(rule_arn: str, when: dt.datetime) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's targets."""
    from moto.utilities.arns import parse_arn

    where = parse_arn(rule_arn)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": where.account,
        "time": when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": where.region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass(frozen=True)
class ScheduledInvocation:
    """One scheduled delivery to one target: the Lambda's answer, or why there is none."""

    rule: str
    rule_arn: str
    target_arn: str
    time: str
    payload: Any = None  # the function's response (or the runtime's error payload)
    error: str | None = None  # "Unhandled" (the function raised) or why it was not delivered


class ScheduledRules:
    """Fire EventBridge scheduled rules on demand (``tick``).

    Gap (found here): moto stores ``ScheduleExpression`` but never fires a rule.
    ``tick`` finds the enabled rules with a ``rate(...)`` schedule on the default
    bus and invokes their Lambda targets with the event AWS sends (``Scheduled
    Event`` from ``aws.events``, the rule's ARN in ``resources``, the tick's time),
    through the Lambda API, so ``InProcessLambda`` runs the handler. A rule fires
    when its rate has elapsed since it last fired (its first tick fires at once;
    AWS's first run comes within one rate of the rule's creation); ``force``
    fires every rule. AWS invokes asynchronously and retries; here the call is
    synchronous so the tick returns each answer. Other targets are reported, not delivered.
    """

    def __init__(self, events_client: Any, lambda_client: Any):
        self._events = events_client
        self._lambda = lambda_client
        self._lock = threading.Lock()  # a background ticker and a test may tick at once
        self._last: dict[str, dt.datetime] = {}

    def rules(self) -> list[dict[str, Any]]:
        """The enabled scheduled rules of the default bus, each with its rate in seconds."""
        found = []
        for page in self._events.get_paginator("list_rules").paginate():
            for rule in page["Rules"]:
                if rule.get("ScheduleExpression") and rule.get("State", "ENABLED") == "ENABLED":
                    found.append({**rule, "RateSeconds": rate_seconds(rule["ScheduleExpression"])})
        return found

    def _deliver(self, rule: Mapping[str, Any], target: Mapping[str, Any], event: dict[str, Any]) -> ScheduledInvocation:
        record = {"rule": rule["Name"], "rule_arn": rule["Arn"], "target_arn": target["Arn"], "time": event["time"]}
        if target["Arn"].split(":")[2] != "lambda":
            return ScheduledInvocation(**record, error="only Lambda targets of scheduled rules are delivered locally")
        try:
            answer = self._lambda.invoke(FunctionName=target["Arn"], InvocationType="RequestResponse",
                                         Payload=json.dumps(target_input(target, event)).encode())
        except Exception as exc:  # noqa: BLE001 - AWS would retry, then drop: report, don't raise
            return ScheduledInvocation(**record, error=f"{type(exc).__name__}: {exc}")
        body = answer["Payload"].read()
        payload = json.loads(body) if body else None
        return ScheduledInvocation(**record, payload=payload, error=answer.get("FunctionError"))

    def tick(self, now: dt.datetime | None = None, *, force: bool = False) -> list[ScheduledInvocation]:
        """Fire every scheduled rule that is due at ``now`` (default: the clock); return what each target answered."""
        now = now or dt.datetime.now(dt.timezone.utc)
        fired: list[ScheduledInvocation] = []
        with self._lock:
            for rule in self.rules():
                last = self._last.get(rule["Arn"])
                if not force and last is not None and (now - last).total_seconds() < rule["RateSeconds"]:
                    continue
                self._last[rule["Arn"]] = now
                event = scheduled_event(rule["Arn"], now)
                targets = self._events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
                for target in targets:
                    invocation = self._deliver(rule, target, event)
                    if invocation.error:
                        log.warning("scheduled rule %s -> %s: %s", rule["Name"], target["Arn"], invocation.error)
                    fired.append(invocation)
        return fired
