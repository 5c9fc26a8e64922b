"""The control surface, outside ``/v1``: ``/_mock/...``, JSON, no credentials.

It drives what a test needs and the real API has no way to do: the clock,
projects and balances, waiting for a task, reset. Bind the fake to loopback, or set
``Settings.admin_token``: then every ``/_mock`` request must send ``X-Admin-Token``
(:func:`require_admin_token`, installed app-wide by ``create_app`` so that every
blueprint under ``/_mock`` is covered).

A POST may carry no body at all, or a JSON object sent as ``Content-Type:
application/json``. Any other content type is refused (415), even with an empty
body: a web page can send ``text/plain``, form-encoded or multipart POSTs across
sites without a CORS preflight, and must not be able to reset or advance the fake.
"""

from __future__ import annotations

import hmac
import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from ..engine.models import Project, Task
from ..errors import WiroError
from ..http.routes import backend, read_small_body
from ..http.wire import task_detail
from ..push.callbacks import CallbackDispatcher
from ..settings import AuthMode

__all__ = ["ADMIN_TOKEN_HEADER", "control", "require_admin_token"]

control = Blueprint("mock_control", __name__, url_prefix="/_mock")

WAIT_MAX_SECONDS = 300.0
"""The longest ``timeout`` a ``.../wait`` endpoint accepts."""
_BALANCE_MAX = Decimal("1e15")
"""Balances are bounded in magnitude so that formatting one stays cheap."""


class ControlError(Exception):
    """A bad control request: HTTP 400 (or ``status``) with ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@control.errorhandler(ControlError)
def _control_error(exc: ControlError) -> ResponseReturnValue:
    return jsonify({"error": exc.message}), exc.status


@control.errorhandler(WiroError)
def _wiro_error(exc: WiroError) -> ResponseReturnValue:
    return jsonify({"error": exc.message}), 400


@control.errorhandler(ValueError)
def _value_error(exc: ValueError) -> ResponseReturnValue:
    return jsonify({"error": str(exc)}), 400


@control.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    response = jsonify({"error": exc.description})
    response.status_code = 413
    response.headers["Connection"] = "close"
    return response


@control.before_request
def _read_body() -> None:
    """Check and parse every request's body before its handler runs (see the module doc)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype and not request.is_json:
        raise ControlError(
            f"control requests take a JSON body sent as Content-Type: application/json; "
            f"got Content-Type {request.mimetype!r}",
            415,
        )
    raw = read_small_body()
    if not raw:
        g.control_body = {}
        return
    if not request.mimetype:
        raise ControlError(
            "control requests take a JSON body sent as Content-Type: application/json; "
            "got a body without a Content-Type",
            415,
        )
    try:
        # Decimal, not float: a balance is kept exactly as written
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise ControlError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    g.control_body = body


ADMIN_TOKEN_HEADER = "X-Admin-Token"
"""The header that carries ``Settings.admin_token`` on ``/_mock`` requests."""
ADMIN_TOKEN_ERROR = "admin token required: send X-Admin-Token"


def require_admin_token() -> ResponseReturnValue | None:
    """A ``before_request`` hook for the whole app: when the backend's settings have an
    ``admin_token``, a request to a path under ``/_mock`` without that exact token in
    ``X-Admin-Token`` (compared in constant time) is answered 401. Other paths pass."""
    if not request.path.lstrip("/").startswith("_mock"):  # "//_mock/..." too
        return None
    token = backend().settings.admin_token
    if not token:
        return None
    given = request.headers.get(ADMIN_TOKEN_HEADER, "")
    # werkzeug decodes header bytes as latin-1: back to the bytes the client sent
    if hmac.compare_digest(given.encode("latin-1", "replace"), token.encode("utf-8")):
        return None
    return jsonify({"error": ADMIN_TOKEN_ERROR}), 401


def _body() -> dict[str, Any]:
    body: dict[str, Any] = g.control_body
    return body


