"""What a run cost: each step's Lambda GB-seconds, the state transitions, and a dollar estimate.

Prices are AWS's published list prices in us-east-1 as of December 2026, first tier, before any free
tier or savings plan: Lambda on x86_64 (the template's architecture) per GB-second of duration and per
request, Step Functions Standard workflows per state transition. Change them here when AWS does.

Measured from the execution's history (``stepfunctions get_execution_history``), which AWS and
moto's interpreter both keep for the pipeline's own states: each Lambda Task invocation runs from its
LambdaFunctionStarted event to its LambdaFunctionSucceeded / Failed / TimedOut (one still running, as
FinishRun's own is while it reads the history, runs until ``now``), at its function's MemorySize. The
duration is the invocation as the state machine saw it: on AWS that includes a cold start's init,
which Lambda bills too, and the invoke round trip, which it does not.

Transitions: every state the execution entered, and every retry of a Task (AWS bills each). Counted
when FinishRun reads them: the Succeed or Fail state after it (one or two more) is not in them.

What the parent's history does not show (a Distributed Map's child executions have histories of their
own, which moto does not keep) the caller passes in as ``StepUsage``: the trials' GB-seconds from their
records, and one transition per child execution (its Train state; a crashed trial's TrialCrashed state
and Lambda retries inside a child are not seen).

Not counted: a SageMaker refit job (instance-hours: evergreen.sagemaker_refit), S3, DynamoDB,
CloudWatch and data transfer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evergreen import tracking

PRICES_AS_OF = "us-east-1 list prices, 2026-12"
LAMBDA_USD_PER_GB_SECOND = 0.0000166667  # x86_64, the first 6 billion GB-seconds of a month
LAMBDA_USD_PER_MILLION_REQUESTS = 0.20
STEP_FUNCTIONS_USD_PER_THOUSAND_TRANSITIONS = 0.025  # Standard workflows

_ENDS = {"LambdaFunctionSucceeded", "LambdaFunctionFailed", "LambdaFunctionTimedOut"}


@dataclass(frozen=True)
class Invocation:
    """One Lambda invocation of a Task state (a retry is another)."""

    state: str  # the Task state's name
    function_arn: str
    seconds: float
    entered: int  # the id of the StateEntered event of the state's entry it belongs to (its retries share it)


@dataclass(frozen=True)
class StepUsage:
    """A step the execution's history does not time: how often it ran and the GB-seconds it used."""

    invocations: int
    gb_seconds: float
    transitions: int


def lambda_invocations(events: Iterable[Mapping[str, Any]], now: datetime) -> list[Invocation]:
    """The Lambda invocations in an execution's history events (get_execution_history's, in order)."""
    by_id = {event["id"]: event for event in events}
    scheduled: dict[int, Mapping[str, Any]] = {}  # LambdaFunctionStarted id -> its LambdaFunctionScheduled
    ended: dict[int, datetime] = {}  # LambdaFunctionStarted id -> when it ended
    for event in by_id.values():
        if event["type"] == "LambdaFunctionStarted":
            scheduled[event["id"]] = by_id[event["previousEventId"]]
        elif event["type"] in _ENDS:
            ended[event["previousEventId"]] = event["timestamp"]
    out = []
    for started_id, schedule in scheduled.items():
        entered = _entered(by_id, schedule)
        seconds = (ended.get(started_id, now) - by_id[started_id]["timestamp"]).total_seconds()
        out.append(Invocation(state=entered["stateEnteredEventDetails"]["name"],
                              function_arn=schedule["lambdaFunctionScheduledEventDetails"]["resource"],
                              seconds=max(seconds, 0.0), entered=entered["id"]))
    return out


def _entered(by_id: Mapping[int, Mapping[str, Any]], event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The StateEntered event an event follows from (a retry's schedule follows the failure before it)."""
    while not event["type"].endswith("StateEntered"):
        event = by_id[event["previousEventId"]]
    return event


def state_transitions(events: Iterable[Mapping[str, Any]], invocations: Iterable[Invocation]) -> int:
    """States entered, plus each Task retry (an entry's invocations beyond its first)."""
    entries = sum(1 for event in events if event["type"].endswith("StateEntered"))
    per_entry: dict[int, int] = {}
    for invocation in invocations:
        per_entry[invocation.entered] = per_entry.get(invocation.entered, 0) + 1
    return entries + sum(n - 1 for n in per_entry.values())


def map_runs(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ARNs of the Distributed Map runs an execution started (their children are not in its history)."""
    return [event["mapRunStartedEventDetails"]["mapRunArn"] for event in events if event["type"] == "MapRunStarted"]


def run_cost(invocations: list[Invocation], transitions: int, memory_mb: Callable[[str], int],
             other_steps: Mapping[str, StepUsage] | None = None) -> dict[str, Any]:
    """The run record's ``cost``: per step (Task state name) its invocations, seconds and GB-seconds;
    the execution's transitions; and the dollars. `memory_mb`: a function's MemorySize by its ARN.
    `other_steps`: steps the history does not time (no seconds for them)."""
    steps: dict[str, dict[str, Any]] = {}
    for invocation in invocations:
        step = steps.setdefault(invocation.state, {"invocations": 0, "seconds": 0.0, "gb_seconds": 0.0})
        step["invocations"] += 1
        step["seconds"] += invocation.seconds
        step["gb_seconds"] += tracking.gb_seconds(invocation.seconds, memory_mb(invocation.function_arn))
    for name, usage in (other_steps or {}).items():
        steps[name] = {"invocations": usage.invocations, "gb_seconds": usage.gb_seconds}
        transitions += usage.transitions
    gb_seconds = sum(step["gb_seconds"] for step in steps.values())
    requests = sum(step["invocations"] for step in steps.values())
    usd_lambda = gb_seconds * LAMBDA_USD_PER_GB_SECOND + requests / 1e6 * LAMBDA_USD_PER_MILLION_REQUESTS
    usd_states = transitions / 1e3 * STEP_FUNCTIONS_USD_PER_THOUSAND_TRANSITIONS
    return {
        "steps": {name: {k: round(v, 4) if isinstance(v, float) else v for k, v in step.items()}
                  for name, step in steps.items()},
        "state_transitions": transitions,
        "lambda_gb_seconds": round(gb_seconds, 4),
        "lambda_requests": requests,
        "usd": {"lambda": round(usd_lambda, 6), "step_functions": round(usd_states, 6),
                "total": round(usd_lambda + usd_states, 6)},
        "prices": {"as_of": PRICES_AS_OF, "lambda_gb_second": LAMBDA_USD_PER_GB_SECOND,
                   "lambda_million_requests": LAMBDA_USD_PER_MILLION_REQUESTS,
                   "thousand_state_transitions": STEP_FUNCTIONS_USD_PER_THOUSAND_TRANSITIONS},
    }
