"""``/_mock`` endpoints for the fake's state: health, clock, projects, journal, reset.

A child of the parent control blueprint (:mod:`.blueprint`: the admin token, the body
rule and the error answers). The names other modules imported from here before the
control surface had one parent keep working.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, cast

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from ..engine.models import Project, Task
from ..engine.snapshot import SNAPSHOT_MEDIA_TYPE
from ..errors import ControlError
from ..http.wire import task_detail
from ..settings import AuthMode
from .blueprint import (
    ADMIN_TOKEN_ERROR,
    ADMIN_TOKEN_HEADER,
    WAIT_MAX_SECONDS,
    body,
    control,
    number,
    require_admin_token,
    string,
)
from .fake import current_fake

__all__ = [
    "ADMIN_TOKEN_ERROR",
    "ADMIN_TOKEN_HEADER",
    "WAIT_MAX_SECONDS",
    "ControlError",
    "control",
    "project_json",
    "require_admin_token",
    "state",
]

state = Blueprint("state", __name__)

_BALANCE_MAX = Decimal("1e15")
"""Balances are bounded in magnitude so that formatting one stays cheap."""


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
    b = current_fake().backend
    with b.state_lock:
        detail = task_detail(task, b.files.url_for)
    return {
        **detail,
        "events": events_json(task),
    }


def events_json(task: Task) -> list[dict[str, Any]]:
    """Every frame the task produced, as the control surface shows it."""
    return [{"type": e.type, "time": e.time, "message": e.message} for e in task.events]


@state.get("/health")
def health() -> ResponseReturnValue:
    """Liveness."""
    return {"ok": True}


@state.get("/clock")
def clock_get() -> ResponseReturnValue:
    """The clock's mode, speed and fake time."""
    clock = current_fake().backend.clock
    return {"mode": clock.mode, "speed": clock.speed, "now": clock.now()}


@state.post("/clock")
def clock_set() -> ResponseReturnValue:
    """Switch mode (``realtime``, ``manual``, ``instant``) and/or speed."""
    given = body()
    backend = current_fake().backend
    speed = number(given, "speed") if "speed" in given else None
    try:  # the clock checks the mode and the speed (a ValueError naming them)
        backend.clock.set_mode(given.get("mode", backend.clock.mode), speed)
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    backend.pump()
    return clock_get()


@state.post("/clock/advance")
def clock_advance() -> ResponseReturnValue:
    """Advance fake time by ``seconds`` and apply everything due."""
    backend = current_fake().backend
    seconds = number(body(), "seconds")
    try:  # the clock refuses an advance that overflows it (a ValueError)
        now = backend.advance(seconds)
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return {"now": now, "mode": backend.clock.mode}


@state.get("/projects")
def projects_list() -> ResponseReturnValue:
    """Every project."""
    return {"projects": [project_json(p) for p in current_fake().backend.projects()]}


@state.post("/projects")
def projects_create() -> ResponseReturnValue:
    """Create a project: ``api_key``, ``api_secret``, ``auth``, ``balance``, ``name``."""
    given = body()
    project = current_fake().backend.create_project(
        string(given, "api_key") or None,
        string(given, "api_secret") or None,
        # the backend checks the value (a ValidationError, answered 400)
        auth_mode=cast(AuthMode, string(given, "auth", "signature")),
        balance=_money(given["balance"], "balance") if "balance" in given else Decimal("100"),
        name=string(given, "name"),
    )
    return project_json(project), 201


@state.post("/projects/<api_key>/balance")
def projects_balance(api_key: str) -> ResponseReturnValue:
    """Set a project's balance."""
    backend = current_fake().backend
    project = next((p for p in backend.projects() if p.api_key == api_key), None)
    if project is None:
        raise ControlError(f"no project with API key {api_key!r}", 404)
    backend.set_balance(project, _money(body().get("balance"), "balance"))
    return project_json(project)


@state.get("/journal")
def journal_list() -> ResponseReturnValue:
    """The journal, filtered by ``kind``, ``task``, ``path`` (substring) and ``since`` (seq)."""
    args = request.args
    try:
        since = int(args.get("since", "0"))
    except ValueError:
        raise ControlError(f"'since' must be an integer; got {args.get('since')!r}") from None
    journal = current_fake().backend.journal
    entries = journal.entries(
        args.get("kind") or None, since=since, task=args.get("task"), path=args.get("path")
    )
    return {"last_seq": journal.last_seq, "entries": [e.to_json() for e in entries]}


@state.post("/snapshot")
def snapshot() -> ResponseReturnValue:
    """The whole state as a snapshot file (``mock-wiro snapshot save`` fetches this;
    ``mock-wiro serve --load FILE`` starts from it)."""
    data = current_fake().backend.snapshot()
    response = Response(data, mimetype=SNAPSHOT_MEDIA_TYPE)
    response.headers["Content-Disposition"] = 'attachment; filename="mock-wiro.snapshot"'
    response.headers["Cache-Control"] = "no-store"
    return response


@state.post("/reset")
def reset() -> ResponseReturnValue:
    """Forget every task, file, folder, callback delivery, scenario and fault rule;
    projects stay (:meth:`mock_wiro.control.fake.Fake.reset`)."""
    current_fake().reset()
    return {"ok": True}
