"""Every Python example in README.md and docs/*.md runs, so the documentation cannot rot."""

from __future__ import annotations

import re

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
