"""``callbackUrl`` deliveries: a POST when a task ends, retried with backoff, all recorded.

[docs] "Wiro will POST the task result to your URL when the task completes." The
body, headers, signing and retries are undocumented [A]; the fake's choices,
each one named here:

- When: once the task is terminal (``task_postprocess_end``, success or
  failure, or ``task_cancel``).
- Body (``CALLBACK_BODY``): the Task/Detail response for the task,
  ``{"total": "1", "errors": [], "tasklist": [TASK], "result": true}``, so a
  client parses it like a Task/Detail answer.
- Headers: ``Content-Type: application/json``, ``User-Agent: mock-wiro/<v>``
  and ``X-Mock-Wiro-Attempt: <n>`` (the attempt number; not a real Wiro header). That
  header is also the mark the control surface refuses (:mod:`mock_wiro.control.guard`):
  a callback aimed at the fake's own ``/_mock`` can't act on it.
- Success: any 2xx answer. Redirects are not followed; the answer's body is never read.
- Each attempt has a wall-clock deadline (``timeout`` seconds from its start, connect
  and answer together): a receiver that drips its answer a byte at a time is cut there.
- Direct, never through a proxy: ``HTTP_PROXY`` and the like are ignored (a CA bundle
  in ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` still counts), so a callback
  to a receiver on loopback can't be handed to a proxy (the receivers a test runs are
  local; the fake never reaches the internet on its own).
- Retries: ``attempts`` in all (3 by default, as Wiro's agent webhooks
  [docs]); attempt n+1 comes ``backoff * 2**(n-1)`` *fake* seconds after
  attempt n failed, so a manual clock drives retries deterministically.
- A URL that is not an absolute http(s) URL (the seed's own sample sends
  ``Optional: Webhook URL for task completion notifications``) is recorded as
  ``undeliverable`` with one attempt and no network traffic.

Callback faults (:mod:`mock_wiro.chaos.push_faults`, in ``dispatcher.faults``), consumed
when a task with a valid URL ends, each journaled as kind ``fault``, channel
``callback``:

- ``twice``: the successful attempt is POSTed again at once, same body and
  headers; the copy is in ``Delivery.duplicates`` and journaled as a ``callback``
  entry with ``duplicate: true`` (``attempts`` and retry numbering are unchanged).
- ``late``: the first attempt waits until the task's end + ``delay`` fake seconds.
- ``suppress``: no traffic; the delivery's state is ``suppressed`` (no attempts).

Kept across a restart (a fake with ``--data-dir``, docs/persistence.md): a
delivery's record (task id, URL, body, state, attempts, when its next attempt is due)
is written by the durable store, the ``pending`` record in the same transaction as the
frame that ends the task, each attempt and the final state as they happen. On start,
every delivery still ``pending`` is submitted again: its attempt numbering goes on, a
retry is due at the fake time it was due (the clock resumes per the restart policy).
This is **at least once**: an attempt in flight when the fake is killed (``kill -9``)
is not recorded, so the receiver may get that attempt twice, with the same
``X-Mock-Wiro-Attempt`` (receivers dedupe on the task id and that header). A final
delivery is never POSTed again; its attempts stay listed.

Each attempt runs on its own short-lived thread, with a timeout: a slow or
failing receiver (however many) never delays the task, the engine, or other
deliveries.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import requests
import urllib3.connection
from requests.adapters import HTTPAdapter

from .._version import __version__
from ..chaos.push_faults import PushFault, PushFaultBook
from ..engine.backend import Backend
from ..engine.lifecycle import TERMINAL_STATUSES
from ..engine.models import Event, Task
from ..engine.sqlite_store import SqliteStore
from ..errors import StorageError
from ..http.wire import task_detail

__all__ = [
    "CALLBACK_ATTEMPT_HEADER",
    "CALLBACK_BODY",
    "Attempt",
    "CallbackDispatcher",
    "Delivery",
    "DeliveryState",
    "send_callback",
]

CALLBACK_BODY: Final = "task_detail_response"  # [A] see the module docs
CALLBACK_ATTEMPT_HEADER: Final = "X-Mock-Wiro-Attempt"
"""Carried by every callback POST (the attempt number): the mark ``/_mock`` refuses."""
DeliveryState = Literal["pending", "delivered", "failed", "undeliverable", "suppressed"]
FINAL_STATES: Final = frozenset({"delivered", "failed", "undeliverable", "suppressed"})


@dataclass(frozen=True)
class Attempt:
    """One POST (or the refusal to make one)."""

    number: int
    time: float
    """Fake-clock time the attempt started."""
    url: str
    status: int | None
    error: str | None
    duration: float
    """Wall seconds the attempt took."""

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    @classmethod
    def from_json(cls, found: Mapping[str, Any]) -> Attempt:
        """The attempt :meth:`to_json` gave."""
        return cls(
            int(found["number"]),
            float(found["time"]),
            str(found["url"]),
            None if found["status"] is None else int(found["status"]),
            None if found["error"] is None else str(found["error"]),
            float(found["duration"]),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "number": self.number,
            "time": self.time,
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "duration": round(self.duration, 6),
            "ok": self.ok,
        }


@dataclass
class Delivery:
    """Everything about one task's callback."""

    task_id: str
    url: str
    body: bytes
    state: DeliveryState = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    duplicates: list[Attempt] = field(default_factory=list)
    """Copies POSTed by a ``twice`` callback fault (not counted as attempts)."""
    faults: list[PushFault] = field(default_factory=list)
    """Callback faults applied to this delivery."""
    due: float | None = None
    """Fake time the next attempt is due (None: now, or final)."""

    def record(self) -> dict[str, Any]:
        """What a durable store keeps of it (:meth:`CallbackDispatcher` reads it back)."""
        return {
            "url": self.url,
            "body": self.body.decode(),
            "state": self.state,
            "due": self.due,
            "attempts": [a.to_json() for a in self.attempts],
            "duplicates": [a.to_json() for a in self.duplicates],
            "faults": [[f.id, f.action, f.delay] for f in self.faults],
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``duplicates`` and ``faults`` only when there are some)."""
        found: dict[str, Any] = {
            "task_id": self.task_id,
            "url": self.url,
            "state": self.state,
            "attempts": [a.to_json() for a in self.attempts],
        }
        if self.duplicates:
            found["duplicates"] = [a.to_json() for a in self.duplicates]
        if self.faults:
            found["faults"] = [f.id for f in self.faults]
        return found


class _Watchdog:
    """Cuts the connections of one attempt when its wall-clock deadline passes: the
    per-read timeout alone lets a receiver that drips a byte a second hold it forever."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.fired = False

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:  # connected just after the deadline
            self._cut(sock)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            found = list(self._sockets)
        for sock in found:
            self._cut(sock)

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in another thread


