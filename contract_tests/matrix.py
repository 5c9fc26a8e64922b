"""The rule matrix, generated from the suite itself: rule -> the tests that judge it on a
real target, and the tests that judge it only on the fake (``mock_only``).

    python -m contract_tests.matrix            # write it into docs/contract.md, and print it
    python -m contract_tests.matrix --check    # exit 1 if docs/contract.md is stale
    python -m contract_tests.matrix --json     # the data, for tests/contract

It collects ``contract_tests`` (``pytest --collect-only``: nothing runs, no server starts)
and reads each test's ``rule``, ``mock_only`` and ``spends`` markers. The table goes into
``docs/contract.md`` between ``<!-- rule-matrix:start -->`` and ``<!-- rule-matrix:end -->``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from .judging import rules_of
from .rules import RULES, Rule

SUITE_DIR = Path(__file__).resolve().parent
REPO = SUITE_DIR.parent
CONTRACT_MD = REPO / "docs" / "contract.md"
START = "<!-- rule-matrix:start -->"
END = "<!-- rule-matrix:end -->"


@dataclass(frozen=True)
class Test:
    """One collected contract test (a parametrized variant is one test)."""

    nodeid: str
    rules: tuple[str, ...]
    mock_only: bool
    spends: int

    @property
    def function(self) -> str:
        """``file.py::test_name``, without ``contract_tests/`` and the parameters."""
        return self.nodeid.removeprefix("contract_tests/").split("[", 1)[0]

    @property
    def param(self) -> str | None:
        """The parameter id (``held`` of ``test_x[held]``), if any."""
        _, bracket, rest = self.nodeid.partition("[")
        return rest[:-1] if bracket else None


class CollectionFailed(Exception):
    """Collecting the suite failed (a test without a known rule, an import error...)."""


class _Collector:
    def __init__(self) -> None:
        self.tests: list[Test] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            spends = item.get_closest_marker("spends")
            self.tests.append(
                Test(
                    nodeid=item.nodeid,
                    rules=tuple(rules_of(item.iter_markers("rule"))),
                    mock_only=item.get_closest_marker("mock_only") is not None,
                    spends=int(spends.args[0]) if spends else 0,
                )
            )


def collect() -> list[Test]:
    """Every test of ``contract_tests`` with its markers (pytest's own collection)."""
    collector = _Collector()
    output = io.StringIO()
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO)]
    with contextlib.redirect_stdout(output):
        code = pytest.main([*args, str(SUITE_DIR)], plugins=[collector])
    if code != pytest.ExitCode.OK:
        raise CollectionFailed(f"collecting contract_tests failed ({code!r}):\n{output.getvalue()}")
    return collector.tests


@dataclass(frozen=True)
class Row:
    """One rule of the matrix."""

    rule: Rule
    real: tuple[Test, ...]
    fake_only: tuple[Test, ...]

    @property
    def free(self) -> bool:
        """Some real-target test of it creates no task (runs without WIRO_ALLOW_SPEND)."""
        return any(t.spends == 0 for t in self.real)


def rows(tests: Sequence[Test]) -> list[Row]:
    """The matrix, in the registry's order."""
    made = []
    for rule in RULES:
        mine = [t for t in tests if rule.id in t.rules]
        made.append(
            Row(
                rule,
                tuple(t for t in mine if not t.mock_only),
                tuple(t for t in mine if t.mock_only),
            )
        )
    return made


def _anchor(section: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", section.lower()).replace(" ", "-")


def _cell(tests: Sequence[Test], row_tests: Sequence[Test]) -> str:
    """The tests, one per function: ``f.py::test`` when all its variants naming the rule
    are here, else ``f.py::test[a, b]``."""
    names: list[str] = []
    for function in dict.fromkeys(t.function for t in tests):
        here = [t for t in tests if t.function == function]
        every = [t for t in row_tests if t.function == function]
        params = [t.param for t in here if t.param is not None]
        name = (
            function
            if len(here) == len(every) or not params
            else f"{function}[{', '.join(params)}]"
        )
        names.append(f"`{name}`")
    return "<br>".join(names).replace("|", "\\|")


def render(tests: Sequence[Test]) -> str:
    """The block that goes between the markers of docs/contract.md."""
    table = rows(tests)
    real = [r for r in table if r.real]
    fake_only = [r for r in table if not r.real and r.fake_only]
    none = [r for r in table if not r.real and not r.fake_only]
    lines = [
        START,
        "<!-- generated by `python -m contract_tests.matrix` from the suite's `rule`, "
        "`mock_only` and `spends` markers: do not edit by hand -->",
        "",
        f"{len(table)} rules ({len(tests)} tests): **{len(real)} judged on a real target** "
        f"({sum(r.free for r in real)} of them by a free test, one that creates no task), "
        f"**{len(fake_only)} judged only on the fake**, **{len(none)} with no test yet**.",
        "",
        "| rule | section | statement | judged on a real target | judged only on the fake |",
        "|---|---|---|---|---|",
    ]
    for row in table:
        rule = row.rule
        section = f"[{rule.section}](wiro-api.md#{_anchor(rule.section)})"
        every = (*row.real, *row.fake_only)
        real_cell = _cell(row.real, every) or "none"
        if row.real and not row.free:
            real_cell += "<br>(spends)"
        statement = rule.statement.replace("|", "\\|")
        lines.append(
            f"| `{rule.id}` | {section} | {statement} | {real_cell} | "
            f"{_cell(row.fake_only, every)} |"
        )
    lines += ["", "Rules judged only on the fake, and why:", ""]
    lines += [
        f"- `{r.rule.id}`: {r.rule.mock_only_why or '**no reason given**'}" for r in fake_only
    ]
    lines += ["", "Rules no test judges yet:", ""]
    lines += [f"- `{r.rule.id}`: {r.rule.untested or '**no reason given**'}" for r in none]
    lines.append(END)
    return "\n".join(lines)


def replaced(document: str, block: str) -> str:
    """``document`` with its matrix block replaced by ``block``."""
    start, end = document.find(START), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{CONTRACT_MD.name}: no {START} ... {END} block")
    return document[:start] + block + document[end + len(END) :]


def as_json(tests: Sequence[Test]) -> dict[str, Any]:
    """The matrix as data."""
    return {
        "tests": [asdict(t) for t in tests],
        "rules": [
            {
                **asdict(r.rule),
                "real": [t.nodeid for t in r.real],
                "fake_only": [t.nodeid for t in r.fake_only],
                "free": r.free,
            }
            for r in rows(tests)
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m contract_tests.matrix")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/contract.md is stale")
    mode.add_argument("--json", action="store_true", help="print the matrix as JSON")
    options = parser.parse_args(argv)
    try:
        tests = collect()
    except CollectionFailed as failed:
        print(failed, file=sys.stderr)
        return 2
    if options.json:
        print(json.dumps(as_json(tests), indent=1))
        return 0
    block = render(tests)
    document = CONTRACT_MD.read_text(encoding="utf-8")
    updated = replaced(document, block)
    if options.check:
        if updated != document:
            print(f"{CONTRACT_MD} is stale: run `python -m contract_tests.matrix`", file=sys.stderr)
            return 1
        print(f"{CONTRACT_MD}: the rule matrix is up to date")
        return 0
    if updated != document:
        CONTRACT_MD.write_text(updated, encoding="utf-8")
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
