"""``python -m benchmarks.fuzz``: the fuzz run, longer than the test suite's, in one command.

Runs the three fuzz suites of ``tests/`` with more examples and prints a summary:

- ``schemathesis``: ``tests/http/test_schemathesis.py``, every operation of the fake's
  OpenAPI document against a live fake (examples, coverage and fuzzing phases, valid and
  invalid requests): no 5xx, every answer as documented. ``--examples`` per operation.
- ``parsing``: ``tests/http/test_fuzz_parsing.py``, hypothesis properties of request parsing
  (JSON, url-encoded, multipart and raw bodies, headers, field values). ``--examples``
  per property.
- ``state``: ``tests/engine/test_state_machine.py``, the lifecycle state machine. ``--examples``
  runs of ``--steps`` steps each.

Every run is reproducible: it prints its seed, and ``--seed S`` draws the same examples
again (the suite itself always uses seed 0). Exits 1 if any suite failed (pytest's own
report says what failed and how to reproduce it).

    python -m benchmarks.fuzz [--examples 200] [--steps 50] [--seed S] [--only parsing state]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITES = {
    "schemathesis": "tests/http/test_schemathesis.py",
    "parsing": "tests/http/test_fuzz_parsing.py",
    "state": "tests/engine/test_state_machine.py",
}


@dataclass
class Result:
    """One suite's outcome."""

    suite: str
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and self.outcomes["passed"] > 0


class _Collector:
    """A pytest plugin: every test's outcome, and the suite's STATS counter at the end."""

    def __init__(self, result: Result, module: str) -> None:
        self.result = result
        self.module = module

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "skipped" if report.skipped else report.outcome
            self.result.outcomes[outcome] += 1
            if report.failed:
                self.result.failed.append(report.nodeid)

    def pytest_sessionfinish(self, session: Any) -> None:
        module = sys.modules.get(self.module)
        stats = getattr(module, "STATS", None)
        if stats:
            self.result.stats = {_label(k): v for k, v in stats.items()}


def _label(key: object) -> str:
    if isinstance(key, tuple):
        return " | ".join(str(part) for part in key)
    return str(key)


def run_suite(name: str, extra: list[str]) -> Result:
    """Run one suite in this process (the environment already set)."""
    import pytest

    path = SUITES[name]
    result = Result(name)
    module = path.removesuffix(".py").replace("/", ".")
    started = time.perf_counter()
    pytest.main(
        ["-q", "-p", "no:cacheprovider", path, *extra], plugins=[_Collector(result, module)]
    )
    result.seconds = time.perf_counter() - started
    return result


def summary(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        "",
        f"# fuzz summary (seed {args.seed}, --examples {args.examples}, --steps {args.steps})",
        "| suite | tests | passed | failed | seconds |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        total = sum(r.outcomes.values())
        lines.append(
            f"| {r.suite} | {total} | {r.outcomes['passed']} | "
            f"{r.outcomes['failed'] + r.outcomes['error']} | {r.seconds:.1f} |"
        )
    for r in results:
        if not r.stats:
            continue
        what = "requests" if r.suite == "schemathesis" else "rule outcomes"
        lines += ["", f"## {r.suite}: {sum(r.stats.values())} {what}", "| what | count |"]
        lines.append("|---|---|")
        lines += [f"| {k} | {v} |" for k, v in sorted(r.stats.items())]
    failed = [n for r in results for n in r.failed]
    if failed:
        lines += ["", "# FAILED", *failed]
        lines.append(
            f"reproduce: python -m benchmarks.fuzz --seed {args.seed} "
            f"--examples {args.examples} --steps {args.steps} --only "
            + " ".join(r.suite for r in results if not r.ok)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__)
    parser.add_argument(
        "--examples", type=int, default=200, help="per operation / property / state machine"
    )
    parser.add_argument("--steps", type=int, default=50, help="steps per state machine run")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--only", nargs="*", choices=sorted(SUITES), default=None)
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = parser.parse_args(argv)
    if args.examples < 1 or args.steps < 1:
        parser.error("--examples and --steps must be at least 1")
    if args.seed is None:
        args.seed = random.randrange(1, 2**31)
    os.chdir(ROOT)  # pytest's config (pyproject.toml) and the tests' imports
    sys.path.insert(0, str(ROOT))
    os.environ["MOCK_WIRO_FUZZ_EXAMPLES"] = str(args.examples)
    os.environ["MOCK_WIRO_FUZZ_STEPS"] = str(args.steps)
    os.environ["MOCK_WIRO_FUZZ_SEED"] = str(args.seed)
    print(
        f"# python -m benchmarks.fuzz --seed {args.seed} --examples {args.examples} "
        f"--steps {args.steps}",
        flush=True,
    )
    results = []
    for name in args.only or list(SUITES):
        print(f"## {name} ({SUITES[name]}) ...", flush=True)
        results.append(run_suite(name, args.pytest_args))
    print(summary(results, args), flush=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "examples": args.examples,
                    "steps": args.steps,
                    "suites": [
                        {
                            "suite": r.suite,
                            "seconds": r.seconds,
                            "outcomes": dict(r.outcomes),
                            "failed": r.failed,
                            "stats": r.stats,
                        }
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
