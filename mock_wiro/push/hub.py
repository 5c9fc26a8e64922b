"""The task WebSocket (``ws://host:port/v1``, the fake's ``wss://socket.wiro.ai/v1``).

A client connects, sends ``{"type": "task_info", "tasktoken": "<socketaccesstoken>"}``
and receives the task's frames [seed][docs]::

    {"type": "<status>", "id": "<taskid>", "tasktoken": "<token>", "message": ..., "result": true}

Design:

- The hub listens to the backend's events. Each frame is serialised once and
  *offered* to every subscriber's bounded buffer; the hub never writes to a
  socket, so it holds the state lock only for an append.
- Each connection has its own writer thread draining its buffer to the socket,
  so a slow or dead client delays nobody but itself.
- Registering happens under the state lock: the task's past frames (with the
  ``history`` replay policy) are queued before any later frame, so a late
  subscriber sees every frame once, in order, with no gap.
- A buffer that overflows ends that connection (close code 1013, "subscriber too
  slow") instead of dropping frames silently; the client reconnects and
  re-registers, and the replay gives it what it missed.
- Socket faults (:mod:`mock_wiro.chaos.push_faults`, in ``hub.faults``) bind to a
  connection when it registers a task; a ``delay`` holds a frame on the fake clock
  (``backend.call_at``, then the same non-blocking offer); ``close`` and
  ``duplicate`` are applied by the connection's writer; ``drop_on_register`` by
  :meth:`SocketHub.drop_on_register`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from typing import Any, Final, Literal

from ..chaos.push_faults import DEFAULT_CLOSE_CODE, ConnectionFaults, PushFaultBook
from ..engine.backend import Backend
from ..engine.models import Event, Task

__all__ = [
    "CLOSE_FAULT",
    "CLOSE_GOING_AWAY",
    "CLOSE_TOO_SLOW",
    "ERROR_TYPE",
    "ReplayPolicy",
    "SocketHub",
    "Subscriber",
    "error_frame",
    "task_frame",
]

ReplayPolicy = Literal["history", "live"]
_connection_ids = itertools.count(1)
ERROR_TYPE: Final = "error"  # [A] the real API's error frames are undocumented
CLOSE_TOO_SLOW: Final = 1013  # "try again later": the subscriber's buffer overflowed [A]
CLOSE_GOING_AWAY: Final = 1001  # the server is shutting down
CLOSE_FAULT: Final = DEFAULT_CLOSE_CODE  # an injected socket fault's default close code


def task_frame(task: Task, event: Event) -> str:
    """One lifecycle frame, in the contract's shape, as JSON text."""
    return json.dumps(
        {
            "type": event.type,
            "id": task.id,
            "tasktoken": task.token,
            "message": event.message,
            "result": True,
        },
        separators=(",", ":"),
    )


def error_frame(message: str, **extra: Any) -> str:
    """A documented error frame: ``{"type": "error", "message": ..., "result": false}``."""
    return json.dumps({"type": ERROR_TYPE, **extra, "message": message, "result": False})


