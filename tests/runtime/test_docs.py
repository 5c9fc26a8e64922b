"""Every Python example in README.md and docs/*.md runs, so the documentation cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO

DOCS = REPO / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


README = DOCS.parent / "README.md"
# README blocks that are fragments, not programs (a test function for pytest to collect)
FRAGMENTS = ("def test_my_client",)


def examples() -> list[tuple[str, str]]:
    found = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        text = page.read_text()
        for number, match in enumerate(BLOCK.finditer(text), 1):
            line = text[: match.start()].count("\n") + 2
            if not match.group(1).startswith(FRAGMENTS):
                found.append((f"{page.name}:{line}#{number}", match.group(1)))
    return found


def test_there_are_examples() -> None:
    assert len(examples()) >= 5


@pytest.mark.parametrize(("where", "code"), examples(), ids=[w for w, _ in examples()])
def test_example_runs(where: str, code: str) -> None:
    exec(compile(code, where, "exec"), {"__name__": f"docs_example_{where}"})


def _serve_help_options() -> set[str]:
    """The options ``mock-wiro serve --help`` lists."""
    shown = subprocess.run(
        [sys.executable, "-m", "mock_wiro", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", shown)) - {"--help"}


def test_readme_serve_table_matches_help() -> None:
    """Every ``mock-wiro serve`` option is in README's table and its usage block, and
    neither names an option ``--help`` lacks."""
    text = README.read_text()
    section = text[text.index("## `mock-wiro serve`") :]
    section = section[: section.index("\n## ", 1)]
    usage_block = section[section.index("```") : section.index("```", section.index("```") + 3)]
    rows = re.findall(r"^\| (`--[^|]*)\|", section, re.M)
    in_table = {o for cell in rows for o in re.findall(r"`(--[a-z-]+)`", cell)}
    usage = set(re.findall(r"(--[a-z][a-z-]+)", usage_block))
    options = _serve_help_options()
    assert in_table == options, (sorted(options - in_table), sorted(in_table - options))
    assert usage == options, (sorted(options - usage), sorted(usage - options))
