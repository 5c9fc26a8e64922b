"""The contract suite run as a subprocess, as a user runs it: its environment and its
outcome."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

SUITE_TIMEOUT = 600


def contract_env(**wiro: str) -> dict[str, str]:
    """This environment without any WIRO_*/MOCK_WIRO_* setting, plus ``wiro``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIRO_", "MOCK_WIRO_"))}
    env.update(wiro)
    return env


def run_suite(
    env: dict[str, str], *args: str, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """``pytest`` on ``args`` in ``cwd`` (default: the whole of ``contract_tests``)."""
    if not any(a.startswith("contract_tests") for a in args):
        args = ("contract_tests", *args)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )


def outcomes(output: str) -> dict[str, str]:
    """``{test id: PASSED|FAILED|SKIPPED|ERROR}`` from pytest's ``-rA`` summary."""
    found: dict[str, str] = {}
    for match in re.finditer(r"^(PASSED|FAILED|ERROR|SKIPPED) (\S+)", output, re.M):
        found[match.group(2)] = match.group(1)
    return found
