"""HTTP faults on the wire: the request hooks that apply the rules of
:mod:`mock_wiro.chaos.http_faults` to every HTTP request but the control surface and
WebSocket handshakes (their control surface, ``/_mock/faults``, is
:mod:`mock_wiro.control.faults`).

Each fault applied is a ``fault`` journal entry (``rule``, ``path``, ``method``,
``action``, ``when``, and ``task`` when an ``after`` fault lost a response that
created one), and the request's own journal entry gets ``fault`` (and that ``task``).
A request that none of the armed rules hit is an ``unmatched`` entry (``rules:
"faults"``) listing each rule and why it did not apply.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue

from ..chaos.http_faults import FaultRule, FaultSet, Phase
from ..chaos.rules import miss_report
from ..engine.journal import Journal
from .context import request_state

__all__ = ["DROPPED_ENVIRON", "FAULT_HEADER", "SOCKET_ENVIRON", "HttpFaults"]

SOCKET_ENVIRON = "mock_wiro.socket"
"""The environ key under which a server other than werkzeug's (``mock_wiro.gevent_server``)
hands over the connection's socket, so a ``reset`` fault can drop it."""
DROPPED_ENVIRON = "mock_wiro.dropped"
"""Set in the environ of a request a ``reset`` fault dropped: the server logs no answer."""

_MALFORMED_BEFORE = b'{"result": true, "errors": ['
"""A ``before`` malformed body: an envelope cut short."""
FAULT_HEADER = "X-Mock-Wiro-Fault"
"""On every response a fault touched: ``<rule id>; action=<action>; when=<phase>``; a
response two rules touched (a ``before`` delay, then an ``after`` rule) carries the
header twice, one mark each (a client joining them reads ``mark, mark``)."""


def _mark(response: Response, rule: FaultRule, when: Phase) -> Response:
    response.headers[FAULT_HEADER] = f"{rule.id}; action={rule.action}; when={when}"
    return response


def _delayed_mark() -> str | None:
    """The mark of a ``before`` latency or hang that delayed this request (the handler
    then ran): every response a fault touched carries it. Read before an ``after`` rule
    notes itself in its place."""
    state = request_state()
    fault = state.journal_extra.get("fault")
    if state.fault_fired and isinstance(fault, dict) and fault.get("when") == "before":
        return f"{fault['rule']}; action={fault['action']}; when=before"
    return None


def _add_mark(response: Response, mark: str | None) -> Response:
    if mark is not None:  # added, not set: an ``after`` rule may have marked it too
        response.headers.add(FAULT_HEADER, mark)
    return response


def _status_response(rule: FaultRule) -> Response:
    response = jsonify({"result": False, "errors": [{"code": 0, "message": rule.error_message()}]})
    response.status_code = rule.status or 500
    if rule.retry_after is not None:
        response.headers["Retry-After"] = str(rule.retry_after)
    return response


def _abort(sock: socket.socket) -> Iterator[bytes]:
    """A response body that, when the server starts sending it (after every hook, the
    journal's included), drops the connection instead: no status line, no bytes."""
    with contextlib.suppress(OSError):
        # linger 0: the close that follows sends a reset, not an orderly goodbye
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    # the server takes this for a client gone away, writes nothing and closes the socket
    raise ConnectionAbortedError(
        errno.ECONNABORTED, "mock-wiro: connection reset by an injected HTTP fault"
    )
    yield b""  # pragma: no cover  (makes this a generator)


def _dropped() -> Response:
    """A reset: with the server's socket (werkzeug's, or :data:`SOCKET_ENVIRON`), nothing
    reaches the client; without one (in-process WSGI), a bare 502 marked by
    :data:`FAULT_HEADER`."""
    sock = request.environ.get("werkzeug.socket") or request.environ.get(SOCKET_ENVIRON)
    if isinstance(sock, socket.socket):
        request.environ[DROPPED_ENVIRON] = True
        return Response(_abort(sock), status=502, direct_passthrough=True)
    return Response(b"", status=502, headers={"Connection": "close"})


def _created_task() -> str | None:
    """The id of the task this request created (a Run's), if any: its route noted it."""
    task = request_state().journal_extra.get("task")
    return task if isinstance(task, str) else None


