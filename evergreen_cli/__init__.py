"""The `evergreen` command: the same commands against the local stack and a deployed one.

A developer tool beside the product, never deployed: the Lambda layers are built from layers/ only.
The commands live one group per module (runs, watch, models, upload, inference, trials, cards,
report, admin, logs, local_stack; report_data and report_page make the report page, which
evergreen_cli.local.ui serves too); evergreen_cli.app wires them and maps errors to one line. The
local runtime the CLI starts (`evergreen up`, `evergreen demo`) is evergreen_cli.local.
"""

from __future__ import annotations


def main() -> None:
    """The console script's entry point (pyproject.toml: evergreen = "evergreen_cli:main")."""
    from evergreen_cli.app import main as run

    raise SystemExit(run())
