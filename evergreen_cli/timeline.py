"""An execution's states from its history, and how far along it is, from its definition. Pure.

``states(events, names)``: each state the execution entered, in order, with when it was entered and
left, its seconds, its invocation attempts (retries show as more than one) and its error, if a task
failed in it (a caught error is still shown: the state that caught it comes next). ``names`` keeps
the top-level states: an inline Map's iterations are part of their Map's row.

``Progress``: the states that do work (Task, Map, Parallel) left on the longest path from where the
execution is to an end of the definition, not counting Catch edges. It is an estimate: a loop (the
search's rungs) adds work, and a branch that ends early (a rejection) ends the bar at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WORK = ("Task", "Map", "Parallel")
FAILURES = ("Failed", "TimedOut", "Aborted")


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _detail(event: Mapping[str, Any], suffix: str) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith(suffix) and isinstance(v, dict)), {})


@dataclass
class StateRun:
    name: str
    type: str  # Task, Map, Choice, Pass, Succeed, Fail, ...
    entered: datetime
    exited: datetime | None = None
    attempts: int = 0
    error: str | None = None
    map_run_arn: str | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "entered": self.entered.isoformat(),
                "exited": self.exited.isoformat() if self.exited else None, "seconds": self.seconds,
                "attempts": self.attempts, "error": self.error}


def states(events: Iterable[Mapping[str, Any]], names: Iterable[str] | None = None) -> list[StateRun]:
    """The execution's top-level states in the order entered (`names`: the definition's top-level states;
    None: every state in the history)."""
    keep = set(names) if names is not None else None
    runs: list[StateRun] = []
    open_: StateRun | None = None
    for event in sorted(events, key=lambda e: e["id"]):
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            name = _detail(event, "EventDetails").get("name", "")
            if keep is None or name in keep:
                open_ = StateRun(name=name, type=kind.removesuffix("StateEntered"), entered=_time(event["timestamp"]))
                runs.append(open_)
        elif kind.endswith("StateExited"):
            name = _detail(event, "EventDetails").get("name", "")
            if open_ is not None and name == open_.name:
                open_.exited = _time(event["timestamp"])
                open_ = None
        elif open_ is not None:
            if kind in ("LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"):
                open_.attempts += 1
            elif kind == "MapRunStarted":
                open_.map_run_arn = _detail(event, "EventDetails").get("mapRunArn")
            elif kind.endswith(FAILURES) and not kind.startswith("Execution"):
                detail = _detail(event, "EventDetails")
                open_.error = " ".join(filter(None, [detail.get("error"), short_cause(detail.get("cause"))])) or kind
    return runs


def short_cause(cause: Any, width: int = 300) -> str | None:
    """A failure's cause: a Lambda error's errorMessage when the cause is its JSON."""
    if not cause:
        return None
    text = str(cause)
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("errorMessage") or text)
        except (ValueError, AttributeError):
            pass
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _edges(state: Mapping[str, Any]) -> list[str]:
    """Where a state goes next, Catch edges left out."""
    out = [c["Next"] for c in state.get("Choices") or [] if "Next" in c]
    out += [state[k] for k in ("Next", "Default") if k in state]
    return out


def work_left(definition: Mapping[str, Any]) -> dict[str, int]:
    """For each top-level state, the most work states (itself included) on a path from it to an end,
    each state counted once per path."""
    graph = definition["States"]

    def longest(name: str, seen: frozenset[str]) -> int:
        here = 1 if graph[name]["Type"] in WORK else 0
        nexts = [n for n in _edges(graph[name]) if n in graph and n not in seen]
        return here + max((longest(n, seen | {n}) for n in nexts), default=0)

    return {name: longest(name, frozenset({name})) for name in graph}


@dataclass(frozen=True)
class Progress:
    done: int  # work states finished
    total: int  # done + the most work left

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else self.done / self.total


def progress(definition: Mapping[str, Any], runs: list[StateRun], finished: bool) -> Progress:
    """How far along an execution is: work states finished, out of those plus the most still ahead."""
    done = sum(1 for r in runs if r.type in WORK and r.exited is not None)
    if finished:
        return Progress(done, done)
    left = work_left(definition)
    if not runs:
        return Progress(0, left.get(definition["StartAt"], 0))
    last = runs[-1]
    ahead = left.get(last.name, 0)
    if last.exited is not None and last.type in WORK:
        ahead -= 1  # it is done: what follows it is ahead
    return Progress(done, done + max(ahead, 0))
