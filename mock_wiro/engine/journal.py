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

Bounded twice: the oldest entries are dropped past ``limit`` entries and past
``max_bytes`` (an estimate of what the entries hold, :func:`entry_size`); ``dropped``
counts them. What one entry may hold is bounded by whoever builds it, with the
``ENTRY_*`` constants below and :func:`clip_pairs` (a request's entry: its headers,
body fields, path and response text), so no request can fill the journal's budget by
itself, and none is kept whole if it is large.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENTRY_FIELD_CHARS",
    "ENTRY_HEADER_CHARS",
    "ENTRY_MAX_FIELDS",
    "ENTRY_MAX_HEADERS",
    "ENTRY_NAME_CHARS",
    "ENTRY_TEXT_CHARS",
    "JOURNAL_MAX_BYTES",
    "JOURNAL_MAX_ENTRIES",
    "SECRET_HEADERS",
    "Deferred",
    "Entry",
    "Journal",
    "clip_pairs",
    "entry_size",
    "mask_headers",
    "masked_headers",
]

SECRET_HEADERS = frozenset({"x-api-key", "x-signature", "authorization", "x-admin-token"})

# --- the bounds (docs/security.md, "Memory") ------------------------------------------
JOURNAL_MAX_ENTRIES = 100_000
"""Entries kept at most; the oldest are dropped first."""
JOURNAL_MAX_BYTES = 64 * 1024 * 1024
"""Bytes kept at most, every entry together, as :func:`entry_size` estimates them (the
estimate counts each string's and container's own size, so it is close to what the
entries hold in memory, about 1.5 times it); the oldest entries are dropped first.
64 MiB keeps some 16,000 ordinary request entries (about 4 KiB each by the estimate),
70,000 socket frames (900 bytes), or 500 of the largest request entries (130 KiB)."""
ENTRY_MAX_HEADERS = 64
"""Headers kept in one request entry (the first ones, in the order sent)."""
ENTRY_HEADER_CHARS = 512
"""Characters kept of one header value (a secret is masked to 4 characters first)."""
ENTRY_MAX_FIELDS = 64
"""Body fields (and uploaded files' field names) kept in one request entry: a Run takes
a dozen; a body of 50,000 keys keeps its first 64."""
ENTRY_FIELD_CHARS = 200
"""Characters kept of one body field value (a prompt of 2,000 keeps its first 200)."""
ENTRY_NAME_CHARS = 128
"""Characters kept of a header's or a field's name."""
ENTRY_TEXT_CHARS = 4096
"""Characters kept of one free text: a JSON response body, a request path, a content
type."""


def clip_pairs(
    pairs: Iterable[tuple[str, str]],
    *,
    items: int,
    chars: int,
    name_chars: int = ENTRY_NAME_CHARS,
) -> tuple[dict[str, str], bool]:
    """The first ``items`` pairs as a dict, each name cut at ``name_chars`` and each value
    at ``chars`` characters; and whether anything was cut or left out."""
    kept: dict[str, str] = {}
    cut = False
    for name, value in pairs:
        if len(kept) >= items and name[:name_chars] not in kept:
            return kept, True
        if len(name) > name_chars or len(value) > chars:
            cut = True
        kept[name[:name_chars]] = value[:chars]
    return kept, cut


def masked_headers(
    headers: Iterable[tuple[str, str]],
    *,
    items: int = ENTRY_MAX_HEADERS,
    chars: int = ENTRY_HEADER_CHARS,
) -> tuple[dict[str, str], bool]:
    """Headers (names lower-cased) with secrets masked (4 characters kept, then "…"),
    bounded by :func:`clip_pairs`; and whether any header was cut or left out."""

    def masked() -> Iterable[tuple[str, str]]:
        for name, value in headers:
            key = name.lower()
            if key in SECRET_HEADERS:
                value = value[:4] + "…" if len(value) > 4 else "…"
            yield key, value

    return clip_pairs(masked(), items=items, chars=chars)


