"""`evergreen up` and `evergreen demo`: the local runtime (evergreen_cli.local), as `make up` / `make demo`.

Their options are the local runtime's own (``evergreen up --help``): they are passed on unchanged to
``python -m evergreen_cli.local up|demo``. `up` writes the state file through which every other command
finds the running stack (evergreen_cli.local.running).
"""

from __future__ import annotations

import typer

PASS_ON = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _local(command: str, ctx: typer.Context) -> None:
    from evergreen_cli.local.__main__ import main

    code = main([command, *ctx.args])
    if code:
        raise typer.Exit(code)


def up(ctx: typer.Context) -> None:
    """Run the stack locally on moto until Ctrl-C: moto on :4566, the API on :8080 (--help for the options)."""
    _local("up", ctx)


def demo(ctx: typer.Context) -> None:
    """Run the whole loop once on the local stack and tell the story (--help for the options)."""
    _local("demo", ctx)
