"""The package's import contract: what each part of ``mock_wiro`` may import.

Drawn in ``docs/architecture.md``. Every import counts (module level, inside a
function, under ``TYPE_CHECKING``): an edge that only the type checker follows is
still a seam that two parts share. The check reads the source with :mod:`ast`, so it
needs nothing installed and sees imports that never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mock_wiro"

BASE = {"_version", "settings", "errors"}
"""Top-level modules that every part may import: the assumptions and the error tree."""

ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "engine": {"base", "engine"},
    "chaos": {"base", "engine", "chaos"},
    "http": {"base", "engine", "chaos", "http"},
    "push": {"base", "engine", "chaos", "push"},
    "control": {"base", "engine", "chaos", "http", "push", "control"},
    "runtime": {"base", "engine", "chaos", "http", "push", "control", "runtime", "package"},
    "package": {"base", "engine", "chaos", "http", "push", "control", "runtime"},
}
"""Which parts each part may import. ``package`` is ``mock_wiro`` itself (the public
face), which only the runtime may use: inside the packages it would be a cycle."""

ALSO_ALLOWED: dict[str, set[str]] = {"push": {"mock_wiro.http.wire"}}
"""Single modules a part may import beyond :data:`ALLOWED`: a callback POSTs the same
Task/Detail shape the REST surface answers, so push uses the wire shapes (pure
functions, no Flask) and nothing else of ``http``."""

NO_WEB = {"flask", "werkzeug", "flask_sock", "simple_websocket", "requests", "wsproto"}
"""Third-party web libraries the engine and the chaos rules never import."""
WEB_FREE = {"engine", "chaos"}


def part_of(module: str) -> str:
    """The part a ``mock_wiro`` module belongs to."""
    parts = module.split(".")
    if parts == ["mock_wiro"]:
        return "package"
    head = parts[1]
    if head in ALLOWED and head not in ("base", "runtime"):
        return head
    return "base" if head in BASE else "runtime"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, absolute, with its line."""
    name = module_name(path)
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            if node.level and not node.module:  # "from . import x": x may be a module
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return found


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        mine = part_of(name)
        for line, target in imports(path):
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            top = target.split(".")[0]
            if top == "mock_wiro":
                theirs = part_of(target)
                if target.count(".") == 1 and target.split(".")[1] not in {
                    p.stem for p in PACKAGE.iterdir()
                }:
                    continue  # "from . import __version__" style names, not modules
                if target in ALSO_ALLOWED.get(mine, set()):
                    continue
                if theirs not in ALLOWED[mine] and theirs != mine:
                    found.append(f"{where}: {mine} -> {theirs} ({name} imports {target})")
            elif mine in WEB_FREE and top in NO_WEB:
                found.append(f"{where}: {mine} -> {top} ({name} imports {target})")
    return found


PENDING: set[str] = set()
"""Known edges that break the contract, each with the step that removes it. Empty when
the layout is done; an entry that no longer occurs fails the test (so it is removed)."""


def _key(violation: str) -> str:
    return violation.split(": ", 1)[1]


def test_no_package_imports_across_a_boundary_it_must_not() -> None:
    found = {_key(v): v for v in violations()}
    unexpected = [v for k, v in found.items() if k not in PENDING]
    assert not unexpected, "\n".join(unexpected)
    gone = PENDING - found.keys()
    assert not gone, f"fixed, remove from PENDING: {sorted(gone)}"


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The checker itself: a relative import from the engine into Flask and into the
    control surface are both found (so an empty result means something)."""
    fake = tmp_path / "mock_wiro" / "engine"
    fake.mkdir(parents=True)
    (tmp_path / "mock_wiro" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    bad = fake / "bad.py"
    bad.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import flask\n"
        "if TYPE_CHECKING:\n"
        "    from ..control.base import control\n"
        "def later():\n"
        "    from ..push import hub\n"
    )
    global PACKAGE
    real = PACKAGE
    PACKAGE = tmp_path / "mock_wiro"
    try:
        (tmp_path / "mock_wiro" / "control").mkdir()
        (tmp_path / "mock_wiro" / "push").mkdir()
        found = violations()
    finally:
        PACKAGE = real
    assert any("engine -> flask" in v for v in found), found
    assert any("engine -> control" in v for v in found), found
    assert any("engine -> push" in v for v in found), found


@pytest.mark.parametrize("module", ["engine", "chaos", "http", "push", "control"])
def test_every_package_says_what_lives_there_and_what_it_may_import(module: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / module / "__init__.py").read_text()))
    assert doc and "may import" in doc, f"mock_wiro/{module}/__init__.py needs a docstring"
