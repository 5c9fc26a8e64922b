"""The composition of one fake: its backend, rule books, socket hub and callbacks.

A :class:`Fake` is built once per app (:func:`mock_wiro.app.create_app` builds one,
or takes one) and read by the control surface through :func:`current_fake`, by the
Python handle (:class:`~mock_wiro.control.handle.FakeHandle`) through
:meth:`Fake.of`: one typed accessor instead of string-keyed ``app.extensions`` lookups.

It lives in ``control`` because control is the one part that may see every other
(engine, chaos, http, push): the parts themselves know nothing of each other.

:meth:`Fake.reset` puts it back to a fresh state, in one place (moto's ``reset()``):
no part registers a reset callback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import Flask, current_app

from ..chaos.http_faults import FaultSet
from ..chaos.push_faults import PushFaultBook
from ..chaos.scenarios import ScenarioBook
from ..engine.backend import Backend
from ..push.callbacks import CallbackDispatcher
from ..push.hub import SocketHub
from ..push.route import FAKE_EXTENSION
from ..settings import Settings

__all__ = ["Fake", "current_fake"]

_KEY = FAKE_EXTENSION


@dataclass(eq=False)
class Fake:
    """One fake: every part, built together. :meth:`build` makes one from settings (or
    around a backend)."""

    backend: Backend
    scenarios: ScenarioBook
    faults: FaultSet
    hub: SocketHub
    callbacks: CallbackDispatcher

    @classmethod
    def build(cls, settings: Settings | None = None, backend: Backend | None = None) -> Fake:
        """A fake around ``backend`` (started, if this makes it); its scenario book is
        the backend's when it has one, else a new one handed to it."""
        if backend is None:
            backend = Backend(settings, scenarios=ScenarioBook()).start()
        scenarios = backend.scenarios
        if not isinstance(scenarios, ScenarioBook):
            scenarios = backend.scenarios = ScenarioBook()
        scenarios.journal = backend.journal  # a Run no scenario matched is journaled
        s = backend.settings
        hub = SocketHub(backend, replay=s.socket_replay, buffer_frames=s.socket_buffer_frames)
        callbacks = CallbackDispatcher(
            backend,
            attempts=s.callback_attempts,
            timeout=s.callback_timeout,
            backoff=s.callback_backoff,
        )
        fake = cls(backend, scenarios, FaultSet(), hub, callbacks)
        backend.on_close(fake._close)
        return fake

    @property
    def settings(self) -> Settings:
        """The fake's settings."""
        return self.backend.settings

    @property
    def socket_faults(self) -> PushFaultBook:
        """The WebSocket fault rules."""
        return self.hub.faults

    @property
    def callback_faults(self) -> PushFaultBook:
        """The callback fault rules."""
        return self.callbacks.faults

    def push_faults(self, channel: str) -> PushFaultBook:
        """The rules of one push channel: ``socket`` or ``callback``."""
        return self.socket_faults if channel == "socket" else self.callback_faults

    def reset(self) -> None:
        """Back to a fresh fake (projects, clock and settings stay), under the state
        lock so no request sees it half done. In this order:

        1. the HTTP fault rules: deleted, releasing every held request (which then
           waits for the lock and sees the reset fake);
        2. the scenarios, socket and callback fault rules: deleted, so nothing armed
           before the reset fires after it (ids go on counting);
        3. the engine (:meth:`Backend.reset`): tasks, files, folders, timers, journal;
        4. the callback deliveries: forgotten, waiters woken.

        Open WebSocket connections stay open (their tasks are gone)."""
        with self.backend.state_lock:
            self.faults.clear()
            self.scenarios.clear()
            self.socket_faults.clear()
            self.callback_faults.clear()
            self.backend.reset()
            self.callbacks.reset()

    def load_snapshot(self, path: str | os.PathLike[str]) -> None:
        """Replace the whole state with a snapshot's (:mod:`mock_wiro.engine.snapshot`).
        The file is read and checked first: one that cannot be loaded raises
        :class:`~mock_wiro.errors.SnapshotError` and changes nothing. Then, under the
        state lock, as :meth:`reset` does, the rules go (HTTP faults released,
        scenarios, socket and callback faults) and the callback deliveries are
        forgotten; the engine takes the snapshot's state and fake time."""
        loaded = self.backend.read_snapshot(path)
        with self.backend.state_lock:
            self.faults.clear()
            self.scenarios.clear()
            self.socket_faults.clear()
            self.callback_faults.clear()
            self.backend.install_snapshot(loaded)
            self.callbacks.reset()

    def _close(self) -> None:
        self.callbacks.close()
        self.faults.close()

    # ------------------------------------------------------------ where it is kept
    def install(self, app: Flask) -> None:
        """Make this the fake of ``app``."""
        app.extensions[_KEY] = self

    @staticmethod
    def of(app: Flask) -> Fake:
        """The fake of ``app``."""
        found = app.extensions[_KEY]
        assert isinstance(found, Fake), f"{app!r} is not a mock-wiro app"
        return found


def current_fake() -> Fake:
    """The fake of the app handling the current request."""
    return Fake.of(current_app)
