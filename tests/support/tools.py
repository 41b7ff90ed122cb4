"""Skipping for what the machine lacks: skipped locally, a failure under ``CI=true``."""

from __future__ import annotations

import os
import shutil

import pytest


def skip_or_fail(reason: str) -> None:
    """Skip the test, except under ``CI=true``, where a missing tool is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_tools(*names: str) -> None:
    """Skip (fail under CI) when command-line tools the test uses are missing."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        skip_or_fail(f"{', '.join(missing)} not installed (make system-deps installs them)")
