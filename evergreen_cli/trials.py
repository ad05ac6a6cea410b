"""`evergreen trials --model M [--csv]`: every trial of a model across its runs.

The rows are evergreen.tracking.model_trials (one Query on the TrialsByModel index); ``--csv`` and
``--json`` print tracking.trials_csv / trials_json, the documented exports, unchanged.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from evergreen import tracking
from evergreen_cli import output
from evergreen_cli.output import CliError, JsonFlag
from evergreen_cli.target import target_of


def trials(ctx: typer.Context,
           model: Annotated[str, typer.Option("--model", "-m", help="The model whose trials to list.")],
           csv: Annotated[bool, typer.Option("--csv", help="Print the trials as CSV (tracking.trials_csv).")] = False,
           json_: JsonFlag = False) -> None:
    """Every trial of a model, oldest first: its run, family, parameters, score and cost."""
    if csv and json_:
        raise CliError("give either --csv or --json, not both")
    rows = tracking.model_trials(target_of(ctx).table("ExperimentsTableName"), model)
    if csv:
        sys.stdout.write(tracking.trials_csv(rows))
        return
    if json_:
        sys.stdout.write(tracking.trials_json(rows) + "\n")
        return
    out = output.console()
    if not rows:
        out.print(f"No trials of {escape(model)!r} yet.")
        return
    table = Table("Run", "Trial", "Rung", "Family", "Params", "Metric", "Score", "Fit", "GB-s", "Status",
                  title=f"Trials of {escape(model)} ({len(rows)})")
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in sorted((r.get("params") or {}).items()))
        table.add_row(escape(str(r["run_id"])[:12]), escape(str(r["trial_id"] or "")), str(r.get("rung") or 0),
                      escape(str(r["family"] or "")), escape(output.shorten(params, 40)), escape(str(r["metric"] or "")),
                      output.score(r["validation_score"]), output.seconds(r["fit_seconds"]), output.score(r["gb_seconds"], 1),
                      output.styled("OK" if r["status"] == "ok" else str(r["status"]).upper()))
    out.print(table)
