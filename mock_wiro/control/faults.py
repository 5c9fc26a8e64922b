"""HTTP faults on the wire: the request hooks that apply :mod:`mock_wiro.chaos.http_faults` rules,
and their control surface, ``/_mock/faults`` (JSON, like the rest of ``/_mock``).

::

    POST   /_mock/faults                {"path": "/v1/Task/*", "status": 503, "times": 2}
    GET    /_mock/faults                every rule with its counters
    GET    /_mock/faults/<id>           one rule
    DELETE /_mock/faults/<id>           delete it (releasing what it holds)
    POST   /_mock/faults/<id>/release   release the requests it holds (a hang)
    POST   /_mock/faults/release        release every held request
    POST   /_mock/faults/clear          delete every rule

Faults apply to every HTTP path but the control surface and WebSocket handshakes.
Each one applied is a ``fault`` journal entry (``rule``, ``path``, ``method``,
``action``, ``when``, and ``task`` when an ``after`` fault lost a response that
created one), and the request's own journal entry gets ``fault`` (and that ``task``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from ..chaos.http_faults import FaultError, FaultRule, FaultSet, Phase
from ..engine.backend import Backend
from .base import ControlError, _body, control

__all__ = ["fault_control", "faults", "install"]

fault_control = Blueprint("mock_faults", __name__, url_prefix="/_mock/faults")

# The same body checks (JSON only, bounded) and error answers as the rest of /_mock:
# every hook and handler of the control blueprint, as it defines them.
for _check in control.before_request_funcs.get(None, []):
    fault_control.before_request(_check)
for _handlers in control.error_handler_spec.get(None, {}).values():
    for _exc, _handler in _handlers.items():
        fault_control.register_error_handler(_exc, _handler)

_MALFORMED_BEFORE = b'{"result": true, "errors": ['
"""A ``before`` malformed body: an envelope cut short."""
FAULT_HEADER = "X-Mock-Wiro-Fault"
"""On every response a fault touched: ``<rule id>; action=<action>; when=<phase>``."""


def faults() -> FaultSet:
    """The fault rules of the running app."""
    found: FaultSet = current_app.extensions["mock_wiro_faults"]
    return found


def install(app: Flask, backend: Backend) -> FaultSet:
    """Give ``app`` fault rules, the hooks that apply them and ``/_mock/faults``.

    Call it after the app's journal hook is registered: Flask runs ``after_request``
    hooks last-registered first, so the journal then records what the client got.
    """
    found = FaultSet()
    app.extensions["mock_wiro_faults"] = found
    backend.on_reset(found.clear)
    backend.on_close(found.close)
    app.before_request(_before)
    app.after_request(_after)
    app.register_blueprint(fault_control)
    return found


# ------------------------------------------------------------------ applying
def _faultable() -> bool:
    if request.path.startswith("/_mock"):
        return False
    return request.headers.get("Upgrade", "").lower() != "websocket"


def _note(rule: FaultRule, when: Phase, **extra: Any) -> None:
    """The fault's journal entry, and its mark on the request's entry."""
    fault = {"rule": rule.id, "action": rule.action, "when": when}
    g.mock_wiro_fault = rule
    journal_extra: dict[str, Any] = g.setdefault("mock_wiro_journal_extra", {})
    journal_extra["fault"] = fault
    if "task" in extra:
        journal_extra["task"] = extra["task"]
    if rule.action == "reset":  # nothing reached the client
        journal_extra |= {"status": None, "response": None}
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
    current_app.extensions["mock_wiro"].journal.record("fault", **data, **extra)


def _mark(response: Response, rule: FaultRule, when: Phase) -> Response:
    response.headers[FAULT_HEADER] = f"{rule.id}; action={rule.action}; when={when}"
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
    raise ConnectionAbortedError("mock-wiro: connection reset by an injected HTTP fault")
    yield b""  # pragma: no cover  (makes this a generator)


def _dropped() -> Response:
    """A reset: with the werkzeug server's socket, nothing reaches the client; without
    one (in-process WSGI), a bare 502 marked by :data:`FAULT_HEADER`."""
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        return Response(_abort(sock), status=502, direct_passthrough=True)
    return Response(b"", status=502, headers={"Connection": "close"})


def _before() -> ResponseReturnValue | None:
    if not _faultable():
        return None
    found = faults()
    rule = found.draw("before", request.path, request.method)
    if rule is None:
        return None
    if rule.action in ("latency", "hang"):
        with found.holding(rule) as released:
            _note(rule, "before")
            released.wait(rule.seconds)
        return None  # then the handler runs, late
    _note(rule, "before")
    g.mock_wiro_fault_answered = True
    if rule.action == "status":
        return _mark(_status_response(rule), rule, "before")
    if rule.action == "malformed":
        response = Response(_MALFORMED_BEFORE, status=200, mimetype="application/json")
        return _mark(response, rule, "before")
    return _mark(_dropped(), rule, "before")


def _created_task(response: Response) -> str | None:
    """The ``taskid`` of a JSON response (a Run's), if any."""
    if response.mimetype != "application/json" or response.direct_passthrough:
        return None
    with contextlib.suppress(ValueError):
        parsed = json.loads(response.get_data())
        task = parsed.get("taskid") if isinstance(parsed, dict) else None
        if isinstance(task, str):
            return task
    return None


def _after(response: Response) -> Response:
    if not _faultable() or g.get("mock_wiro_fault_answered"):
        return response
    found = faults()
    rule = found.draw("after", request.path, request.method)
    if rule is None:
        return response
    extra: dict[str, Any] = {"original_status": response.status_code}
    task = _created_task(response)
    if task is not None:
        extra["task"] = task
    if rule.action in ("latency", "hang"):
        with found.holding(rule) as released:
            _note(rule, "after", **extra)
            released.wait(rule.seconds)
        return _mark(response, rule, "after")
    _note(rule, "after", **extra)
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


# ------------------------------------------------------------------ control
def _rule(rule_id: str) -> FaultRule:
    rule = faults().get(rule_id)
    if rule is None:
        raise ControlError(f"no fault rule {rule_id!r}", 404)
    return rule


@fault_control.post("")
def create() -> ResponseReturnValue:
    """A new rule (see :mod:`mock_wiro.chaos.http_faults`): the rule with its ``id``."""
    try:
        rule = faults().add(_body())
    except FaultError as exc:
        raise ControlError(str(exc)) from None
    return rule.to_json(), 201


@fault_control.get("")
def list_rules() -> ResponseReturnValue:
    """Every rule, with ``matched``, ``hits``, ``held`` and ``active``."""
    return {"faults": [r.to_json() for r in faults().rules()]}


@fault_control.get("/<rule_id>")
def get_rule(rule_id: str) -> ResponseReturnValue:
    """One rule."""
    return _rule(rule_id).to_json()


@fault_control.delete("/<rule_id>")
def delete_rule(rule_id: str) -> ResponseReturnValue:
    """Delete a rule; what it holds is released."""
    if not faults().remove(rule_id):
        raise ControlError(f"no fault rule {rule_id!r}", 404)
    return {"ok": True}


@fault_control.post("/<rule_id>/release")
def release_rule(rule_id: str) -> ResponseReturnValue:
    """Release the requests a rule holds (a ``hang``): ``{"released": n}``."""
    _rule(rule_id)
    return {"released": faults().release(rule_id)}


@fault_control.post("/release")
def release_all() -> ResponseReturnValue:
    """Release every held request."""
    return {"released": faults().release()}


@fault_control.post("/clear")
def clear() -> ResponseReturnValue:
    """Delete every rule (releasing what they hold)."""
    faults().clear()
    return {"ok": True}