def mask_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers (names lower-cased) with secrets masked: 4 characters kept, then "…";
    at most ``ENTRY_MAX_HEADERS``, each value cut at ``ENTRY_HEADER_CHARS``."""
    return masked_headers(headers)[0]


_SLOT = 64
"""Bytes counted per dict item or list element beyond its key's and value's own size
(the container's slot, its hash, a share of its spare room)."""


def entry_size(value: object) -> int:
    """About how many bytes ``value`` holds: each string's (and number's) own size
    (``sys.getsizeof``) plus ``_SLOT`` per container item, nested containers included.
    Shared objects are counted each time they appear: an over-estimate, never an under."""
    total = 0
    stack: list[object] = [value]
    getsizeof = sys.getsizeof
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is int or kind is float or item is None or kind is bool:
            total += getsizeof(item)  # the common leaves first: no ABC check
        elif isinstance(item, dict | Mapping):
            total += sys.getsizeof(item) + _SLOT * len(item)
            for key, inner in item.items():
                stack.append(key)
                stack.append(inner)
        elif isinstance(item, list | tuple | set | frozenset):
            total += sys.getsizeof(item) + _SLOT * len(item)
            stack.extend(item)
        else:
            total += getsizeof(item)
    return total


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


class Deferred(Mapping[str, Any]):
    """An entry's fields built when first read: a request's entry keeps the raw parts
    (its headers as they came, the clipped body fields, the clipped answer) and masks,
    clips and arranges them only if somebody reads the journal. ``build`` must be pure:
    two threads reading at once may both run it, and either result is kept."""

    __slots__ = ("_build", "_data")

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build: Callable[[], dict[str, Any]] | None = build
        self._data: dict[str, Any] | None = None

    def _built(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            build = self._build
            if build is None:  # another thread built it in between: kept before cleared
                data = self._data
                assert data is not None
                return data
            data = build()
            self._data = data  # kept first, then the raw parts let go
            self._build = None
        return data

    def __getitem__(self, key: str) -> Any:
        return self._built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())

    def __repr__(self) -> str:
        return repr(self._built())


_ENTRY_OVERHEAD = 128
"""Bytes counted per entry for the :class:`Entry` itself (its seq, time and slots)."""


class Journal:
    """Thread-safe, bounded, ordered record of what the fake did."""

    def __init__(
        self,
        clock: Callable[[], float],
        limit: int = JOURNAL_MAX_ENTRIES,
        max_bytes: int = JOURNAL_MAX_BYTES,
    ) -> None:
        self._clock = clock
        self.limit = limit
        self.max_bytes = max_bytes
        self._entries: deque[Entry] = deque()
        self._sizes: deque[int] = deque()  # entry_size of each entry, in step
        self._bytes = 0
        self._cond = threading.Condition()
        self._seq = 0
        self.dropped = 0
        self._listeners: list[Callable[[Entry | None], None]] = []

    def add_listener(self, listener: Callable[[Entry | None], None]) -> None:
        """Call ``listener(entry)`` after each entry is recorded, and ``listener(None)``
        after :meth:`clear` (outside the journal's lock; it must not block)."""
        self._listeners.append(listener)

    def _tell(self, entry: Entry | None) -> None:
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:  # a broken listener must not lose the entry's caller
                logging.getLogger("mock_wiro").exception("mock-wiro journal listener error")

    def record(self, kind: str, **data: Any) -> Entry:
        """Append an entry, drop the oldest ones past ``limit`` entries or ``max_bytes``
        (the newest is always kept), and wake anyone waiting on the journal."""
        size = _ENTRY_OVERHEAD + entry_size(kind) + entry_size(data)  # outside the lock
        return self._append([(kind, data, size)])[0]

    def record_deferred(self, kind: str, build: Callable[[], dict[str, Any]], size: int) -> Entry:
        """Append an entry whose fields ``build`` makes when first read (:class:`Deferred`);
        ``size``: what the entry holds before and after, at most (the caller's estimate,
        as :func:`entry_size` would count it). Bounded and told as :meth:`record`."""
        return self._append([(kind, Deferred(build), _ENTRY_OVERHEAD + size)])[0]

    def record_many(
        self,
        items: Iterable[tuple[str, Mapping[str, Any]]],
        sizes: Iterable[int] | None = None,
    ) -> list[Entry]:
        """Append several entries, ``(kind, data)`` each, in order and together (one
        lock, one clock reading, one wake-up): a socket writer's frames of one write.
        Bounded as :meth:`record`; the listeners hear of each, in order. ``sizes``, if
        given: each entry's ``entry_size(data)``, known to the caller (a socket frame's
        entry has a fixed shape: counted once, not walked per frame)."""
        if sizes is None:
            return self._append(
                [
                    (kind, data, _ENTRY_OVERHEAD + entry_size(kind) + entry_size(data))
                    for kind, data in items
                ]
            )
        return self._append(
            [
                (kind, data, _ENTRY_OVERHEAD + sys.getsizeof(kind) + size)
                for (kind, data), size in zip(items, sizes, strict=True)
            ]
        )

    def _append(self, sized: list[tuple[str, Mapping[str, Any], int]]) -> list[Entry]:
        """Append ``(kind, data, size)`` entries in order under one lock and one clock
        reading, wake the waiters once, then tell the listeners of each, in order."""
        if not sized:
            return []
        entries: list[Entry] = []
        with self._cond:
            now = self._clock()
            for kind, data, size in sized:
                self._seq += 1
                entry = Entry(self._seq, now, kind, data)
                self._keep(entry, size)
                entries.append(entry)
            self._cond.notify_all()
        if self._listeners:  # (a dashboard's feed)
            for entry in entries:
                self._tell(entry)
        return entries

    def _keep(self, entry: Entry, size: int) -> None:
        """Append ``entry`` (``size`` bytes), then drop the oldest past ``limit`` entries
        or ``max_bytes``, the newest always kept (under the journal's lock)."""
        self._entries.append(entry)
        self._sizes.append(size)
        self._bytes += size
        while len(self._entries) > 1 and (
            len(self._entries) > self.limit or self._bytes > self.max_bytes
        ):
            self._entries.popleft()
            self._bytes -= self._sizes.popleft()
            self.dropped += 1

    @property
    def bytes(self) -> int:
        """About how many bytes the entries kept hold (:func:`entry_size`)."""
        with self._cond:
            return self._bytes

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

    def dump(self) -> list[dict[str, Any]]:
        """Every entry kept, as JSON-ready dicts (:meth:`Entry.to_json`), oldest first."""
        with self._cond:
            return [e.to_json() for e in self._entries]

    def restore(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Take back entries :meth:`dump` gave (a durable fake's, at start), oldest first,
        before any new one; their sequence numbers go on counting. Bounded as ever."""
        for item in items:
            data = {k: v for k, v in item.items() if k not in ("seq", "time", "kind")}
            kind = str(item["kind"])
            size = _ENTRY_OVERHEAD + entry_size(kind) + entry_size(data)
            with self._cond:
                self._seq = max(self._seq, int(item["seq"]))
                self._keep(Entry(int(item["seq"]), float(item["time"]), kind, data), size)

    def clear(self) -> None:
        """Forget every entry (sequence numbers keep counting)."""
        with self._cond:
            self._entries.clear()
            self._sizes.clear()
            self._bytes = 0
            self._cond.notify_all()
        self._tell(None)

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest entry (0 if none yet)."""
        with self._cond:
            return self._seq
