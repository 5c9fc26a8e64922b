"""The control surface, outside ``/v1``: ``/_mock/...``, JSON, no credentials.

One parent blueprint, :data:`control`, carries what every control endpoint shares, and
the endpoints are its nested children (:func:`control_blueprint`):

- :mod:`.base`: health, clock, projects, journal, reset;
- :mod:`.tasks`: tasks and task steering (wait, push, hold, release), callbacks;
- :mod:`.scenarios`: scenarios; :mod:`.faults`: HTTP faults;
  :mod:`.push_faults`: socket and callback faults.

What they share:

- **The guard** (:mod:`.guard`), before anything else: a task's callback, a cross-site
  request, a remote peer without an admin token, or a rebound host name is refused 403.
- **The admin token.** Bind the fake to loopback, or set ``Settings.admin_token``:
  then every ``/_mock`` request must send ``X-Admin-Token``
  (:func:`require_admin_token`, an app-wide hook carried by this blueprint, so that
  every path under ``/_mock``, ``//_mock`` and a 404 there too, is covered).
- **The body rule.** A POST may carry no body at all, or a JSON object sent as
  ``Content-Type: application/json`` (at most ``MAX_JSON_BODY_BYTES``). Any other
  content type is refused (415), even with an empty body: a web page can send
  ``text/plain``, form-encoded or multipart POSTs across sites without a CORS
  preflight, and must not be able to reset or advance the fake.
- **The errors**, turned into the wire here and only here: a
  :class:`~mock_wiro.errors.ControlError` with its status, a
  :class:`~mock_wiro.errors.SpecError` or a :class:`~mock_wiro.errors.WiroError`
  400, all as ``{"error": message}``; anything else is a bug: 500, with its
  traceback in the journal (``kind: "error"``).
- **The helpers**: :func:`body`, :func:`task`, :func:`timeout`, :func:`number`.
"""

from __future__ import annotations

import hmac
import json
import logging
from decimal import Decimal
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..chaos import spec
from ..engine.models import Task
from ..errors import ControlError, SpecError, WiroError
from ..http.context import record_bug, request_state
from ..http.routes import read_small_body
from .fake import current_fake
from .guard import guard_control

__all__ = [
    "ADMIN_TOKEN_ERROR",
    "ADMIN_TOKEN_HEADER",
    "WAIT_MAX_SECONDS",
    "body",
    "control",
    "control_blueprint",
    "is_dashboard_shell",
    "number",
    "require_admin_token",
    "task",
    "timeout",
]

log = logging.getLogger("mock_wiro")

control = Blueprint("mock", __name__, url_prefix="/_mock")
"""The parent of every ``/_mock`` blueprint."""

ADMIN_TOKEN_HEADER = "X-Admin-Token"
"""The header that carries ``Settings.admin_token`` on ``/_mock`` requests."""
ADMIN_TOKEN_ERROR = "admin token required: send X-Admin-Token"
WAIT_MAX_SECONDS = 300.0
"""The longest ``timeout`` a ``.../wait`` or ``.../push`` endpoint accepts."""
DASHBOARD_STATIC_PREFIX = "/_mock/dashboard/static/"
"""Where the dashboard's CSS and JS are served."""
_JSON_ONLY = "control requests take a JSON body sent as Content-Type: application/json"


# ------------------------------------------------------------------ the shared rules
# first: the guard's refusals come before the token's 401 (and are journalled)
control.before_app_request(guard_control)


def is_dashboard_shell(method: str, path: str) -> bool:
    """Whether a request is for the dashboard's static page (:mod:`.dashboard`): served
    without the admin token, since it holds no secret and asks for the token itself."""
    return method in ("GET", "HEAD") and (
        path in ("/_mock", "/_mock/") or path.startswith(DASHBOARD_STATIC_PREFIX)
    )


