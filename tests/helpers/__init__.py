"""What the suite's tests share: plain modules (the fixtures built on them are in
``tests/conftest.py``, on top of the ``mock_wiro`` pytest plugin's)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root (README.md, docs/, pyproject.toml)."""
