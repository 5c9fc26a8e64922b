"""The task WebSocket (``ws://host:port/v1``, the fake's ``wss://socket.wiro.ai/v1``).

A client connects, sends ``{"type": "task_info", "tasktoken": "<socketaccesstoken>"}``
and receives the task's frames [seed][docs]::

    {"type": "<status>", "id": "<taskid>", "tasktoken": "<token>", "message": ..., "result": true}

Design:

- The hub listens to the backend's events. Each frame is serialised once and
  *offered* to every subscriber's bounded buffer; the hub never writes to a
  socket, so it holds the state lock only for an append.
- The engine's frames are sent by the engine itself, once it has told them: the hub
  notes each subscriber whose buffer they made not empty, and when the engine has told
  its frames (the end of its pass, or one frame told on its own) :meth:`SocketHub.flush`
  writes each such buffer to its socket in one *non-blocking* write. No thread or
  greenlet is woken for them, so a burst of 1,000 frames for 1,000 sockets costs 1,000
  writes and no wake-up (each socket's own writer, woken once per burst, cost most of
  a burst's time).
- Each connection also has its own writer thread, for everything else: the frames a
  flush could not write without blocking (a client that reads slowly: the rest of the
  write is handed to it), frames queued outside the engine's pass (a pong, an error
  frame, a registration's replay, a delayed frame), and the closing handshake. So a
  slow or dead client delays nobody but itself. It is woken once when its buffer goes
  from empty to not empty, takes everything queued and sends it in one write
  (:meth:`Subscriber.take_pending`), so a writer that fell behind catches up in one write.
  Only one of them writes to a socket at a time (:meth:`Subscriber.take_pending` and
  :meth:`Subscriber.send_queued` claim it), and a write is never begun while the bytes
  of an earlier one are still unsent, so frames keep their order.
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
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Literal

from ..chaos.push_faults import DEFAULT_CLOSE_CODE, ConnectionFaults, PushFaultBook
from ..engine.backend import Backend
from ..engine.jsontext import dumps_with, quoted
from ..engine.models import Event, Task

__all__ = [
    "CLOSE_FAULT",
    "CLOSE_GOING_AWAY",
    "CLOSE_TOO_SLOW",
    "ERROR_TYPE",
    "Item",
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


_quoted = quoted  # what json.dumps writes for a str (C)
_compact = dumps_with(",", ":")  # json.dumps(value, separators=(",", ":"))


def task_frame(task: Task, event: Event) -> str:
    """One lifecycle frame, in the contract's shape, as JSON text: exactly what
    ``json.dumps({"type": ..., "id": ..., "tasktoken": ..., "message": ..., "result":
    True}, separators=(",", ":"))`` writes, built from its parts (the frame is on the
    fan-out's hot path: once per frame, under the state lock)."""
    message = event.message
    if message is None:
        text = "null"
    elif type(message) is str:
        text = _quoted(message)
    else:
        text = _compact(message)
    return (
        f'{{"type":{_quoted(event.type)},"id":{_quoted(task.id)},'
        f'"tasktoken":{_quoted(task.token)},"message":{text},"result":true}}'
    )


def error_frame(message: str, **extra: Any) -> str:
    """A documented error frame: ``{"type": "error", "message": ..., "result": false}``."""
    return json.dumps({"type": ERROR_TYPE, **extra, "message": message, "result": False})


Item = tuple[str, str, str]
"""A queued frame: (JSON text, task id, frame type); the last two for the journal."""
Sender = Callable[[list[Item]], tuple[bool, bytes]]
"""A connection's non-blocking send of frames (:attr:`Subscriber.sender`): (whether the
connection goes on, the bytes it could not write without blocking)."""
log = logging.getLogger("mock_wiro")
CONTROL_WAIT_SECONDS: Final = 10.0
"""How long a WebSocket control frame (ping, pong, close echo) waits for a write of ours
under way or half done (:meth:`Subscriber.write_control`); past it, it is written anyway."""


class Subscriber:
    """One connection's outgoing buffer: bounded, never blocks the producer.

    The producer (the hub, under the state lock) appends; the connection's writer takes
    everything pending at once (:meth:`take_pending`) and sends it in one write. The writer
    is woken by an event set only when the buffer goes from empty to not empty (or on a
    close or an overflow), so a burst of frames for one connection costs one wake-up,
    and a writer that fell behind catches up with one write for all it missed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frames: deque[Item] = deque()
        self._lock = threading.Lock()
        self._write_ended = threading.Condition(self._lock)  # a claimed write ended
        self.control_waiting = 0  # control writes waiting for the socket (for tests)
        self._ready = threading.Event()  # set: something to take, or closed, or overflowed
        self.overflowed = False
        self.closed = False
        self.going_away = False
        self.tokens: set[str] = set()
        self.id = next(_connection_ids)  # for the journal
        self.faults = ConnectionFaults()  # socket faults bound to this connection
        self.sender: Sender | None = None
        """The connection's non-blocking send, for :meth:`send_queued` (set by the
        route; None: the writer sends everything)."""
        self._sending = False  # someone (the writer, or a flush) is writing to the socket
        self._unsent = b""  # what a flush could not write without blocking: sent first

    def offer(self, frame: str, task_id: str = "", kind: str = "") -> None:
        """Queue a frame (with its task id and type, for the journal); on overflow mark
        the subscriber for disconnection. The writer is woken when the buffer was empty
        (after that it was woken by the first frame, and has not taken it yet)."""
        if self.queue(frame, task_id, kind):
            self._ready.set()

    def queue(self, frame: str, task_id: str, kind: str) -> bool:
        """Queue an engine frame without waking the writer: True if the hub's flush must
        send this buffer (it was empty), False if someone already will (it was not, or
        the subscriber is closed or overflowed, and then the writer is woken as by
        :meth:`offer`)."""
        with self._lock:
            if self.closed or self.overflowed:
                return False
            frames = self._frames
            if len(frames) >= self.limit:
                self.overflowed = True
                frames.clear()
            else:
                frames.append((frame, task_id, kind))
                return len(frames) == 1
        self._ready.set()
        return False

    def send_queued(self) -> bytes | None:
        """The hub's flush: write every frame queued with :attr:`sender`, without
        blocking, if nobody else is writing and nothing is left unsent. Returns what the
        write left unsent, and the socket stays claimed until :meth:`done_sending` (the
        flush journals its writes first, so no later write is journalled before them);
        None if nothing was written here: the writer is woken to do whatever there is."""
        sender = self.sender
        with self._lock:
            claim = (
                sender is not None
                and not self._sending
                and not self._unsent
                and not self.closed
                and not self.overflowed
                and bool(self._frames)
            )
            if claim:
                items = list(self._frames)
                self._frames.clear()
                self._sending = True
        if not claim:
            self._ready.set()  # the writer looks (it finds nothing to do if nothing is)
            return None
        assert sender is not None
        try:
            return sender(items)[1]  # a connection that ends is closed by the sender
        except Exception:  # never the engine's problem: this connection ends
            log.exception("mock-wiro socket send error")
            self.close()
            return b""

    def done_sending(self, unsent: bytes = b"") -> None:
        """The end of a write by whoever claimed the socket (:meth:`take_pending` or
        :meth:`send_queued`), with what it left unsent; the writer is woken if there is
        anything left to do (unsent bytes, frames queued meanwhile, a close)."""
        with self._lock:
            self._sending = False
            self._unsent = unsent
            wake = bool(unsent or self._frames) or self.closed or self.overflowed
            self._write_ended.notify_all()
        if wake:
            self._ready.set()

    def write_control(self, write: Callable[[], None]) -> None:
        """A write of the WebSocket library's own (a ping, a pong answering the client's
        ping, the close echo): done once no write of ours is under way or half done, and
        holding the socket meanwhile, so its frame never lands inside one of ours (a
        flush's write that did not all go is finished first, by the writer).
        Bounded: after :data:`CONTROL_WAIT_SECONDS` it writes anyway (a writer stuck on
        a client that stopped reading is cut off by then)."""
        with self._lock:
            if self._sending or self._unsent:
                self.control_waiting += 1
                try:
                    self._write_ended.wait_for(
                        lambda: not (self._sending or self._unsent), CONTROL_WAIT_SECONDS
                    )
                finally:
                    self.control_waiting -= 1
            claimed = not (self._sending or self._unsent)
            if claimed:
                self._sending = True
        try:
            write()
        finally:
            if claimed:
                self.done_sending()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until there is something to take, or the subscriber is closed or
        overflowed (False after ``timeout``)."""
        return self._ready.wait(timeout)

    def take_pending(self) -> tuple[bytes, list[Item]] | None:
        """For the writer: the bytes a flush left unsent and every frame queued, oldest
        first, without waiting, with the right to write them (then :meth:`done_sending`
        ends it); ``(b"", [])`` if there is nothing, or a flush is writing (it wakes the
        writer when it is done); None once overflowed, or closed with nothing left.
        Frames queued before a close are still given; an overflow drops them."""
        with self._lock:
            if self._sending:
                self._ready.clear()  # done_sending sets it again if anything is left
                return b"", []
            unsent = self._unsent
            if self.overflowed:
                if not unsent:
                    return None
                # the rest of a frame already begun goes first, or the close frame would
                # land inside it; the frames queued were dropped by the overflow
                self._unsent = b""
                self._sending = True
                return unsent, []
            if self._frames or unsent:
                items = list(self._frames)
                self._frames.clear()
                self._unsent = b""
                self._sending = True
                if not self.closed:
                    # emptied: the writer sleeps after this write (no second look, which
                    # cost each socket a lock and a loop per burst); the next offer finds
                    # the buffer empty and sets it again. A close keeps it set.
                    self._ready.clear()
                return unsent, items
            if self.closed:
                return None
            # cleared under the lock: the next offer finds the buffer empty and sets it
            self._ready.clear()
            return b"", []

    def take(self, timeout: float | None = None) -> Item | None:
        """The next (frame, task id, type), or None when closed, overflowed, or after
        ``timeout``."""
        while True:
            with self._lock:
                if self.overflowed:
                    return None
                if self._frames:
                    item = self._frames.popleft()
                    if self._frames:
                        self._ready.set()  # the rest is still to take
                    return item
                if self.closed:
                    return None
                self._ready.clear()
            if not self._ready.wait(timeout):
                return None

    def close(self) -> None:
        """Stop accepting frames and wake the writer."""
        with self._lock:
            self.closed = True
        self._ready.set()

    def __len__(self) -> int:
        with self._lock:
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
        self._dirty: list[Subscriber] = []  # given engine frames, not flushed yet
        self._sent: tuple[list[tuple[str, dict[str, Any]]], list[int]] = ([], [])
        """The journal entries (and their sizes) of the flush's writes, journalled
        together when it ends (:meth:`note_sent`)."""
        self.faults = PushFaultBook("socket")
        """Socket fault rules (:mod:`mock_wiro.chaos.push_faults`)."""
        backend.add_listener(self._on_event, flush=self.flush)
        backend.on_close(self.close_all)

    def _on_event(self, task: Task, event: Event) -> None:
        # called by the backend under its state lock: serialise once, queue, return (the
        # frames are written by flush, once the engine has told them all)
        subs = self._subs.get(task.id)
        if not subs:
            return
        frame = task_frame(task, event)
        for sub in subs:
            self._offer(sub, task, event, frame, flushed=True)

    def flush(self) -> None:
        """Write the engine's frames told since the last flush: each subscriber they
        went to, in one non-blocking write (:meth:`Subscriber.send_queued`). Called by
        the engine under the state lock once it has told a group of frames."""
        dirty = self._dirty
        if not dirty:
            return
        self._dirty = []
        claimed: list[tuple[Subscriber, bytes]] = []
        try:
            for sub in dirty:
                rest = sub.send_queued()
                if rest is not None:
                    claimed.append((sub, rest))
        finally:
            entries, sizes = self._sent
            if entries:
                self._sent = ([], [])
                self.backend.journal.record_many(entries, sizes)
            # only now may a writer write (and journal) again: the journal keeps each
            # connection's frames in the order they went out
            for sub, rest in claimed:
                sub.done_sending(rest)

    def note_sent(self, entries: list[tuple[str, dict[str, Any]]], sizes: list[int]) -> None:
        """A flush's write, begun: its journal entries, kept for the end of the flush
        (one journal lock, clock reading and wake-up for the whole burst). A frame is
        journalled once its write has begun; the rest of a write that did not all go is
        finished by the connection's writer before anything else, or the connection is
        gone."""
        self._sent[0].extend(entries)
        self._sent[1].extend(sizes)

    def _offer(
        self, sub: Subscriber, task: Task, event: Event, frame: str, *, flushed: bool = False
    ) -> None:
        """Offer a frame now (``flushed``: queued for :meth:`flush`), or (a ``delay``
        fault) through the engine's timers once the fake clock reaches its event time +
        the delay. Under the state lock; never blocks."""
        delayed = sub.faults.delay(task.id, event.type)
        if delayed is None:
            if not flushed:
                sub.offer(frame, task.id, event.type)
            elif sub.queue(frame, task.id, event.type):
                self._dirty.append(sub)
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