_attempt = threading.local()
"""The watchdog of the attempt running on this thread (each attempt has its own)."""


def _watch(sock: socket.socket | None) -> None:
    watchdog: _Watchdog | None = getattr(_attempt, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self.sock)


class _CallbackAdapter(HTTPAdapter):
    """requests' adapter, with connections that report their socket to the attempt's
    watchdog."""

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: tuple[str, str] | str | None = None,
    ) -> Any:
        pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        https = pool.scheme == "https"
        pool.ConnectionCls = (  # type: ignore[attr-defined]  # an HTTP(S)ConnectionPool's
            _WatchedHTTPSConnection if https else _WatchedHTTPConnection
        )
        return pool


def send_callback(url: str, body: bytes, headers: dict[str, str], deadline: float) -> int:
    """POST ``body`` to ``url`` once and return the answer's status (its body is never
    read): direct, never through a proxy, within ``deadline`` wall seconds in all, or a
    :class:`requests.ReadTimeout` naming the deadline."""
    watchdog = _Watchdog()
    _attempt.watchdog = watchdog
    timer = threading.Timer(deadline, watchdog.fire)
    timer.daemon = True
    timer.start()
    try:
        with requests.Session() as session:
            session.trust_env = False  # no proxy (nor .netrc) from the environment
            adapter = _CallbackAdapter(max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=deadline,
                allow_redirects=False,
                stream=True,
                verify=_ca_bundle(),
            )
            response.close()
    except requests.RequestException as exc:
        if watchdog.fired:
            raise _past_deadline(deadline) from exc
        raise
    finally:
        timer.cancel()
        _attempt.watchdog = None
    if watchdog.fired:  # cut mid-answer: what was parsed before the cut doesn't count
        raise _past_deadline(deadline)
    return response.status_code


def _ca_bundle() -> str | bool:
    """The CA bundle requests would take from the environment (a local CA for an HTTPS
    receiver, as mkcert sets up), which ``trust_env = False`` would otherwise drop."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _past_deadline(deadline: float) -> requests.ReadTimeout:
    return requests.ReadTimeout(
        f"timed out: no answer within the attempt's deadline of {deadline:g} s"
    )


def _valid_url(url: str) -> str | None:
    """Why ``url`` can't be POSTed to, or None if it can."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"invalid callback URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"invalid callback URL {url!r}: expected an absolute http(s) URL"
    return None


