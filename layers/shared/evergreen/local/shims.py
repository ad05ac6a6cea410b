"""Small bridges over the gaps between moto 5.2.5 and AWS (FACTS: "Gaps to bridge").

Each bridge is one function or class. The classes patch one moto method and
are context managers (``install()`` / ``uninstall()``). None of them interprets
ASL: moto's own Step Functions interpreter runs the state machine.

- ``InProcessLambda``: Lambda invocations run the real handler in this process.
- ``EventBridgeToStepFunctions``: EventBridge rules start executions.
- ``DefaultExecutionName``: an execution started without a name gets a UUID.
- ``ScheduledRules``: EventBridge scheduled rules invoke their Lambda targets on a tick.
- ``AlarmEvaluator``: CloudWatch alarms get evaluated and emit state-change events.
- ``configure_buckets``: S3 versioning and S3 -> EventBridge, as the template asks.
- ``register_state_machines``: CloudFormation's state machines, visible to the interpreter.
- ``create_alarms``: the template's alarms, which moto's CloudFormation skips.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Metrics

from evergreen.local.template import FunctionSpec

log = logging.getLogger(__name__)


class _Patch:
    """Replace ``owner.name`` while installed; a context manager."""

    owner: Any
    name: str

    def __init__(self) -> None:
        self._original: Callable[..., Any] | None = None

    def _replacement(self) -> Callable[..., Any]:
        raise NotImplementedError

    def install(self) -> _Patch:
        if self._original is not None:
            raise RuntimeError(f"{type(self).__name__} is already installed")
        self._original = getattr(self.owner, self.name)
        setattr(self.owner, self.name, self._replacement())
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            setattr(self.owner, self.name, self._original)
            self._original = None

    def __enter__(self) -> _Patch:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


# --------------------------------------------------------------------------- Lambda


class EnvironmentConflict(RuntimeError):
    """Two functions set one environment variable to different values."""


@dataclass(frozen=True)
class Invocation:
    """One in-process Lambda invocation, for narration and tests."""

    function: str  # logical id
    function_name: str
    request_id: str
    started_at: float
    duration_s: float
    error_type: str | None = None
    error_message: str | None = None


class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    def __init__(self, function_name: str, arn: str, memory_mb: int, timeout_s: int, request_id: str):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = int(memory_mb)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + int(timeout_s)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaRuntimeError(Exception):
    """An error the Lambda runtime itself reports (``Runtime.ImportModuleError``, ``Runtime.MarshalError``)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def lambda_error(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The payload the Python runtime returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": getattr(exc, "error_type", type(exc).__name__),
        "requestId": request_id,
        "stackTrace": traceback.format_list(  # the handler's frames, not this module's
            [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]),
    }