def _number(body: dict[str, Any], name: str) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ControlError(f"{name!r} must be a number; got {value!r}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ControlError(f"{name!r} must be a number; got {value!r}") from None
    if not math.isfinite(number):
        raise ControlError(f"{name!r} must be a finite number; got {value!r}")
    return number


def _timeout(body: dict[str, Any]) -> float:
    timeout = _number(body, "timeout") if "timeout" in body else 30.0
    if not 0 <= timeout <= WAIT_MAX_SECONDS:
        raise ControlError(
            f"'timeout' must be between 0 and {WAIT_MAX_SECONDS:g} seconds; got {timeout!r}"
        )
    return timeout


def _money(value: object, name: str) -> Decimal:
    """An amount in USD, exactly as written: from a JSON number (parsed as Decimal) or
    a string; never through a float."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ControlError(f"{name!r} must be a number; got {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ControlError(f"{name!r} must be a number; got {value!r}") from None
    if not amount.is_finite():
        raise ControlError(f"{name!r} must be a finite number; got {value!r}")
    if amount.copy_abs() >= _BALANCE_MAX:  # copy_abs: no context, so no Overflow
        raise ControlError(f"{name!r} must be less than {_BALANCE_MAX:f} in magnitude")
    return amount


def _string(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ControlError(f"{name!r} must be a string; got {value!r}")
    return value


def project_json(project: Project) -> dict[str, Any]:
    """A project, with its secret (this surface is for tests on loopback)."""
    return {
        "id": project.id,
        "name": project.name,
        "api_key": project.api_key,
        "api_secret": project.api_secret,
        "auth": project.auth_mode,
        "balance": f"{project.balance:.2f}",
    }


def _task_json(task: Task) -> dict[str, Any]:
    b = backend()
    with b.state_lock:
        detail = task_detail(task, b.url_for)
    return {
        **detail,
        "events": [{"type": e.type, "time": e.time, "message": e.message} for e in task.events],
    }


def _task(task_id: str) -> Task:
    task = backend().task_by_id(task_id)
    if task is None:
        raise ControlError(f"no task {task_id!r}", 404)
    return task


@control.get("/health")
def health() -> ResponseReturnValue:
    """Liveness."""
    return {"ok": True}


@control.get("/clock")
def clock_get() -> ResponseReturnValue:
    """The clock's mode, speed and fake time."""
    clock = backend().clock
    return {"mode": clock.mode, "speed": clock.speed, "now": clock.now()}


@control.post("/clock")
def clock_set() -> ResponseReturnValue:
    """Switch mode (``realtime``, ``manual``, ``instant``) and/or speed."""
    body = _body()
    clock = backend().clock
    speed = _number(body, "speed") if "speed" in body else None
    clock.set_mode(body.get("mode", clock.mode), speed)
    backend().pump()
    return clock_get()


@control.post("/clock/advance")
def clock_advance() -> ResponseReturnValue:
    """Advance fake time by ``seconds`` and apply everything due."""
    now = backend().advance(_number(_body(), "seconds"))
    return {"now": now, "mode": backend().clock.mode}


@control.get("/projects")
def projects_list() -> ResponseReturnValue:
    """Every project."""
    return {"projects": [project_json(p) for p in backend().projects()]}


@control.post("/projects")
def projects_create() -> ResponseReturnValue:
    """Create a project: ``api_key``, ``api_secret``, ``auth``, ``balance``, ``name``."""
    body = _body()
    project = backend().create_project(
        _string(body, "api_key") or None,
        _string(body, "api_secret") or None,
        # the backend checks the value (a ValidationError, answered 400)
        auth_mode=cast(AuthMode, _string(body, "auth", "signature")),
        balance=_money(body["balance"], "balance") if "balance" in body else Decimal("100"),
        name=_string(body, "name"),
    )
    return project_json(project), 201


@control.post("/projects/<api_key>/balance")
def projects_balance(api_key: str) -> ResponseReturnValue:
    """Set a project's balance."""
    b = backend()
    project = next((p for p in b.projects() if p.api_key == api_key), None)
    if project is None:
        raise ControlError(f"no project with API key {api_key!r}", 404)
    b.set_balance(project, _money(_body().get("balance"), "balance"))
    return project_json(project)


@control.get("/tasks")
def tasks_list() -> ResponseReturnValue:
    """Every task of every project."""
    return {"tasks": [_task_json(t) for t in backend().all_tasks()]}


@control.get("/tasks/<task_id>")
def task_get(task_id: str) -> ResponseReturnValue:
    """One task, with every frame it produced."""
    backend().pump()
    return _task_json(_task(task_id))


@control.post("/tasks/<task_id>/wait")
def task_wait(task_id: str) -> ResponseReturnValue:
    """Block until the task reaches ``status`` (a name, a list, or ``terminal``), at most
    ``timeout`` seconds (default 30)."""
    body = _body()
    task = _task(task_id)
    wanted = body.get("status", "terminal")
    if not (
        isinstance(wanted, str)
        or (isinstance(wanted, list) and all(isinstance(s, str) for s in wanted))
    ):
        raise ControlError(f"'status' must be a string or a list of strings; got {wanted!r}")
    statuses = None if wanted == "terminal" else [wanted] if isinstance(wanted, str) else wanted
    timeout = _timeout(body)
    reached = backend().wait_for(task, statuses, timeout=timeout)
    return {"reached": reached, "status": task.status}


@control.get("/callbacks")
def callbacks_list() -> ResponseReturnValue:
    """Every callback delivery with every attempt (``?task=<id>`` for one task's)."""
    callbacks: CallbackDispatcher = current_app.extensions["mock_wiro_callbacks"]
    task_id = request.args.get("task")
    deliveries = callbacks.deliveries()
    if task_id is not None:
        deliveries = [d for d in deliveries if d.task_id == task_id]
    return {"callbacks": [d.to_json() for d in deliveries]}


@control.post("/callbacks/<task_id>/wait")
def callbacks_wait(task_id: str) -> ResponseReturnValue:
    """Block until the task's callback is final (``attempts``: or has that many)."""
    body = _body()
    callbacks: CallbackDispatcher = current_app.extensions["mock_wiro_callbacks"]
    attempts = int(_number(body, "attempts")) if "attempts" in body else None
    timeout = _timeout(body)
    reached = callbacks.wait_for(task_id, attempts=attempts, timeout=timeout)
    delivery = callbacks.delivery(task_id)
    return {"reached": reached, "callback": delivery.to_json() if delivery else None}


@control.get("/journal")
def journal_list() -> ResponseReturnValue:
    """The journal, filtered by ``kind``, ``task``, ``path`` (substring) and ``since`` (seq)."""
    args = request.args
    try:
        since = int(args.get("since", "0"))
    except ValueError:
        raise ControlError(f"'since' must be an integer; got {args.get('since')!r}") from None
    journal = backend().journal
    entries = journal.entries(
        args.get("kind") or None, since=since, task=args.get("task"), path=args.get("path")
    )
    return {"last_seq": journal.last_seq, "entries": [e.to_json() for e in entries]}


@control.post("/reset")
def reset() -> ResponseReturnValue:
    """Forget every task, file and folder; projects stay."""
    backend().reset()
    return {"ok": True}
