"""What ``make up`` says about the runs: each execution of the stack's state machines as it starts, its
work states as they finish, and its outcome.

``Watcher.poll()`` lists the executions of the stack's state machines (the pipeline and batch scoring)
and, for each one not yet seen to end, reads it as ``evergreen run`` does (evergreen_cli.runs.run_detail:
the states and their timings come from evergreen_cli.timeline, the outcome from the run record); it
returns the lines not printed before:

    [run] 5c0f… started (pipeline: upload uploads/demo/data.csv)
    [run] 5c0f… Ingest done in 0.3s
    [run] 5c0f… TrainRung done in 15.5s
    [run] 5c0f… SUCCEEDED in 18.3s: PROMOTED: v1 promoted: no champion yet: …

The formatting (``started``, ``state_done``, ``outcome``, ``new_lines``) is pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from evergreen_cli import runs, timeline
from evergreen_cli.output import one_line
from evergreen_cli.target import Target

PREFIX = "[run]"


def trigger(event: Any) -> str:
    """What started an execution, from its input (the event EventBridge or a caller sent)."""
    if not isinstance(event, Mapping):
        return "started by hand"
    detail = event.get("detail") if isinstance(event.get("detail"), Mapping) else {}
    kind = event.get("detail-type")
    if kind == "Object Created":
        return f"upload {(detail.get('object') or {}).get('key', '?')}"
    if kind == "CloudWatch Alarm State Change":
        return f"alarm {detail.get('alarmName', '?')}"
    if event.get("model_name"):
        return f"started by hand for {event['model_name']}"
    return str(kind) if kind else "started by hand"


def started(name: str, machine: str, event: Any) -> str:
    return f"{PREFIX} {name} started ({machine}: {trigger(event)})"


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}s"


def state_done(name: str, state: Mapping[str, Any]) -> str:
    """One finished state (a run_detail state: name, seconds, attempts, error)."""
    tries = f" ({state['attempts']} tries)" if (state.get("attempts") or 0) > 1 else ""
    if state.get("error"):
        took = f" after {_seconds(state['seconds'])}" if state.get("seconds") is not None else ""
        return f"{PREFIX} {name} {state['name']} failed{took}{tries}: {state['error']}"
    return f"{PREFIX} {name} {state['name']} done in {_seconds(state.get('seconds'))}{tries}"


def _batch_summary(output: Any) -> str | None:
    """A batch scoring's result (its output's summary), in a few words."""
    summary = output.get("summary") if isinstance(output, Mapping) else None
    if not isinstance(summary, Mapping) or "rows" not in summary:
        return None
    said = f"scored {summary.get('scored')} of {summary['rows']} rows"
    if summary.get("rejected"):
        said += f" ({summary['rejected']} rejected)"
    if summary.get("model"):
        said += f" with {summary['model']} v{summary.get('version')}"
    return f"{said}: {summary['predictions_key']}" if summary.get("predictions_key") else said


def outcome(detail: Mapping[str, Any], output: Any = None) -> str:
    """The end of an execution: its status, time, and why (the run record's status and reason; a
    batch's summary; else the execution's error)."""
    head = f"{PREFIX} {detail['run_id']} {detail['execution_status']} in {_seconds(detail.get('seconds'))}"
    if detail.get("reason"):
        status = detail.get("status")
        why = detail["reason"] if status in (None, detail["execution_status"]) else f"{status}: {detail['reason']}"
    else:
        why = _batch_summary(output) or " ".join(filter(None, [detail.get("error"), timeline.short_cause(detail.get("cause"))]))
    return f"{head}: {one_line(why)}" if why else head


def new_lines(detail: Mapping[str, Any], shown: int, output: Any = None) -> tuple[list[str], int]:
    """The lines an execution has to say beyond the `shown` work states already printed, and how many
    are printed after them. A work state (Task, Map, Parallel) is said once it finished: it exited,
    or a state after it was entered, or the execution ended; the outcome once the execution ended."""
    ended = detail["execution_status"] != "RUNNING"
    states = list(detail["states"])
    finished = states if ended else [s for i, s in enumerate(states) if s.get("exited") or i < len(states) - 1]
    work = [s for s in finished if s["type"] in timeline.WORK]
    lines = [state_done(detail["run_id"], s) for s in work[shown:]]
    if ended:
        lines.append(outcome(detail, output))
    return lines, len(work)


@dataclass
class _Seen:
    shown: int = 0  # work states printed
    ended: bool = False


class Watcher:
    """Follows every execution of `machines` (state machine ARNs) on `target`; `poll()` returns what is new."""

    def __init__(self, target: Target, machines: Iterable[str]):
        self.target = target
        self.machines = list(machines)
        self._seen: dict[str, _Seen] = {}

    def label(self, machine_arn: str) -> str:
        """A state machine's name without the stack's prefix: pipeline, batch-scoring."""
        return machine_arn.rsplit(":", 1)[-1].removeprefix(f"{self.target.name}-")

    def poll(self) -> list[str]:
        sfn = self.target.client("stepfunctions")
        lines: list[str] = []
        for machine in self.machines:
            found = [e for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
                     for e in page["executions"]]
            for listed in sorted(found, key=lambda e: e["startDate"]):
                seen = self._seen.get(listed["executionArn"])
                if seen is not None and seen.ended:
                    continue
                execution = sfn.describe_execution(executionArn=listed["executionArn"])
                execution.pop("ResponseMetadata", None)
                if seen is None:
                    seen = self._seen[listed["executionArn"]] = _Seen()
                    lines.append(started(execution["name"], self.label(machine), _json(execution.get("input"))))
                detail = runs.run_detail(self.target, execution["name"], execution)
                said, seen.shown = new_lines(detail, seen.shown, _json(execution.get("output")))
                seen.ended = detail["execution_status"] != "RUNNING"
                lines += said
        return lines


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
