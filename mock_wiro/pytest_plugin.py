"""pytest plugin (registered through the ``pytest11`` entry point): the fake in your tests.

Fixtures:

- ``mock_wiro_server`` (session): one fake on a free loopback port, manual clock.
- ``mock_wiro`` (function): that fake, reset and on the manual clock for this test.
- ``mock_wiro_project`` (function): a fresh signature project ($100) on it.

::

    def test_my_client(mock_wiro, mock_wiro_project):
        client = MyClient(base_url=mock_wiro.base_url, api_key=mock_wiro_project.api_key,
                          api_secret=mock_wiro_project.api_secret)
        task = client.run(image="cat.jpg")
        mock_wiro.advance(120)                     # two fake minutes, no sleeping
        assert client.detail(task.id).status == "task_postprocess_end"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .engine.models import Project
    from .server import MockWiroServer

__all__ = ["mock_wiro", "mock_wiro_project", "mock_wiro_server"]


@pytest.fixture(scope="session")
def mock_wiro_server() -> Iterator[MockWiroServer]:
    """One fake Wiro API for the test session (manual clock, port 0)."""
    from .server import MockWiroServer
    from .settings import Settings

    with MockWiroServer(Settings(clock_mode="manual")) as server:
        yield server


@pytest.fixture
def mock_wiro(mock_wiro_server: MockWiroServer) -> Iterator[MockWiroServer]:
    """The session's fake, reset and on the manual clock for this test."""
    mock_wiro_server.reset()
    mock_wiro_server.set_clock("manual")
    yield mock_wiro_server
    mock_wiro_server.reset()


@pytest.fixture
def mock_wiro_project(mock_wiro: MockWiroServer) -> Project:
    """A fresh signature-auth project with a $100 balance."""
    return mock_wiro.create_project()
