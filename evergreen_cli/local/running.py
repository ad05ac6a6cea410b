"""Where a running local stack is: the state file ``evergreen up`` (and ``make up``) writes for the CLI.

``python -m evergreen_cli.local up`` writes ``<home>/local-stack.json`` once its moto server and API
answer, and removes it when it stops. It holds the process id, the moto endpoint, the API's URL
and key, the region, the stack name and the stack's outputs. ``evergreen`` reads it to find the
stack (``--local``, the default when one is up): a file whose process is gone, or whose endpoint
does not answer, is stale and is not used.

``<home>`` is ``$EVERGREEN_HOME``, else ``$XDG_CACHE_HOME/evergreen``, else ``~/.cache/evergreen``.
Only one local stack per home: ports 4566 and 8080 are one machine's anyway; a second ``up`` with
other ports (and the same home) takes the file over, and the first no longer removes it.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

STATE_FILE = "local-stack.json"


def home() -> Path:
    """The per-user directory of Evergreen's developer tools (not created here)."""
    if os.environ.get("EVERGREEN_HOME"):
        return Path(os.environ["EVERGREEN_HOME"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "evergreen"


def state_path() -> Path:
    return home() / STATE_FILE


@dataclass(frozen=True)
class RunningStack:
    pid: int
    endpoint_url: str  # the moto server, for boto3 and the aws CLI
    api_url: str  # the template's REST API (evergreen_cli.local.api)
    api_key: str
    region: str
    stack_name: str
    outputs: dict[str, str] = field(default_factory=dict)

    def problem(self) -> str | None:
        """Why this stack cannot be used (its process is gone, its endpoint does not answer), or None."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return f"its process {self.pid} is gone"
        except PermissionError:
            pass  # another user's process: it exists
        where = urlsplit(self.endpoint_url)
        try:
            socket.create_connection((where.hostname or "127.0.0.1", where.port or 80), timeout=2).close()
        except OSError as exc:
            return f"its endpoint {self.endpoint_url} does not answer ({exc.strerror or exc})"
        return None


def write(stack: RunningStack, path: Path | None = None) -> Path:
    """Write the state file atomically (a reader never sees half of it)."""
    path = path or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(asdict(stack), indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return path


def read(path: Path | None = None) -> RunningStack | None:
    """The state file's stack, or None when there is no file. Raises ValueError when it is not one."""
    path = path or state_path()
    try:
        raw: Any = json.loads(path.read_text())
        return RunningStack(**raw)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a local stack's state file ({exc}): remove it") from None


def remove(pid: int, path: Path | None = None) -> None:
    """Remove the state file if it is still the one process `pid` wrote."""
    path = path or state_path()
    try:
        current = read(path)
    except ValueError:
        return
    if current is not None and current.pid == pid:
        path.unlink(missing_ok=True)