def restore_env(saved: dict[str, str | None]) -> None:
    """Put back the os.environ values in `saved` (None: the variable was unset), then forget them."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    saved.clear()


def load_handler(spec: FunctionSpec) -> tuple[str, Callable[[Any, Any], Any]]:
    """(module name, handler) of a function: its module imported from its code directory under a
    name of its own (two functions' app.py never collide), with the directory on sys.path while it
    imports (sibling modules of app.py, as in /var/task)."""
    module_path, attr = spec.handler.rsplit(".", 1)
    relative = module_path.replace(".", "/")
    file = spec.code_dir / f"{relative}.py"
    if not file.exists():
        file = spec.code_dir / relative / "__init__.py"
    module_name = f"_evergreen_local_{spec.logical_id}_{relative.replace('/', '_')}"
    module_spec = importlib.util.spec_from_file_location(module_name, file)
    if module_spec is None or module_spec.loader is None or not file.exists():
        raise ImportError(f"{spec.logical_id}: no module for handler {spec.handler} in {spec.code_dir}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(spec.code_dir))
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, ImportError):
            raise LambdaRuntimeError("Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}") from exc
        raise
    finally:
        sys.path.remove(str(spec.code_dir))
    return module_name, getattr(module, attr)


def invoke_handler(handler: Callable[[], Callable[[Any, Any], Any]], context: LambdaContext,
                   event: Any) -> tuple[bool, Any]:
    """Call the handler `handler()` returns as the runtime does: ``(True, result)``, or ``(False, the
    runtime's error payload)`` for an import error, an exception or a result JSON cannot hold."""
    try:
        result = handler()(event, context)
        try:
            json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise LambdaRuntimeError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None
        return True, result
    except Exception as exc:  # noqa: BLE001 - every handler error becomes Lambda's error payload
        return False, lambda_error(exc, context.aws_request_id)
    finally:
        if os.environ.get("POWERTOOLS_METRICS_DISABLED") == "true":
            # Powertools (3.x) keeps a disabled Metrics' values, shared by every instance in the process,
            # and prints them at the 100th value whatever the setting: each invocation leaves none behind
            Metrics().clear_metrics()


class InProcessLambda(_Patch):
    """Run the real handler when moto invokes a Lambda function.

    Gap (FACTS, "Lambda tasks without docker"): both ``lambda:invoke`` and plain
    Lambda ARNs in ASL end in ``LambdaSimpleBackend.invoke``, which only echoes.
    This replaces that method. A raised exception becomes the runtime's error
    payload with ``x-amz-function-error: Unhandled``, so the interpreter's
    Retry/Catch see ``Error`` = the exception's type and ``Cause`` = the JSON.

    ``functions`` maps Lambda function *names* to their local code. Functions
    not in it keep moto's behaviour. Handlers read the environment at import and
    Map iterations run in threads sharing ``os.environ``, so the union of every
    function's Environment is applied once (``env_overrides`` win); two
    functions disagreeing on a variable is an ``EnvironmentConflict``.

    ``processes`` (evergreen.local.lambda_processes) runs the functions it names in
    worker processes instead: a Map's trials then use every core, as concurrent
    Lambda invocations each get their own execution environment.
    """

    name = "invoke"

    def __init__(self, functions: Mapping[str, FunctionSpec], lambda_client: Any,
                 env_overrides: Mapping[str, str] | None = None, processes: Any = None):
        super().__init__()
        self.processes = processes  # evergreen.local.lambda_processes.LambdaProcesses; None: every call here
        from moto.awslambda_simple.models import LambdaSimpleBackend

        self.owner = LambdaSimpleBackend
        self.functions = dict(functions)
        self._client = lambda_client
        self._env_overrides = dict(env_overrides or {})
        self._configs: dict[str, dict[str, Any]] = {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._modules: list[str] = []
        self._paths: list[str] = []
        self._saved_env: dict[str, str | None] = {}
        self._import_lock = threading.Lock()
        self._record_lock = threading.Lock()
        self._invocations: list[Invocation] = []

    @property
    def invocations(self) -> list[Invocation]:
        with self._record_lock:
            return list(self._invocations)

    # -- environment
    @staticmethod
    def env_text(value: Any) -> str:
        """A variable as Lambda holds it: text. Gap (found here): moto keeps the int of a ``Number``
        parameter or of a number in a mapping (``!FindInMap [MonitorSchedule, ..., Seconds]``) where
        CloudFormation passes the string."""
        if isinstance(value, bool):
            return str(value).lower()
        return value if isinstance(value, str) else str(value)

    def merged_environment(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for name, config in self._configs.items():
            for key, value in (config.get("Environment") or {}).get("Variables", {}).items():
                if key in self._env_overrides:
                    continue
                value = self.env_text(value)
                if key in merged and merged[key] != value:
                    raise EnvironmentConflict(
                        f"{key} is {merged[key]!r} in {owner[key]} but {value!r} in {name}: in-process "
                        "handlers share one os.environ, so give the variable one value (or two names)")
                merged[key], owner[key] = value, name
        return {**merged, **self._env_overrides}

    def install(self) -> InProcessLambda:
        self._configs = {n: self._client.get_function_configuration(FunctionName=n) for n in self.functions}
        environment = self.merged_environment()
        for key, value in environment.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        for spec in self.functions.values():  # layers: on sys.path, after the venv (FACTS)
            for layer in map(str, spec.layer_dirs):
                if layer not in sys.path:
                    sys.path.append(layer)
                    self._paths.append(layer)
        super().install()
        return self

    def uninstall(self) -> None:
        super().uninstall()
        restore_env(self._saved_env)
        for module in self._modules:  # the next stack has other names in its environment
            sys.modules.pop(module, None)
        self._modules.clear()
        self._handlers.clear()
        for path in self._paths:
            if path in sys.path:
                sys.path.remove(path)
        self._paths.clear()

    # -- handlers
    def handler_for(self, function_name: str) -> Callable[[Any, Any], Any]:
        """Import (once, thread-safely) the handler of a function, under a module name of its own."""
        handler = self._handlers.get(function_name)
        if handler is not None:
            return handler
        with self._import_lock:
            if function_name in self._handlers:
                return self._handlers[function_name]
            module_name, handler = load_handler(self.functions[function_name])
            self._modules.append(module_name)
            self._handlers[function_name] = handler
            return handler

    def call(self, function_name: str, event: Any) -> tuple[bool, Any]:
        """Run one invocation, here or in a worker process (``processes``); ``(ok, result or error
        payload)``. Records it."""
        spec = self.functions[function_name]
        config = self._configs[function_name]
        request_id = str(uuid.uuid4())
        context = (function_name, config["FunctionArn"], config.get("MemorySize", 128), config.get("Timeout", 3),
                   request_id)
        started, clock = time.time(), time.perf_counter()
        if self.processes is not None and spec.logical_id in self.processes.functions:
            ok, result = self.processes.call(spec, context, event)
        else:
            ok, result = invoke_handler(lambda: self.handler_for(function_name), LambdaContext(*context), event)
        record = Invocation(spec.logical_id, function_name, request_id, started, time.perf_counter() - clock,
                            None if ok else result["errorType"], None if ok else result["errorMessage"])
        with self._record_lock:
            self._invocations.append(record)
        return ok, result

    def _replacement(self) -> Callable[..., Any]:
        shim, original = self, self._original

        def invoke(backend: Any, function_name: str, qualifier: str | None, body: Any,
                   headers: Any, response_headers: Any) -> bytes | str | None:
            name = backend.get_function(function_name, qualifier).function_name
            if name not in shim.functions:
                return original(backend, function_name, qualifier, body, headers, response_headers)
            if isinstance(body, bytes):
                body = body.decode("utf-8")
            ok, result = shim.call(name, json.loads(body) if body else {})
            if not ok:
                response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(result).encode("utf-8")
            response_headers["Content-Length"] = str(len(payload))
            return payload

        return invoke


# --------------------------------------------------------------------------- EventBridge


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


class EventBridgeToStepFunctions(_Patch):
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


class DefaultExecutionName(_Patch):
    """Name an execution started without ``name`` with a UUID, as AWS does.

    Gap (found here, not in FACTS): with ``execute_state_machine`` on, moto's
    ``StepFunctionsParserBackend.start_execution`` keeps ``name=None``: the ARN
    ends in ``:None`` and the next unnamed start fails with ``ExecutionAlreadyExists``.
    """

    name = "start_execution"

    def __init__(self) -> None:
        super().__init__()
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        self.owner = StepFunctionsParserBackend

    def _replacement(self) -> Callable[..., Any]:
        original = self._original

        def start_execution(backend: Any, state_machine_arn: str, name: str | None = None,
                            execution_input: Any = None, trace_header: Any = None) -> Any:
            return original(backend, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

        return start_execution


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


# --------------------------------------------------------------------------- CloudWatch alarms


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


# --------------------------------------------------------------------------- one-shot bridges


def configure_buckets(s3_client: Any, buckets: Mapping[str, Mapping[str, Any]]) -> None:
    """Apply the bucket settings moto's CloudFormation ignores; ``{bucket name: properties}``.

    Gap (FACTS): moto's CloudFormation ignores ``NotificationConfiguration.
    EventBridgeConfiguration`` (so no S3 -> EventBridge events), and (found
    here) ``VersioningConfiguration`` (so no ``version-id`` in those events).
    Other notification configurations already on the bucket are kept.
    """
    for bucket, props in buckets.items():
        versioning = (props.get("VersioningConfiguration") or {}).get("Status")
        if versioning:
            s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": versioning})
        eventbridge = (props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration") or {}
        if str(eventbridge.get("EventBridgeEnabled")).lower() == "true":
            current = s3_client.get_bucket_notification_configuration(Bucket=bucket)
            current.pop("ResponseMetadata", None)
            current["EventBridgeConfiguration"] = {}
            s3_client.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)


def register_state_machines(arns: Iterable[str], types: Mapping[str, str] | None = None) -> None:
    """Make CloudFormation's state machines executable.

    Gap (FACTS): moto's CloudFormation creates ``AWS::StepFunctions::StateMachine``
    in the plain Step Functions backend; the executing interpreter (and the API,
    once ``execute_state_machine`` is on) use the parser backend. Re-create each
    there under the same ARN (same name, same account and region).
    """
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.utilities.arns import parse_arn

    for arn in arns:
        where = parse_arn(arn)
        created = stepfunctions_backends[where.account][where.region].describe_state_machine(arn)
        parser = stepfunctions_parser_backends[where.account][where.region]
        copy_ = parser.create_state_machine(
            name=created.name, definition=created.definition, roleArn=created.roleArn,
            tags=created.backend.get_tags_list_for_state_machine(arn) or None,
            sm_type=(types or {}).get(arn) or created.type or "STANDARD",
        )
        assert copy_.arn == arn, (copy_.arn, arn)


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
