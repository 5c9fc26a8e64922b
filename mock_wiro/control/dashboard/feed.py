"""The dashboard's live feed: server-sent events built on the engine's frames and the
journal, bounded per client.

One :class:`Feed` per fake (:func:`feed_of`), made on the first dashboard request. It
listens to two sources, both of which call it without blocking:

- the engine (:meth:`~mock_wiro.engine.backend.Backend.add_listener`): every frame of
  every task, under the state lock; the feed only notes the task's id;
- the journal (:meth:`~mock_wiro.engine.journal.Journal.add_listener`): every entry
  (requests, socket frames, callbacks, faults); the feed only notes that there is one.

State-changing ``/_mock`` requests (the dashboard's buttons, a test's control calls)
bump a ``state`` counter (:meth:`Feed.touch`), so that every open page refreshes its
clock, projects, faults and scenarios.

Each client (one open page, one ``GET /_mock/dashboard/events``) holds a set of the
task ids that changed since its last batch, at most :data:`MAX_DIRTY_TASKS` of them:
past that it is told to ``resync`` (fetch its page again) instead, so a client that
falls behind costs a bounded amount of memory whatever happens. At most
:data:`MAX_CLIENTS` pages are connected at once (each holds one server thread); one
more is answered 503. A batch carries the changed tasks' table rows (computed when it
is sent, so a task that changed ten times is sent once, as it is now), the journal's
last ``seq`` and the state counter; a quiet feed sends a comment every
:data:`KEEPALIVE_SECONDS` (which also finds a page that went away).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...engine.journal import Entry
from ...engine.models import Event, Task
from ..fake import Fake

__all__ = [
    "KEEPALIVE_SECONDS",
    "MAX_CLIENTS",
    "MAX_DIRTY_TASKS",
    "MAX_ROWS_PER_BATCH",
    "Feed",
    "FeedFull",
    "existing_feed",
    "feed_of",
    "sse",
]

MAX_CLIENTS = 8
"""Pages connected to one fake's feed at once (each holds a server thread)."""
MAX_DIRTY_TASKS = 500
"""Changed tasks a client may have pending; past it the client resyncs instead."""
MAX_ROWS_PER_BATCH = 200
"""Rows sent in one ``tasks`` event; more pending ones follow in the next batch."""
KEEPALIVE_SECONDS = 15.0
"""Seconds of silence before the feed sends a comment."""


class FeedFull(Exception):
    """:data:`MAX_CLIENTS` pages are already connected."""


@dataclass(eq=False)
class _Client:
    journal_seq: int
    state: int
    dirty: set[str] = field(default_factory=set)
    overflow: bool = False


@dataclass
class Batch:
    """What changed for one client since its last batch."""

    tasks: list[str]
    resync: bool
    journal_seq: int | None
    state: int | None

    def empty(self) -> bool:
        return (
            not self.tasks and not self.resync and self.journal_seq is None and self.state is None
        )


