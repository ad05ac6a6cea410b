"""`evergreen runs [--model M]` and `evergreen run ID`: the pipeline's runs, and one run in full.

A run is one execution of the pipeline state machine; its id is the execution's name and its record
(ExperimentsTable, sk "run": evergreen.run_records) holds the outcome, the reason, the leaderboard,
the decision and the cost. `run` shows every state with its timing (the execution's history), then
the record's trials leaderboard, decision and cost.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from evergreen import run_records
from evergreen_cli import output, timeline
from evergreen_cli.output import CliError, JsonFlag
from evergreen_cli.target import Target, target_of


def execution_arn(target: Target, run_id: str) -> str:
    """A run id (the execution's name) as the pipeline's execution ARN; an ARN is kept as given."""
    if run_id.startswith("arn:"):
        return run_id
    machine = target.output("StateMachineArn")
    prefix, _, name = machine.rpartition(":stateMachine:")
    return f"{prefix}:execution:{name}:{run_id}"


def executions(target: Target, limit: int) -> list[dict[str, Any]]:
    """The pipeline's newest executions, newest first."""
    sfn = target.client("stepfunctions")
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=target.output("StateMachineArn"),
                                                             PaginationConfig={"MaxItems": max(limit, 1) * 5}):
        found += page["executions"]
    return sorted(found, key=lambda e: e["startDate"], reverse=True)[:limit]


def history(target: Target, arn: str) -> list[dict[str, Any]]:
    pages = target.client("stepfunctions").get_paginator("get_execution_history").paginate(
        executionArn=arn, includeExecutionData=False)
    return [event for page in pages for event in page["events"]]


def definition(target: Target, execution: dict[str, Any]) -> dict[str, Any]:
    machine = target.client("stepfunctions").describe_state_machine(stateMachineArn=execution["stateMachineArn"])
    return json.loads(machine["definition"])


def describe(target: Target, run_id: str) -> dict[str, Any]:
    """The execution (status, times), or a one-line error naming the run that is not there."""
    from botocore.exceptions import ClientError

    arn = execution_arn(target, run_id)
    try:
        execution = target.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            raise CliError(f"no run {run_id!r} in {target.where} (evergreen runs lists them)") from None
        raise
    execution.pop("ResponseMetadata", None)
    return execution


