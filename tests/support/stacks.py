"""The template on moto (the local runtime's LocalStack, in this process) as a stack the `evergreen`
command finds by its name alone, as it finds a deployed one: `--stack NAME`, no local state file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from evergreen_cli.local.stack import LocalStack
from tests.support.infra import ROOT


@contextmanager
def named_stack(name: str, home: Path) -> Iterator[LocalStack]:
    """The stack `name` (ModelName churn); `home`: an empty $EVERGREEN_HOME, so no local stack is found.
    Inference re-reads the champion on every request (CHAMPION_TTL_SECONDS 0)."""
    with pytest.MonkeyPatch.context() as env, LocalStack(root=ROOT, parameters={"ModelName": "churn"},
                                                          stack_name=name) as stack:
        env.setenv("CHAMPION_TTL_SECONDS", "0")
        env.setenv("EVERGREEN_HOME", str(home))
        env.delenv("EVERGREEN_STACK", raising=False)
        yield stack