class Feed:
    """One fake's feed (see the module doc)."""

    def __init__(self, fake: Fake) -> None:
        self._backend = fake.backend
        self._cond = threading.Condition()
        self._clients: set[_Client] = set()
        self._closed = False
        self._state = 0
        self._journal_seq = fake.backend.journal.last_seq
        fake.backend.add_listener(self._on_frame)
        fake.backend.journal.add_listener(self._on_entry)
        fake.backend.on_close(self.close)

    # ------------------------------------------------------------ the sources
    def _on_frame(self, task: Task, event: Event) -> None:
        with self._cond:
            for client in self._clients:
                if client.overflow or task.id in client.dirty:
                    continue
                if len(client.dirty) >= MAX_DIRTY_TASKS:
                    client.overflow, client.dirty = True, set()
                else:
                    client.dirty.add(task.id)
            self._cond.notify_all()

    def _on_entry(self, entry: Entry | None) -> None:
        with self._cond:
            if entry is None:  # the journal was cleared: a reset, every page starts over
                self._state += 1
            else:
                self._journal_seq = max(self._journal_seq, entry.seq)
            self._cond.notify_all()

    def touch(self) -> None:
        """The fake's state changed (a control request): every page refreshes."""
        with self._cond:
            self._state += 1
            self._cond.notify_all()

    def close(self) -> None:
        """End every client's stream (the fake is closing)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def clients(self) -> int:
        """Pages connected now."""
        with self._cond:
            return len(self._clients)

    # ------------------------------------------------------------ the clients
    def subscribe(self) -> _Client:
        """A new client, seeing every change from now on (or :class:`FeedFull`)."""
        with self._cond:
            if len(self._clients) >= MAX_CLIENTS:
                raise FeedFull(f"{MAX_CLIENTS} dashboard pages are connected already; close one")
            client = _Client(journal_seq=self._journal_seq, state=self._state)
            self._clients.add(client)
            return client

    def unsubscribe(self, client: _Client) -> None:
        with self._cond:
            self._clients.discard(client)

    def next_batch(self, client: _Client, timeout: float) -> Batch | None:
        """Block until something changed for ``client`` (or ``timeout``: an empty
        batch); None once the feed is closed."""

        def ready() -> bool:
            return bool(
                self._closed
                or client.dirty
                or client.overflow
                or client.journal_seq != self._journal_seq
                or client.state != self._state
            )

        with self._cond:
            self._cond.wait_for(ready, timeout=timeout)
            if self._closed:
                return None
            resync, client.overflow = client.overflow, False
            ids = sorted(client.dirty, key=_numeric)[:MAX_ROWS_PER_BATCH]
            client.dirty.difference_update(ids)
            journal_seq = None
            if client.journal_seq != self._journal_seq:
                journal_seq = client.journal_seq = self._journal_seq
            state = None
            if client.state != self._state:
                state = client.state = self._state
            return Batch(ids, resync, journal_seq, state)

    def stream(self, client: _Client, row: Callable[[str], dict[str, Any] | None]) -> Iterator[str]:
        """The server-sent events of one client, until the feed closes or the page goes
        (the server's write fails and the generator is closed): ``hello`` first, then
        ``tasks`` (rows), ``resync``, ``journal`` and ``state`` events."""
        try:
            yield "retry: 1000\n" + sse(
                "hello", {"journal_seq": client.journal_seq, "state": client.state}
            )
            while True:
                batch = self.next_batch(client, KEEPALIVE_SECONDS)
                if batch is None:
                    return
                if batch.empty():
                    yield ": keepalive\n\n"
                    continue
                out: list[str] = []
                if batch.resync:
                    out.append(sse("resync", {}))
                if batch.tasks:  # rows read now, outside the feed's lock
                    rows = [found for found in map(row, batch.tasks) if found is not None]
                    out.append(sse("tasks", {"rows": rows}))
                if batch.journal_seq is not None:
                    out.append(sse("journal", {"last_seq": batch.journal_seq}))
                if batch.state is not None:
                    out.append(sse("state", {"state": batch.state}))
                yield "".join(out)
        finally:
            self.unsubscribe(client)


def _numeric(task_id: str) -> tuple[int, str]:
    return (int(task_id), "") if task_id.isdigit() else (0, task_id)


def sse(event: str, data: object) -> str:
    """One server-sent event (JSON data on one line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


_feeds: weakref.WeakKeyDictionary[Fake, Feed] = weakref.WeakKeyDictionary()
_feeds_lock = threading.Lock()


def existing_feed(fake: Fake) -> Feed | None:
    """The feed of ``fake`` if a page ever asked for it (a fake nobody watches has none,
    and pays nothing for it)."""
    with _feeds_lock:
        return _feeds.get(fake)


def feed_of(fake: Fake) -> Feed:
    """The feed of ``fake`` (made, and hooked to its engine and journal, on first use)."""
    with _feeds_lock:
        found = _feeds.get(fake)
        if found is None:
            found = _feeds[fake] = Feed(fake)
        return found
