"""The `evergreen` command: the same commands against the local stack and a deployed one.

Not for Lambda: layers/shared/Makefile leaves this package out of the shared layer, as it does
evergreen/local. The commands live one group per module (runs, watch, models, upload, inference,
trials, cards, report, admin, logs, local; report_data and report_page make the report page, which
evergreen.local.ui serves too); evergreen.cli.app wires them and maps errors to one line.
"""

from __future__ import annotations


def main() -> None:
    """The console script's entry point (pyproject.toml: evergreen = "evergreen.cli:main")."""
    from evergreen.cli.app import main as run

    raise SystemExit(run())
