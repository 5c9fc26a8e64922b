"""hailuo_client's models know their client only through a Protocol: no import edge
(not even under ``TYPE_CHECKING``) from ``hailuo_client.models`` back to the client."""

from __future__ import annotations

import ast
from pathlib import Path

import hailuo_client

MODELS = Path(hailuo_client.__file__).parent / "models.py"


def imported_modules(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names (relative ones resolved
    against ``hailuo_client``), wherever it stands in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "hailuo_client" if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_models_import_nothing_from_the_client_module() -> None:
    modules = imported_modules(MODELS.read_text(encoding="utf-8"))
    assert not {
        m for m in modules if m == "hailuo_client.client" or m.startswith("hailuo_client.client.")
    }
    assert "hailuo_client.client" not in modules


def test_the_check_sees_a_client_import() -> None:
    for source in (
        "from .client import Client",
        "from hailuo_client.client import Client",
        "from . import client",
        "import hailuo_client.client",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .client import Client",
    ):
        assert "hailuo_client.client" in imported_modules(source), source