@control.before_app_request
def require_admin_token() -> ResponseReturnValue | None:
    """For the whole app: when the fake's settings have an ``admin_token``, a request to
    a path under ``/_mock`` without that exact token in ``X-Admin-Token`` (compared in
    constant time) is answered 401. Other paths pass."""
    if not request.path.lstrip("/").startswith("_mock"):  # "//_mock/..." too
        return None
    if is_dashboard_shell(
        request.method, request.path
    ):  # the dashboard's page: it asks for the token
        return None
    token = current_fake().settings.admin_token
    if not token:
        return None
    given = request.headers.get(ADMIN_TOKEN_HEADER, "")
    # werkzeug decodes header bytes as latin-1: back to the bytes the client sent
    if hmac.compare_digest(given.encode("latin-1", "replace"), token.encode("utf-8")):
        return None
    return jsonify({"error": ADMIN_TOKEN_ERROR}), 401


@control.before_request
def _read_body() -> None:
    """Check and parse every request's body before its handler runs (see the module doc)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype and not request.is_json:
        raise ControlError(f"{_JSON_ONLY}; got Content-Type {request.mimetype!r}", 415)
    raw = read_small_body()
    if not raw:
        request_state().control_body = {}
        return
    if not request.mimetype:
        raise ControlError(f"{_JSON_ONLY}; got a body without a Content-Type", 415)
    try:
        # Decimal, not float: a balance is kept exactly as written
        parsed = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise ControlError("the body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ControlError("the body must be a JSON object")
    request_state().control_body = parsed


# ------------------------------------------------------------------ errors: the one place
def _error(message: str, status: int) -> ResponseReturnValue:
    return jsonify({"error": message}), status


@control.errorhandler(ControlError)
def _control_error(exc: ControlError) -> ResponseReturnValue:
    return _error(exc.message, exc.status)


@control.errorhandler(SpecError)
def _spec_error(exc: SpecError) -> ResponseReturnValue:
    return _error(exc.message, 400)


@control.errorhandler(WiroError)
def _wiro_error(exc: WiroError) -> ResponseReturnValue:
    return _error(exc.message, 400)


@control.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    response = jsonify({"error": exc.description})
    response.status_code = 413
    response.headers["Connection"] = "close"
    return response


@control.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    return _error(exc.description or exc.name, exc.code or 500)


@control.errorhandler(Exception)
def _bug(exc: Exception) -> ResponseReturnValue:
    """Not one of the package's errors: a bug. 500, and the traceback in the journal."""
    log.exception("mock-wiro control error")
    record_bug(current_fake().backend.journal, exc)
    return _error(f"internal error: {exc!r}", 500)


# ------------------------------------------------------------------ helpers
def body() -> dict[str, Any]:
    """This request's JSON body (``{}`` if it had none)."""
    return request_state().control_body


def task(task_id: str) -> Task:
    """A task by id, or 404."""
    found = current_fake().backend.task_by_id(task_id)
    if found is None:
        raise ControlError(f"no task {task_id!r}", 404)
    return found


def number(given: dict[str, Any], name: str) -> float:
    """A finite number (a numeric string too)."""
    return spec.number(given.get(name), spec.field(name), text=True)


def timeout(given: dict[str, Any]) -> float:
    """``timeout``: from 0 to :data:`WAIT_MAX_SECONDS` (default 30)."""
    seconds = number(given, "timeout") if "timeout" in given else 30.0
    if not 0 <= seconds <= WAIT_MAX_SECONDS:
        raise ControlError(
            f"'timeout' must be between 0 and {WAIT_MAX_SECONDS:g} seconds; got {seconds!r}"
        )
    return seconds


def string(given: dict[str, Any], name: str, default: str = "") -> str:
    """A string field (``default`` when absent)."""
    found = spec.optional_string(given.get(name), spec.field(name))
    return default if found is None else found


def control_blueprint() -> Blueprint:
    """The parent with every child registered (once; Flask then registers the children
    on each app the parent is registered on)."""
    global _assembled
    if not _assembled:
        from . import base, faults, push_faults, scenarios, tasks
        from .dashboard import dashboard

        for child in (base.state, tasks.tasks, scenarios.scenarios, faults.faults_bp):
            control.register_blueprint(child)
        control.register_blueprint(push_faults.push_faults_bp)
        control.register_blueprint(dashboard)
        _assembled = True
    return control


_assembled = False
