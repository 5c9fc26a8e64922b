"""The journal: everything the fake did, in one ordered, filterable sequence.

Every entry has a sequence number (``seq``, from 1), the fake clock's time
(``time``) and a ``kind``:

- ``request``: an HTTP request and its response (method, path, headers with
  secrets masked, a body summary, status, response body);
- ``frame``: a WebSocket frame sent (connection id, task id, frame type);
- ``callback``: a callback attempt;
- ``fault`` / ``scenario``: a fault or scenario applied (issue 4);
- ``error``: an exception the engine survived (``where``: ``step``, ``timer`` or
  ``engine``; the task, step and back-off of a step that raised).

Bounded: the oldest entries are dropped past ``limit`` (``dropped`` counts them).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SECRET_HEADERS", "Entry", "Journal", "mask_headers"]

SECRET_HEADERS = frozenset({"x-api-key", "x-signature", "authorization", "x-admin-token"})


def mask_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers (names lower-cased) with secrets masked: 4 characters kept, then "…"."""
    masked: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in SECRET_HEADERS:
            value = value[:4] + "…" if len(value) > 4 else "…"
        masked[key] = value
    return masked


@dataclass(frozen=True)
class Entry:
    """One journal entry."""

    seq: int
    time: float
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``seq``, ``time``, ``kind`` and the entry's fields."""
        return {"seq": self.seq, "time": self.time, "kind": self.kind, **self.data}

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the entry."""
        return self.data.get(key, default)


class Journal:
    """Thread-safe, bounded, ordered record of what the fake did."""

    def __init__(self, clock: Callable[[], float], limit: int = 100_000) -> None:
        self._clock = clock
        self._entries: deque[Entry] = deque(maxlen=limit)
        self._cond = threading.Condition()
        self._seq = 0
        self.dropped = 0

    def record(self, kind: str, **data: Any) -> Entry:
        """Append an entry and wake anyone waiting on the journal."""
        with self._cond:
            self._seq += 1
            entry = Entry(self._seq, self._clock(), kind, data)
            if len(self._entries) == self._entries.maxlen:
                self.dropped += 1
            self._entries.append(entry)
            self._cond.notify_all()
            return entry

    def entries(
        self,
        kind: str | None = None,
        *,
        since: int = 0,
        task: str | None = None,
        path: str | None = None,
        where: Callable[[Entry], bool] | None = None,
    ) -> list[Entry]:
        """Entries in order, filtered: by ``kind``, ``seq > since``, task id, request
        path (substring), or any predicate."""
        with self._cond:
            found = list(self._entries)
        return [
            e
            for e in found
            if e.seq > since
            and (kind is None or e.kind == kind)
            and (task is None or e.get("task") == task)
            and (path is None or path in str(e.get("path", "")))
            and (where is None or where(e))
        ]

    def wait_for(self, predicate: Callable[[Entry], bool], timeout: float = 30.0) -> Entry | None:
        """Block until an entry matching ``predicate`` exists (past or future); return it,
        or None after ``timeout``. Woken by each new entry, never by polling."""
        with self._cond:
            checked = 0  # entries (by seq) already looked at
            found: list[Entry] = []

            def match() -> bool:
                nonlocal checked
                for entry in self._entries:
                    if entry.seq > checked:
                        checked = entry.seq
                        if predicate(entry):
                            found.append(entry)
                            return True
                return False

            self._cond.wait_for(match, timeout=timeout)
            return found[0] if found else None

    def clear(self) -> None:
        """Forget every entry (sequence numbers keep counting)."""
        with self._cond:
            self._entries.clear()
            self._cond.notify_all()

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest entry (0 if none yet)."""
        with self._cond:
            return self._seq