def run_detail(target: Target, run_id: str, execution: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `evergreen run ID` shows, as data: the execution, its states, and the run's record."""
    execution = execution or describe(target, run_id)
    graph = definition(target, execution)
    states = timeline.states(history(target, execution["executionArn"]), graph["States"])
    record = run_records.get_run(target.table("ExperimentsTableName"), execution["name"]) or {}
    stopped = execution.get("stopDate")
    return {
        "run_id": execution["name"], "execution_arn": execution["executionArn"],
        "execution_status": execution["status"], "status": record.get("status") or execution["status"],
        "model": record.get("model_name"), "trigger": record.get("trigger"), "source": record.get("source"),
        "started_at": execution["startDate"].isoformat(), "stopped_at": stopped.isoformat() if stopped else None,
        "seconds": (stopped - execution["startDate"]).total_seconds() if stopped else None,
        "reason": record.get("reason"), "error": execution.get("error"), "cause": execution.get("cause"),
        "states": [s.as_dict() for s in states],
        "summary": record.get("summary") or {},
    }


def run_rows(target: Target, model: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest runs (of `model`), newest first: each run's record, with its execution's status."""
    table = target.table("ExperimentsTableName")
    if model:
        records = run_records.model_runs(table, model, limit)
        pairs = [(r, None) for r in records]
    else:
        pairs = [(run_records.get_run(table, e["name"]) or {"run_id": e["name"]}, e) for e in executions(target, limit)]
    rows = []
    for record, execution in pairs:
        started = record.get("started_at") or (execution["startDate"].isoformat() if execution else None)
        finished = record.get("finished_at") or (execution["stopDate"].isoformat() if execution and execution.get("stopDate") else None)
        rows.append({
            "run_id": record["run_id"], "model": record.get("model_name"), "trigger": record.get("trigger"),
            "status": record.get("status") or (execution or {}).get("status"),
            "execution_status": (execution or {}).get("status"),
            "started_at": started, "finished_at": finished, "seconds": _between(started, finished),
            "reason": record.get("reason"),
        })
    return rows


def _between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


# ----------------------------------------------------------------------------- rendering


def render_runs(rows: list[dict[str, Any]]) -> None:
    out = output.console()
    if not rows:
        out.print("No runs yet: `evergreen upload FILE --model M` starts one.")
        return
    table = Table("Run", "Model", "Trigger", "Status", "Started", "Took", "Reason", show_lines=False)
    for r in rows:
        table.add_row(escape(r["run_id"]), escape(r["model"] or ""), escape(r["trigger"] or ""),
                      output.styled(r["status"]), output.when(r["started_at"]), output.seconds(r["seconds"]),
                      escape(output.shorten(r["reason"], 90)))
    out.print(table)


def render_states(detail: dict[str, Any]) -> Table:
    table = Table("#", "State", "Type", "Entered", "Took", "Tries", "Error", title="States")
    for i, s in enumerate(detail["states"], start=1):
        tries = str(s["attempts"]) if s["attempts"] > 1 else ""
        table.add_row(str(i), escape(s["name"]), s["type"], output.when(s["entered"]),
                      output.seconds(s["seconds"]) if s["exited"] else "[cyan]running[/cyan]", tries,
                      f"[red]{escape(output.shorten(s['error'], 80))}[/red]" if s["error"] else "")
    return table


def render_leaderboard(rows: list[dict[str, Any]], metric: str | None) -> Table:
    table = Table("Rank", "Trial", "Family", "Params", metric or "Score", "CV ±", "Fit", "GB-s", "Status",
                  title="Trials")
    for r in rows:
        params = r.get("fitted_params") or {}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("threads",))
        table.add_row(str(r["rank"] or ""), escape(str(r.get("trial_id") or r["candidate_id"])), escape(r["family"]),
                      escape(output.shorten(shown, 50)), output.score(r.get("validation_score")),
                      output.score(r.get("cv_std")), output.seconds(r.get("fit_seconds")),
                      output.score(r.get("gb_seconds"), 1), output.styled("OK" if r["status"] == "ok" else r["status"]))
    return table


def render_cost(cost: dict[str, Any]) -> list[Any]:
    if cost.get("error"):
        return [f"Cost: not known ({escape(cost['error'])})"]
    table = Table("Step", "Invocations", "Seconds", "GB-s", title="Cost")
    for name, step in (cost.get("steps") or {}).items():
        table.add_row(escape(name), str(step.get("invocations", "")), output.score(step.get("seconds"), 1),
                      output.score(step.get("gb_seconds"), 1))
    usd = cost.get("usd") or {}
    total = (f"Cost: ${usd.get('total', 0):.6f} (Lambda ${usd.get('lambda', 0):.6f} + Step Functions "
             f"${usd.get('step_functions', 0):.6f} for {cost.get('state_transitions', 0)} state transitions), at "
             f"{escape(str((cost.get('prices') or {}).get('as_of', 'list prices')))}")
    return [table, total]


def render_run(detail: dict[str, Any]) -> None:
    out = output.console()
    source = detail.get("source") or {}
    where = f" s3://{source.get('bucket')}/{source.get('key')}" if source.get("key") else ""
    out.print(f"[bold]Run {escape(detail['run_id'])}[/bold]  model {escape(detail['model'] or '?')}  "
              f"{output.styled(detail['status'])}  ({escape(detail['trigger'] or '?')}{escape(where)})")
    took = output.seconds(detail["seconds"]) if detail["seconds"] is not None else "still running"
    out.print(f"started {output.when(detail['started_at'])}, took {took}, execution {output.styled(detail['execution_status'])}")
    out.print(render_states(detail))
    summary = detail["summary"]
    if summary.get("leaderboard"):
        out.print(render_leaderboard(summary["leaderboard"], summary.get("metric")))
    decision = summary.get("decision") or {}
    said = output.one_line(decision.get("reason") or "")
    if said and said not in output.one_line(detail.get("reason") or ""):
        verdict = "[green]promote[/green]" if decision.get("promote") else "[yellow]keep the champion[/yellow]"
        out.print(f"Decision: {verdict}: {escape(said)}")
    if detail.get("reason"):
        out.print(f"Outcome: {output.styled(detail['status'])}: {escape(output.one_line(detail['reason']))}")
    elif detail.get("error"):
        out.print(f"Error: [red]{escape(detail['error'])}[/red]: {escape(output.one_line(detail.get('cause') or ''))}")
    for part in render_cost(summary["cost"]) if summary.get("cost") else []:
        out.print(part)


# ----------------------------------------------------------------------------- commands


def runs(ctx: typer.Context,
         model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model's runs.")] = None,
         limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest first.")] = 20,
         json_: JsonFlag = False) -> None:
    """The pipeline's runs, newest first: model, trigger, outcome, time and reason."""
    output.show(run_rows(target_of(ctx), model, limit), json_, render_runs)


def run(ctx: typer.Context,
        run_id: Annotated[str, typer.Argument(help="The run id (the execution's name; `evergreen runs` lists them) or its ARN.")],
        json_: JsonFlag = False) -> None:
    """One run: every state with its timing, the trials leaderboard, the decision and its reason, the cost."""
    output.show(run_detail(target_of(ctx), run_id), json_, render_run)