class Subscriber:
    """One connection's outgoing buffer: bounded, never blocks the producer."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frames: deque[tuple[str, str, str]] = deque()  # (frame, task id, type)
        self._cond = threading.Condition()
        self.overflowed = False
        self.closed = False
        self.going_away = False
        self.tokens: set[str] = set()
        self.id = next(_connection_ids)  # for the journal
        self.faults = ConnectionFaults()  # socket faults bound to this connection

    def offer(self, frame: str, task_id: str = "", kind: str = "") -> None:
        """Queue a frame (with its task id and type, for the journal); on overflow mark
        the subscriber for disconnection."""
        with self._cond:
            if self.closed or self.overflowed:
                return
            if len(self._frames) >= self.limit:
                self.overflowed = True
                self._frames.clear()
            else:
                self._frames.append((frame, task_id, kind))
            self._cond.notify()

    def take(self, timeout: float | None = None) -> tuple[str, str, str] | None:
        """The next (frame, task id, type), or None when closed, overflowed, or after
        ``timeout``."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._frames or self.closed or self.overflowed, timeout=timeout
            )
            if self._frames and not self.overflowed:
                return self._frames.popleft()
            return None

    def close(self) -> None:
        """Stop accepting frames and wake the writer."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)


class SocketHub:
    """Fans the backend's frames out to subscribers (thread-safe; see module docs)."""

    def __init__(
        self, backend: Backend, *, replay: ReplayPolicy = "history", buffer_frames: int = 1024
    ) -> None:
        if buffer_frames < 1:
            raise ValueError(f"buffer_frames must be at least 1, not {buffer_frames}")
        self.backend = backend
        self.replay: ReplayPolicy = replay
        self.buffer_frames = buffer_frames
        self._subs: dict[str, list[Subscriber]] = {}  # task id -> subscribers
        self._connected: set[Subscriber] = set()
        self.faults = PushFaultBook("socket")
        """Socket fault rules (:mod:`mock_wiro.chaos.push_faults`)."""
        backend.add_listener(self._on_event)
        backend.on_close(self.close_all)

    def _on_event(self, task: Task, event: Event) -> None:
        # called by the backend under its state lock: serialise once, append, return
        subs = self._subs.get(task.id)
        if not subs:
            return
        frame = task_frame(task, event)
        for sub in subs:
            self._offer(sub, task, event, frame)

    def _offer(self, sub: Subscriber, task: Task, event: Event, frame: str) -> None:
        """Offer a frame now, or (a ``delay`` fault) through the engine's timers once the
        fake clock reaches its event time + the delay. Under the state lock; never blocks."""
        delayed = sub.faults.delay(task.id, event.type)
        if delayed is None:
            sub.offer(frame, task.id, event.type)
            return
        rule, seconds = delayed
        due = event.time + seconds
        self.backend.journal.record(
            "fault",
            channel="socket",
            phase="applied",
            rule=rule.id,
            action="delay",
            connection=sub.id,
            task=task.id,
            type=event.type,
            delay=seconds,
            until=due,
        )
        # always through the engine's timers, even when already due: they fire in order
        # of due time then of scheduling, so a delayed frame never overtakes an earlier
        # one of the same task still waiting there (offering a due one at once did, when
        # the engine ran late)
        self.backend.call_at(due, lambda: sub.offer(frame, task.id, event.type))

    def connect(self, sub: Subscriber) -> None:
        """Note a new connection (so shutdown can say goodbye to it)."""
        with self.backend.state_lock:
            self._connected.add(sub)

    def close_all(self, timeout: float = 2.0) -> None:
        """Shutting down: tell every connection to close (1001), and wait (bounded) until
        their writers have."""
        with self.backend.state_lock:
            subs = list(self._connected)
        for sub in subs:
            sub.going_away = True
            sub.close()
        with self.backend.state_lock:
            self.backend.state_lock.wait_for(lambda: not self._connected, timeout=timeout)

    def register(self, sub: Subscriber, token: str) -> Task | None:
        """Subscribe to the task with this socketaccesstoken; None if there is none.
        With the ``history`` policy, queue its past frames first (atomically)."""
        with self.backend.state_lock:
            task = self.backend.task_by_token(token)
            if task is None:
                return None
            subs = self._subs.setdefault(task.id, [])
            if sub in subs:
                return task  # registering twice doesn't duplicate frames
            actions = ("close", "duplicate", "delay")
            rules = self.faults.take(task.id, token, actions, skip=sub.faults.bound())
            sub.faults.bind(rules, task.id)
            for rule in rules:
                self.backend.journal.record(
                    "fault",
                    channel="socket",
                    phase="bound",
                    rule=rule.id,
                    action=rule.action,
                    connection=sub.id,
                    task=task.id,
                )
            if self.replay == "history":
                for event in task.events:
                    self._offer(sub, task, event, task_frame(task, event))
            subs.append(sub)
            sub.tokens.add(token)
            return task

    def drop_on_register(self, sub: Subscriber, token: str) -> bool:
        """If a ``drop_on_register`` fault matches the task with this token, mark the
        connection to be closed (by its writer, before any frame of the task) and say so."""
        with self.backend.state_lock:
            task = self.backend.task_by_token(token)
            if task is None:
                return False
            rule = self.faults.take_one(task.id, token, ("drop_on_register",))
            if rule is None:
                return False
            code = rule.code or CLOSE_FAULT
            sub.faults.close = (code, rule.close_reason)
            self.backend.journal.record(
                "fault",
                channel="socket",
                phase="applied",
                rule=rule.id,
                action=rule.action,
                connection=sub.id,
                task=task.id,
                code=code,
                reason=rule.close_reason,
            )
        sub.close()
        return True

    def unregister(self, sub: Subscriber) -> None:
        """Forget a subscriber everywhere (on disconnect)."""
        sub.close()
        with self.backend.state_lock:
            for task_id in list(self._subs):
                subs = self._subs[task_id]
                if sub in subs:
                    subs.remove(sub)
                if not subs:
                    del self._subs[task_id]
            self._connected.discard(sub)
            self.backend.state_lock.notify_all()

    def subscriber_count(self) -> int:
        """How many (subscriber, task) registrations are live."""
        with self.backend.state_lock:
            return sum(len(s) for s in self._subs.values())
