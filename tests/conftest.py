"""The suite's fixtures, built on its own pytest plugin (:mod:`mock_wiro.pytest_plugin`).

``server`` is the plugin's session fake (``mock_wiro_server``), ``fake`` its per-test
reset (``mock_wiro``), ``wiro`` a :class:`~tests.helpers.wiro.Wiro` on the plugin's fresh
project (``mock_wiro_project``). The helpers themselves live in :mod:`tests.helpers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mock_wiro.engine.models import Project
from mock_wiro.push import callbacks
from mock_wiro.server import MockWiroServer
from tests.helpers.callbacks import Receiver
from tests.helpers.wiro import Wiro, make_server, require_tool

__all__ = ["Wiro", "make_server", "require_tool"]


@pytest.fixture(scope="session")
def server(mock_wiro_server: MockWiroServer) -> MockWiroServer:
    """One fake for the session, on a free loopback port, manual clock (the plugin's)."""
    return mock_wiro_server


@pytest.fixture
def fake(mock_wiro: MockWiroServer) -> MockWiroServer:
    """The session's fake, reset and in manual mode for this test (the plugin's)."""
    return mock_wiro


@pytest.fixture
def wiro(fake: MockWiroServer, mock_wiro_project: Project) -> Wiro:
    """A fresh signature project on the session's fake, balance $100."""
    return Wiro(fake, mock_wiro_project)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback callback receiver (answers scripted per path), closed at teardown."""
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.close()


@pytest.fixture
def callback_posts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs the fake's callback dispatcher POSTs to, in order (a spy around the
    ``send_callback`` it calls; the POSTs still go out)."""
    posted: list[str] = []
    real_send = callbacks.send_callback

    def spy(target: str, *args: Any, **kwargs: Any) -> int:
        posted.append(target)
        return real_send(target, *args, **kwargs)

    monkeypatch.setattr(callbacks, "send_callback", spy)
    return posted
