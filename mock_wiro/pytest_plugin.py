"""pytest plugin (registered through the ``pytest11`` entry point): the fake in your tests.

Fixtures:

- ``mock_wiro_server`` (session): one fake on a free loopback port, manual clock.
- ``mock_wiro`` (function): that fake, reset and on the manual clock for this test.
- ``mock_wiro_project`` (function): a fresh signature project ($100) on it.
- ``mock_wiro_snapshot`` (function): None; override it (in a ``conftest.py``) to return
  the path of a snapshot (``mock-wiro snapshot save``, ``server.save_snapshot()``), and
  ``mock_wiro`` starts each test from that snapshot's state instead of an empty one.
  One test (or a module, through ``pytestmark``) picks its own with the marker
  ``@pytest.mark.mock_wiro_snapshot("path/to/file")``.

::

    def test_my_client(mock_wiro, mock_wiro_project):
        client = MyClient(base_url=mock_wiro.base_url, api_key=mock_wiro_project.api_key,
                          api_secret=mock_wiro_project.api_secret)
        task = client.run(image="cat.jpg")
        mock_wiro.advance(120)                     # two fake minutes, no sleeping
        assert client.detail(task.id).status == "task_postprocess_end"
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .engine.models import Project
    from .server import MockWiroServer

__all__ = ["mock_wiro", "mock_wiro_project", "mock_wiro_server", "mock_wiro_snapshot"]


@pytest.fixture(scope="session")
def mock_wiro_server() -> Iterator[MockWiroServer]:
    """One fake Wiro API for the test session (manual clock, port 0)."""
    from .server import MockWiroServer
    from .settings import Settings

    with MockWiroServer(Settings(clock_mode="manual")) as server:
        yield server


SNAPSHOT_MARKER = "mock_wiro_snapshot"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker."""
    config.addinivalue_line(
        "markers",
        f"{SNAPSHOT_MARKER}(path): start this test's mock_wiro fake from the snapshot at path",
    )


@pytest.fixture
def mock_wiro_snapshot() -> str | os.PathLike[str] | None:
    """The snapshot each test's fake starts from: none (an empty fake). Override it."""
    return None


@pytest.fixture
def mock_wiro(
    request: pytest.FixtureRequest,
    mock_wiro_server: MockWiroServer,
    mock_wiro_snapshot: str | os.PathLike[str] | None,
) -> Iterator[MockWiroServer]:
    """The session's fake, on the manual clock for this test: reset, or holding the
    state of the snapshot the marker or ``mock_wiro_snapshot`` names (its fake time too)."""
    marker = request.node.get_closest_marker(SNAPSHOT_MARKER)
    snapshot = marker.args[0] if marker is not None and marker.args else mock_wiro_snapshot
    mock_wiro_server.set_clock("manual")
    if snapshot is None:
        mock_wiro_server.reset()
    else:
        mock_wiro_server.load_snapshot(snapshot)
    yield mock_wiro_server
    mock_wiro_server.reset()


@pytest.fixture
def mock_wiro_project(mock_wiro: MockWiroServer) -> Project:
    """A fresh signature-auth project with a $100 balance."""
    return mock_wiro.create_project()
