"""`evergreen watch [ID]`: a run's progress, state by state, until it ends.

It polls the execution's history (every `--interval` seconds), prints each state as it finishes with
its time, and keeps a progress bar of the work states done out of those still possibly ahead
(evergreen_cli.timeline.progress); while the search's Distributed Map runs, a second bar counts its
trials (describe_map_run). At the end it prints the outcome and the reason from the run's record.
Without an ID it watches the newest running execution, else the newest one.

Exit status: 0 when the execution succeeded (a rejected challenger or a skipped upload is a success:
the run did its job), 1 when it failed, timed out or was aborted, 2 when `--timeout` ran out first.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from evergreen_cli import output, runs, timeline
from evergreen_cli.output import CliError
from evergreen_cli.target import Target, target_of

TIMED_OUT = 2


def newest_execution(target: Target) -> dict[str, Any]:
    recent = runs.executions(target, 20)
    if not recent:
        raise CliError(f"no run in {target.where} yet: `evergreen upload FILE --model M` starts one")
    return next((e for e in recent if e["status"] == "RUNNING"), recent[0])


def _line(state: timeline.StateRun) -> str:
    mark = "[red]✗[/red]" if state.error else "[green]✓[/green]"
    tries = f" ({state.attempts} tries)" if state.attempts > 1 else ""
    error = f"  [red]{escape(output.shorten(state.error, 120))}[/red]" if state.error else ""
    return f"{mark} {escape(state.name):<24} {output.seconds(state.seconds):>10}{tries}{error}"


def _trials(target: Target, state: timeline.StateRun) -> tuple[int, int] | None:
    """(finished, total) trials of a running Distributed Map, or None when AWS does not say."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not state.map_run_arn or state.exited is not None:
        return None
    try:
        counts = target.client("stepfunctions").describe_map_run(mapRunArn=state.map_run_arn)["itemCounts"]
    except (ClientError, BotoCoreError, KeyError):
        return None
    total = int(counts.get("total") or 0)
    return (int(counts.get("succeeded", 0)) + int(counts.get("failed", 0)) + int(counts.get("aborted", 0)), total) if total else None


def follow(target: Target, execution: dict[str, Any], interval: float, timeout: float | None, show: bool) -> dict[str, Any]:
    """Poll until the execution ends (or `timeout`); print its states as they finish when `show`.
    Returns describe_execution's last answer."""
    sfn = target.client("stepfunctions")
    arn = execution["executionArn"]
    graph = runs.definition(target, execution)
    printed = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    out = output.console()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=True, disable=not (show and out.is_terminal)) as bar:
        steps = bar.add_task(f"run {escape(execution['name'])}", total=None)
        trials_task: Any = None
        while True:
            execution = sfn.describe_execution(executionArn=arn)
            finished = execution["status"] != "RUNNING"
            states = timeline.states(runs.history(target, arn), graph["States"])
            done = [s for s in states if s.exited is not None]
            if show:
                for state in done[printed:]:
                    bar.console.print(_line(state))
            printed = len(done)
            at = timeline.progress(graph, states, finished)
            current = states[-1] if states and states[-1].exited is None else None
            where = current.name if current else ("done" if finished else "…")
            bar.update(steps, completed=at.done, total=max(at.total, 1), description=f"{escape(execution['name'])}: {escape(where)}")
            counted = _trials(target, current) if current else None
            if counted and trials_task is None:
                trials_task = bar.add_task(f"  {escape(current.name)} trials", total=counted[1])
            if trials_task is not None:
                if counted:
                    bar.update(trials_task, completed=counted[0], total=counted[1])
                else:
                    bar.remove_task(trials_task)
                    trials_task = None
            if finished:
                return execution
            if deadline is not None and time.monotonic() > deadline:
                raise CliError(f"run {execution['name']} is still RUNNING after {timeout:g} s "
                               f"(evergreen watch {execution['name']} goes on watching)", code=TIMED_OUT)
            time.sleep(interval)


def watch(ctx: typer.Context,
          run_id: Annotated[str | None, typer.Argument(help="The run to watch; default: the newest running run, else the newest.")] = None,
          interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 1.0,
          timeout: Annotated[float | None, typer.Option(min=1, help="Give up after this many seconds (exit 2).")] = None,
          json_: Annotated[bool, typer.Option("--json", help="Wait quietly, then print what `evergreen run ID --json` prints.")] = False) -> None:
    """Live progress of a run, state by state, with a progress bar, until it ends."""
    target = target_of(ctx)
    execution = runs.describe(target, run_id) if run_id else newest_execution(target)
    if not json_:
        output.console().print(f"Watching run [bold]{escape(execution['name'])}[/bold] in {escape(target.where)} "
                               "(Ctrl-C stops watching, not the run)")
    final = follow(target, execution, interval, timeout, show=not json_)
    detail = runs.run_detail(target, final["name"], {k: v for k, v in final.items() if k != "ResponseMetadata"})
    if json_:
        output.emit_json(detail)
    else:
        out = output.console()
        took = output.seconds(detail["seconds"])
        if detail.get("reason"):
            out.print(f"{output.styled(detail['status'])} in {took}: {escape(output.one_line(detail['reason']))}")
        else:
            out.print(f"{output.styled(detail['execution_status'])} in {took}: "
                      f"{escape(output.one_line(' '.join(filter(None, [detail.get('error'), detail.get('cause')]))))}")
        out.print(f"Details: evergreen run {escape(detail['run_id'])}")
    if final["status"] != "SUCCEEDED":
        raise typer.Exit(1)
