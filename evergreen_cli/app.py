"""The `evergreen` application: global options, the commands, and errors as one line.

    evergreen [--stack NAME | --local] [--region R] COMMAND [ARGS] [--json]

`main` runs it without click's standalone mode, so that every failure, a usage error, a refusal
(CliError) or an AWS error, is printed as one line on stderr with a non-zero exit status: 2 for
usage, 1 otherwise (or the command's own, e.g. `watch --timeout`).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from evergreen_cli import admin, cards, inference, local_stack, logs, models, report, runs, trials, upload, watch
from evergreen_cli.output import CliError, one_line
from evergreen_cli.target import Choice

app = typer.Typer(name="evergreen", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode="rich", help="Evergreen: keep scikit-learn models fresh. Talks to the local stack "
                  "(`evergreen up` / `make up`) when one is up, or to a deployed one with --stack NAME.")


@app.callback()
def choose(ctx: typer.Context,
           stack: Annotated[str | None, typer.Option(envvar="EVERGREEN_STACK", help="A deployed stack, found by its CloudFormation outputs.")] = None,
           local_: Annotated[bool, typer.Option("--local", help="The local stack (the default when one is up).")] = False,
           region: Annotated[str | None, typer.Option(envvar="AWS_REGION", help="The stack's region (default: boto3's).")] = None) -> None:
    source = ctx.get_parameter_source("stack")
    if local_ and source is not None and source.name == "ENVIRONMENT":
        stack = None  # --local on the command line beats $EVERGREEN_STACK
    ctx.obj = Choice(stack=stack, local=local_, region=region)


app.command("up", context_settings=local_stack.PASS_ON, add_help_option=False)(local_stack.up)
app.command("demo", context_settings=local_stack.PASS_ON, add_help_option=False)(local_stack.demo)
app.command("upload")(upload.upload)
app.command("watch")(watch.watch)
app.command("models")(models.models)
app.command("runs")(runs.runs)
app.command("run")(runs.run)
app.command("trials")(trials.trials)
app.command("predict")(inference.predict)
app.command("feedback")(inference.feedback)
app.command("card")(cards.card)
app.command("report")(report.report)
app.command("promote")(admin.promote)
app.command("end-rollout")(admin.end_rollout)
app.command("rollback")(admin.rollback)
app.command("pin")(admin.pin)
app.command("unpin")(admin.unpin)
app.command("logs")(logs.logs)


def fail(message: str, code: int = 1) -> int:
    sys.stdout.flush()
    print(f"evergreen: {one_line(message)}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` (default: sys.argv[1:]); returns the exit status."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        code = app(args=argv, prog_name="evergreen", standalone_mode=False)
    except CliError as exc:
        return fail(str(exc), exc.code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return fail("aborted", 130)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except typer.TyperException as exc:  # usage: a bad option, a missing argument, an unknown command
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if not message:  # no arguments: the help was printed
            return 0
        command = getattr(getattr(exc, "ctx", None), "command_path", None) or "evergreen"
        return fail(f"{command.removeprefix('evergreen').strip() + ': ' if command != 'evergreen' else ''}{message} "
                    f"(see `{command} --help`)", int(getattr(exc, "exit_code", 2)))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return fail(f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message') or exc}")
    except BotoCoreError as exc:
        return fail(f"AWS: {exc}")
    return int(code or 0)