def _faultable() -> bool:
    if request.path.startswith("/_mock"):
        return False
    return request.headers.get("Upgrade", "").lower() != "websocket"


class HttpFaults:
    """The hooks that apply one fake's HTTP fault rules to its requests."""

    def __init__(self, faults: FaultSet, journal: Journal) -> None:
        self.faults = faults
        self.journal = journal

    def install(self, app: Flask) -> None:
        """Register the hooks. Call it after the app's journal hook: Flask runs
        ``after_request`` hooks last-registered first, so the journal then records what
        the client got."""
        app.before_request(self.before)
        app.after_request(self.after)

    def _note(self, rule: FaultRule, when: Phase, **extra: Any) -> None:
        """The fault's journal entry, and its mark on the request's entry."""
        state = request_state()
        state.fault_fired = True
        state.journal_extra["fault"] = {"rule": rule.id, "action": rule.action, "when": when}
        if "task" in extra:
            state.journal_extra["task"] = extra["task"]
        if rule.action == "reset":  # nothing reached the client
            state.journal_extra |= {"status": None, "response": None}
        data: dict[str, Any] = {
            "rule": rule.id,
            "path": request.path,
            "method": request.method,
            "action": rule.action,
            "when": when,
        }
        if rule.action == "status":
            data["status"] = rule.status
        elif rule.seconds is not None:
            data["seconds"] = rule.seconds
        self.journal.record("fault", **data, **extra)

    def before(self) -> ResponseReturnValue | None:
        """Before the handler: a ``before`` rule answers, delays or drops the request."""
        if not _faultable():
            return None
        rule = self.faults.draw("before", request.path, request.method)
        if rule is None:
            return None
        if rule.action in ("latency", "hang"):
            with self.faults.holding(rule) as released:
                self._note(rule, "before")
                released.wait(rule.seconds)
            return None  # then the handler runs, late
        self._note(rule, "before")
        request_state().fault_answered = True
        if rule.action == "status":
            return _mark(_status_response(rule), rule, "before")
        if rule.action == "malformed":
            response = Response(_MALFORMED_BEFORE, status=200, mimetype="application/json")
            return _mark(response, rule, "before")
        return _mark(_dropped(), rule, "before")

    def after(self, response: Response) -> Response:
        """After the handler: an ``after`` rule replaces, delays, cuts or loses its
        response; a request no rule hit is journaled with why each one missed."""
        if not _faultable() or request_state().fault_answered:
            return response
        delayed = _delayed_mark()
        rule = self.faults.draw("after", request.path, request.method)
        if rule is None:
            self._journal_miss()
            return _add_mark(response, delayed)
        return _add_mark(self._apply_after(rule, response), delayed)  # both, if both fired

    def _journal_miss(self) -> None:
        if request_state().fault_fired or not self.faults.rules():
            return
        candidates = self.faults.explain_request(request.path, request.method)
        for candidate in candidates:
            if candidate["matched"]:  # only a probability rule matches and does not fire
                candidate["reason"] = "it matched, but its probability draw did not fire"
        self.journal.record(
            "unmatched",
            rules="faults",
            method=request.method,
            path=request.path,
            candidates=miss_report(candidates),
        )

    def _apply_after(self, rule: FaultRule, response: Response) -> Response:
        extra: dict[str, Any] = {"original_status": response.status_code}
        task = _created_task()
        if task is not None:
            extra["task"] = task
        if rule.action in ("latency", "hang"):
            with self.faults.holding(rule) as released:
                self._note(rule, "after", **extra)
                released.wait(rule.seconds)
            return _mark(response, rule, "after")
        self._note(rule, "after", **extra)
        if rule.action == "malformed":
            response.direct_passthrough = False  # a file: read it, to cut it short
            data = response.get_data()
            response.set_data(data[: len(data) // 2] if len(data) > 1 else b"{")
            response.status_code = 200
            return _mark(response, rule, "after")
        response.close()  # the handler's response is lost (and its file closed)
        if rule.action == "status":
            return _mark(_status_response(rule), rule, "after")
        return _mark(_dropped(), rule, "after")
