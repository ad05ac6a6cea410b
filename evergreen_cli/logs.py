"""`evergreen logs [--step S]`: the functions' log lines from CloudWatch Logs, oldest first.

A deployed stack's functions log to ``/aws/lambda/<function name>``; the function of a step is found
among the stack's resources (``IngestFunction`` is step ``ingest``, ``NextRungFunction`` is
``next-rung``). ``--run ID`` keeps the lines that name the run.

The local stack has no CloudWatch Logs: its handlers run inside ``evergreen up`` and log to that
terminal (``--verbose`` for every line), so `logs` says so and exits 1 there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape

from evergreen_cli import output
from evergreen_cli.output import CliError, JsonFlag
from evergreen_cli.target import Target, target_of

FUNCTION = "AWS::Lambda::Function"


def step_name(logical_id: str) -> str:
    """IngestFunction -> ingest, NextRungFunction -> next-rung."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", logical_id.removesuffix("Function")).lower()


def step_functions(target: Target) -> dict[str, str]:
    """Each step's function name, from the stack's resources."""
    pages = target.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=target.name)
    return {step_name(r["LogicalResourceId"]): r["PhysicalResourceId"]
            for page in pages for r in page["StackResourceSummaries"] if r["ResourceType"] == FUNCTION}


def events(target: Target, functions: dict[str, str], since: datetime, pattern: str | None, limit: int) -> list[dict[str, Any]]:
    """The log events of `functions` ({step: name}) since `since`, oldest first, at most `limit`."""
    logs = target.client("logs")
    found: list[dict[str, Any]] = []
    missing = []
    for step, function in functions.items():
        kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{function}", "startTime": int(since.timestamp() * 1000)}
        if pattern:
            kwargs["filterPattern"] = pattern
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**kwargs, PaginationConfig={"MaxItems": limit}):
                found += [{"step": step, "function": function, "at": datetime.fromtimestamp(e["timestamp"] / 1000, UTC).isoformat(),
                           "message": e["message"].rstrip("\n")} for e in page["events"]]
        except logs.exceptions.ResourceNotFoundException:
            missing.append(function)
    if missing and len(missing) == len(functions):
        raise CliError(f"no log group /aws/lambda/{missing[0]}{' (nor the others)' if len(missing) > 1 else ''} in {target.where}: "
                       "the function has not logged yet, or its log group was deleted")
    return sorted(found, key=lambda e: e["at"])[-limit:]


def parse_since(text: str) -> timedelta:
    found = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if not found:
        raise CliError(f"--since {text!r}: give a duration such as 30m, 2h or 1d")
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[found.group(2)]: int(found.group(1))})


def logs(ctx: typer.Context,
         step: Annotated[str | None, typer.Option("--step", "-s", help="One step's function: ingest, train, evaluate, promote, inference, ...")] = None,
         since: Annotated[str, typer.Option(help="How far back: 30m, 2h, 1d.")] = "1h",
         run: Annotated[str | None, typer.Option("--run", help="Only the lines that name this run id.")] = None,
         limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many lines (the newest).")] = 200,
         json_: JsonFlag = False) -> None:
    """The functions' log lines (a deployed stack's CloudWatch Logs), oldest first."""
    target = target_of(ctx)
    if target.kind == "local":
        raise CliError("the local stack keeps no CloudWatch Logs: its functions log to the terminal running "
                       "`make up` (`python -m evergreen_cli.local up --verbose` for every line); "
                       "`evergreen run ID` shows each state's error")
    start = datetime.now(UTC) - parse_since(since)
    functions = step_functions(target)
    if step:
        if step not in functions:
            raise CliError(f"no step {step!r} in {target.where}: the steps are {', '.join(sorted(functions))}")
        functions = {step: functions[step]}
    lines = events(target, functions, start, f'"{run}"' if run else None, limit)
    if json_:
        output.emit_json(lines)
        return
    out = output.console()
    if not lines:
        out.print(f"No log lines from {escape(', '.join(sorted(functions)))} in the last {escape(since)}"
                  f"{' naming run ' + escape(run) if run else ''}.")
    for line in lines:
        out.print(f"[dim]{output.when(line['at'])}[/dim] [cyan]{escape(line['step'])}[/cyan] {escape(line['message'])}", soft_wrap=True)