class CallbackDispatcher:
    """Delivers callbacks for a backend's tasks (see the module docs)."""

    def __init__(
        self,
        backend: Backend,
        *,
        attempts: int = 3,
        timeout: float = 10.0,
        backoff: float = 2.0,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"callback attempts must be at least 1, not {attempts}")
        self.backend = backend
        self.attempts = attempts
        self.timeout = timeout
        self.backoff = backoff
        self._deliveries: dict[str, Delivery] = {}
        self._cond = threading.Condition()
        self._threads: set[threading.Thread] = set()  # attempts in flight
        self._closed = False
        self.faults = PushFaultBook("callback")
        """Callback fault rules (:mod:`mock_wiro.chaos.push_faults`)."""
        self._durable = isinstance(backend.store, SqliteStore)
        backend.add_listener(self._on_event)
        self._resume()

    def _resume(self) -> None:
        """Carry on with the deliveries a durable store kept: final ones are listed again,
        pending ones are submitted (at the fake time their next attempt is due)."""
        with self.backend.state_lock:
            for task_id, record in self.backend.store.kept_deliveries():
                task = self.backend.store.task(task_id)
                if task is None:
                    continue
                body = record.get("body")
                delivery = Delivery(
                    task_id,
                    str(record["url"]),
                    b"" if body is None else str(body).encode(),  # b"": built when sent
                    record["state"],
                    [Attempt.from_json(a) for a in record.get("attempts", [])],
                    [Attempt.from_json(a) for a in record.get("duplicates", [])],
                    [
                        PushFault(id=i, channel="callback", action=a, delay=d)
                        for i, a, d in record.get("faults", [])
                    ],
                    record.get("due"),
                )
                with self._cond:
                    self._deliveries[task_id] = delivery
                if delivery.state != "pending":
                    continue
                problem = _valid_url(delivery.url)
                if problem is not None:
                    now = self.backend.clock.now()
                    attempt = Attempt(
                        len(delivery.attempts) + 1, now, delivery.url, None, problem, 0.0
                    )
                    self._record(delivery, attempt, final="undeliverable")
                elif delivery.due is not None:
                    self.backend.call_at(delivery.due, functools.partial(self._submit, delivery))
                else:
                    self._submit(delivery)

    def _body(self, task: Task) -> bytes:
        body = {
            "total": "1",
            "errors": [],
            "tasklist": [task_detail(task, self.backend.url_for)],
            "result": True,
        }
        return json.dumps(body).encode()

    def _keep(self, delivery: Delivery) -> None:
        """Write the delivery's record (a durable store's; under the state lock). A
        failed write is logged by the store; the delivery goes on in memory. Nothing at
        all for the in-memory store."""
        if not self._durable:
            return
        with self._cond:
            if self._deliveries.get(delivery.task_id) is not delivery:
                return  # forgotten by a reset
            record = delivery.record()
        with contextlib.suppress(StorageError):
            self.backend.store.save_delivery(delivery.task_id, record)

    def reset(self) -> None:
        """Forget every delivery (waiters wake); the fake's reset calls it."""
        with self._cond:
            self._deliveries.clear()
            self._cond.notify_all()

    def close(self) -> None:
        """Stop delivering (attempts in flight finish)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            in_flight = list(self._threads)
        for thread in in_flight:
            thread.join(timeout=self.timeout + 5)

    # called by the backend under its state lock: decide, record, hand off; never block
    def _on_event(self, task: Task, event: Event) -> None:
        url = task.params.callback_url
        if event.type not in TERMINAL_STATUSES or not url or task.id in self._deliveries:
            return
        delivery = Delivery(task.id, url, self._body(task))
        with self._cond:
            self._deliveries[task.id] = delivery
        problem = _valid_url(url)
        if problem is not None:
            attempt = Attempt(1, event.time, url, None, problem, 0.0)
            self._record(delivery, attempt, final="undeliverable")
            return
        rules = self.faults.take(task.id, task.token, ("twice", "late", "suppress"))
        delivery.faults = rules
        for rule in rules:
            extra: dict[str, Any] = {}
            if rule.action == "late":
                extra = {"delay": rule.delay, "until": event.time + (rule.delay or 0.0)}
            self.backend.journal.record(
                "fault", channel="callback", rule=rule.id, action=rule.action, task=task.id, **extra
            )
        if any(r.action == "suppress" for r in rules):
            with self._cond:
                delivery.state = "suppressed"
                self._keep(delivery)  # kept before a waiter is told
                self._cond.notify_all()
            return
        late = [r.delay or 0.0 for r in rules if r.action == "late"]
        if late:
            delivery.due = event.time + max(late)
            self._keep(delivery)
            self.backend.call_at(delivery.due, lambda: self._submit(delivery))
            return
        self._keep(delivery)
        self._submit(delivery)

    def _submit(self, delivery: Delivery) -> None:
        with self._cond:
            if self._closed or self._deliveries.get(delivery.task_id) is not delivery:
                return  # closed, or forgotten by a reset
            # one thread per attempt: no pool that slow receivers could fill up
            thread = threading.Thread(
                target=self._run_attempt,
                args=(delivery,),
                name=f"mock-wiro-cb-{delivery.task_id}",
                daemon=True,
            )
            self._threads.add(thread)
        thread.start()

    def _run_attempt(self, delivery: Delivery) -> None:
        try:
            self._attempt(delivery)
        finally:
            with self._cond:
                self._threads.discard(threading.current_thread())

    def _attempt(self, delivery: Delivery) -> None:
        if not delivery.body:  # the fake stopped before the body was kept: built now,
            with self.backend.state_lock:  # from the kept task (its URLs: this start's)
                task = self.backend.store.task(delivery.task_id)
                if task is None or delivery.body:
                    return
                delivery.body = self._body(task)
                self._keep(delivery)
        number = len(delivery.attempts) + 1
        attempt = self._post(delivery, number)
        duplicate: Attempt | None = None
        if attempt.ok and any(r.action == "twice" for r in delivery.faults):
            duplicate = self._post(delivery, number)  # the same request, again
        final = attempt.ok or number >= self.attempts
        # The retry is due from when this attempt failed, read before anyone is told of
        # it. Record and schedule under the state lock (taken before our own, as the
        # listener does): a waiter woken by the record that then advances the clock
        # pumps only after the retry's timer exists.
        retry_at = self.backend.clock.now() + self.backoff * 2 ** (number - 1)
        with self.backend.state_lock:
            delivery.due = None if final else retry_at  # kept with the attempt's record
            state: DeliveryState | None = None
            if final:
                state = "delivered" if attempt.ok else "failed"
            if duplicate is not None:
                self._record(delivery, attempt, final=None)
                self._record(delivery, duplicate, final=state, duplicate=True)
            else:
                self._record(delivery, attempt, final=state)
            if not final:
                self.backend.call_at(retry_at, lambda: self._submit(delivery))

    def _post(self, delivery: Delivery, number: int) -> Attempt:
        """POST the body once (never under a lock) and say how it went."""
        started_at = self.backend.clock.now()
        start = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            # a fresh connection per attempt: attempts run on many threads at once
            status = send_callback(
                delivery.url,
                delivery.body,
                {
                    "Content-Type": "application/json",
                    "User-Agent": f"mock-wiro/{__version__}",
                    CALLBACK_ATTEMPT_HEADER: str(number),
                },
                self.timeout,
            )
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        return Attempt(number, started_at, delivery.url, status, error, time.perf_counter() - start)

    def _record(
        self,
        delivery: Delivery,
        attempt: Attempt,
        *,
        final: DeliveryState | None,
        duplicate: bool = False,
    ) -> None:
        with self._cond:
            (delivery.duplicates if duplicate else delivery.attempts).append(attempt)
            if final is not None:
                delivery.state = final
            self._keep(delivery)  # kept before a waiter is told
            self._cond.notify_all()
        extra = {"duplicate": True} if duplicate else {}
        self.backend.journal.record(
            "callback", task=delivery.task_id, state=delivery.state, **attempt.to_json(), **extra
        )

    # ---------------------------------------------------------------- reading
    def deliveries(self) -> list[Delivery]:
        """Every delivery so far, by task id order."""
        with self._cond:
            return sorted(self._deliveries.values(), key=lambda d: int(d.task_id))

    def delivery(self, task_id: str) -> Delivery | None:
        """The delivery for one task, if it had a callbackUrl and has ended."""
        with self._cond:
            return self._deliveries.get(task_id)

    def wait_for(self, task_id: str, *, attempts: int | None = None, timeout: float = 30.0) -> bool:
        """Block until the task's delivery is final (or has ``attempts`` attempts)."""

        def done() -> bool:
            d = self._deliveries.get(task_id)
            if d is None:
                return self._closed
            if attempts is not None:
                return len(d.attempts) >= attempts or d.state in FINAL_STATES
            return d.state in FINAL_STATES

        with self._cond:
            return self._cond.wait_for(done, timeout=timeout)
