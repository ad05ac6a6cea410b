"""`evergreen promote | end-rollout | rollback | pin | unpin`: the audited registry moves.

Each one invokes the stack's ModelAdminFunction (output ``ModelAdminFunctionName``; evergreen.admin)
through the Lambda API, exactly the call the README documents for the aws CLI, so the move is
checked (a rollback's version verified), made in one transaction and audited the same way on AWS and
locally. A refusal (the function's error) is printed as one line and the exit status is 1; nothing
moved. The actor recorded is ``--actor``, by default the login name.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from evergreen_cli import output
from evergreen_cli.cards import parse_version
from evergreen_cli.output import CliError, JsonFlag
from evergreen_cli.target import Target, target_of

Reason = Annotated[str, typer.Option("--reason", "-r", help="Why: it goes into the audit log (required).")]
Actor = Annotated[str | None, typer.Option(help="Who, for the audit log; default: your login name.")]
Model = Annotated[str, typer.Argument(help="The model.")]


def invoke(target: Target, payload: dict[str, Any]) -> dict[str, Any]:
    """ModelAdminFunction's answer to `payload`; its error (a refusal) as a CliError."""
    function = target.output("ModelAdminFunctionName")
    answer = target.client("lambda").invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    body = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        kind = body.get("errorType", "Error")
        message = body.get("errorMessage") or "no message"
        raise CliError(f"{payload['action']} refused: {message}" if kind == "AdminError" else f"{payload['action']} failed: {kind}: {message}")
    return body


def act(ctx: typer.Context, action: str, model: str, reason: str, actor: str | None, json_: bool,
        version: int | None = None) -> None:
    payload: dict[str, Any] = {"action": action, "model": model, "reason": reason, "actor": actor or _login()}
    if version is not None:
        payload["version"] = version
    body = invoke(target_of(ctx), payload)
    if json_:
        output.emit_json(body)
        return
    entry = body.get("audit") or {}
    moves = []
    for change in entry.get("changes") or []:
        if "alias" in change:
            moves.append(f"{change['alias']} {_v(change.get('from'))} -> {_v(change.get('to'))}")
        elif "pin" in change:
            moves.append("pinned" if change["pin"] else "unpinned")
    output.console().print(f"{escape(model)}: {escape(', '.join(moves) or action)} "
                           f"(audited: {escape(str(entry.get('actor')))}: {escape(output.one_line(entry.get('reason') or ''))})")


def _v(version: Any) -> str:
    return "none" if version is None else f"v{version}"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def rollback(ctx: typer.Context, model: Model,
             version: Annotated[str, typer.Argument(help="The earlier version to serve again (3 or v3).")],
             reason: Reason, actor: Actor = None, json_: JsonFlag = False) -> None:
    """Move the champion back to an earlier, verified version."""
    act(ctx, "rollback", model, reason, actor, json_, parse_version(version))


def promote(ctx: typer.Context, model: Model, reason: Reason, actor: Actor = None, json_: JsonFlag = False) -> None:
    """End a rollout now: the challenger becomes champion."""
    act(ctx, "promote", model, reason, actor, json_)


def end_rollout(ctx: typer.Context, model: Model, reason: Reason, actor: Actor = None, json_: JsonFlag = False) -> None:
    """End a rollout now: the challenger is rolled back, the champion stays."""
    act(ctx, "end_rollout", model, reason, actor, json_)


def pin(ctx: typer.Context, model: Model, reason: Reason, actor: Actor = None, json_: JsonFlag = False) -> None:
    """Hold the champion: no run and no rollout moves it until unpin."""
    act(ctx, "pin", model, reason, actor, json_)


def unpin(ctx: typer.Context, model: Model, reason: Reason, actor: Actor = None, json_: JsonFlag = False) -> None:
    """Release the pin."""
    act(ctx, "unpin", model, reason, actor, json_)

