"""How the CLI speaks: rich tables for people, ``--json`` for scripts, and errors as one line.

A command gathers plain data (dicts and lists that ``json.dumps`` takes), then either prints it as
JSON (``emit_json``) or renders it with rich on ``console()``. ``CliError`` is the one way a command
fails: ``evergreen_cli.app.main`` prints its message as one line on stderr and exits non-zero.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]


class CliError(Exception):
    """A command failed for a reason the user can act on; `str()` is the one line printed."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(one_line(message))
        self.code = code


def one_line(text: str) -> str:
    """`text` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(str(text).split())


def console() -> Console:
    """A console on the current stdout (made per call: tests swap sys.stdout). Wide when not a terminal,
    so piped tables are not cut to 80 columns."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, highlight=False)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_default)


def emit_json(data: Any) -> None:
    sys.stdout.write(to_json(data) + "\n")
    sys.stdout.flush()


def show(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """`data` as JSON for scripts, or rendered for people."""
    if as_json:
        emit_json(data)
    else:
        render(data)


def when(value: Any) -> str:
    """An ISO time (or datetime) as local 'YYYY-MM-DD HH:MM:SS'; '' for None."""
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(round(value)), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def score(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"


def shorten(text: Any, width: int = 100) -> str:
    text = one_line("" if text is None else str(text))
    return text if len(text) <= width else text[: width - 1] + "…"


def status_style(status: str | None) -> str:
    return {"PROMOTED": "green", "SUCCEEDED": "green", "OK": "green", "REJECTED": "yellow", "SKIPPED": "dim",
            "RUNNING": "cyan", "FAILED": "red", "ALARM": "red", "TIMED_OUT": "red", "ABORTED": "red",
            "INSUFFICIENT_DATA": "dim"}.get(str(status), "")


def styled(status: str | None) -> str:
    style = status_style(status)
    return f"[{style}]{status}[/{style}]" if style and status else str(status or "")
