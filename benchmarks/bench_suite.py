"""Suite time: the contract suite against the in-process fake, from exec to exit.

``python -m pytest contract_tests -q -p no:cacheprovider`` in a subprocess (its default
target: the fake started in-process; every ``WIRO_*`` and ``MOCK_WIRO_*`` variable is
removed so it cannot point elsewhere), timed from spawn to exit. Baseline: the same
command with ``--collect-only``, the fixed cost of starting Python, pytest, its plugins
and importing the suite, so the ratio says how much the tests themselves add. Runs
alternate (collect, suite, collect, suite, ...). ``extra`` has pytest's own count and the
slowest tests (``--durations``).

    python -m benchmarks.bench_suite [--quick]
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import Row, summary

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 30.0
SUITE = [sys.executable, "-m", "pytest", "contract_tests", "-q", "-p", "no:cacheprovider"]


def timed(args: list[str]) -> tuple[float, int, str]:
    """(seconds from spawn to exit, exit code, output) of one pytest run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIRO_", "MOCK_WIRO_"))}
    start = time.perf_counter()
    done = subprocess.run(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    return time.perf_counter() - start, done.returncode, done.stdout


def _outcome(output: str) -> str:
    """pytest's closing line, e.g. ``83 passed in 5.53s``."""
    lines = [line.strip("= ") for line in output.strip().splitlines()]
    found = [
        line for line in lines if re.search(r"\d+ (passed|failed|error|tests? collected)", line)
    ]
    return found[-1] if found else (lines[-1] if lines else "")


def _slowest(output: str, count: int = 5) -> list[str]:
    """The slowest tests of a ``--durations`` report."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "slowest" in line and "durations" in line:
            return [x.strip() for x in lines[i + 1 : i + 1 + count] if re.match(r"\s*\d", x)]
    return []


def run(quick: bool) -> list[Row]:
    runs = 1 if quick else 3
    suite: list[float] = []
    collect: list[float] = []
    facts: dict[str, Any] = {}
    failures = []
    for _ in range(runs):
        seconds, code, output = timed([*SUITE, "--collect-only"])
        collect.append(seconds)
        facts["collected"] = _outcome(output)
        if code != 0:
            failures.append(f"--collect-only exited {code}")
        seconds, code, output = timed([*SUITE, "--durations=5"])
        suite.append(seconds)
        facts["outcome"] = _outcome(output)
        facts["slowest"] = _slowest(output)
        if code != 0:
            failures.append(f"suite exited {code}: {facts['outcome']}")
    median, p99 = summary(suite)
    note = f"{runs} run(s) each, alternating; pytest: {facts.get('outcome', '?')}"
    if failures:
        note += "; FAILED: " + "; ".join(failures)
    return [
        Row(
            "suite",
            "`pytest contract_tests` (in-process fake), exec -> exit",
            median,
            "s",
            baseline=statistics.median(collect),
            baseline_label="same with --collect-only",
            median=median,
            p99=p99,
            target=f"< {TARGET_S:g} s",
            met=median < TARGET_S and not failures,
            note=note,
            extra={**facts, "suite_s": suite, "collect_s": collect},
        )
    ]


if __name__ == "__main__":
    from .__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
