"""The browser tests' chromium: skipped without it, except in CI (CI=true), where that fails."""

from __future__ import annotations

import os

import pytest

from tests.support.browser import CHROMIUM


@pytest.fixture(scope="module")
def chromium() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs it (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is not installed: apt-get install chromium (CI installs it, and fails without it)")
