"""Control endpoints for scenarios and for steering one task (JSON, under ``/_mock``).

- ``POST /_mock/scenarios`` (a scenario, see :mod:`mock_wiro.chaos.scenarios`) → 201 with it;
  ``GET /_mock/scenarios`` → ``{"scenarios": [... with "remaining"]}``;
  ``DELETE /_mock/scenarios`` or ``POST /_mock/scenarios/clear`` → forget them all;
  ``DELETE /_mock/scenarios/<id>`` → forget one.
- ``POST /_mock/tasks/<id>/push {"stage": "task_start"}``: apply every step up to and
  including that stage now; ``POST /_mock/tasks/<id>/hold {"stage": ...}``: stop before
  it; ``POST /_mock/tasks/<id>/release``: go on.

Bodies follow the control surface's rules (:func:`mock_wiro.control.base._read_body`).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from flask import Blueprint, g
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from ..chaos.scenarios import ScenarioBook
from ..engine.models import Task
from ..errors import WiroError
from ..http.routes import backend
from .base import (
    WAIT_MAX_SECONDS,
    ControlError,
    _control_error,
    _read_body,
    _too_large,
    _value_error,
    _wiro_error,
)

__all__ = ["scenario_control"]


def _book() -> ScenarioBook:
    book = backend().scenarios
    assert isinstance(book, ScenarioBook), "this fake was built without a scenario book"
    return book


scenario_control = Blueprint("mock_scenarios", __name__, url_prefix="/_mock")
scenario_control.before_request(_read_body)
scenario_control.register_error_handler(ControlError, _control_error)
scenario_control.register_error_handler(WiroError, _wiro_error)
scenario_control.register_error_handler(ValueError, _value_error)
scenario_control.register_error_handler(RequestEntityTooLarge, _too_large)


def _body() -> dict[str, Any]:
    body: dict[str, Any] = g.control_body
    return body


def _task(task_id: str) -> Task:
    task = backend().task_by_id(task_id)
    if task is None:
        raise ControlError(f"no task {task_id!r}", 404)
    return task


def _stage(body: dict[str, Any]) -> str:
    stage = body.get("stage")
    if not isinstance(stage, str) or not stage:
        raise ControlError(f"'stage' must be a lifecycle stage name; got {stage!r}")
    return stage


def _task_state(task: Task) -> dict[str, Any]:
    return {
        "taskid": task.id,
        "status": task.status,
        "held_at": task.hold_at,
        "events": [{"type": e.type, "time": e.time, "message": e.message} for e in task.events],
    }


@scenario_control.post("/scenarios")
def scenarios_add() -> ResponseReturnValue:
    """Add a scenario (an existing one with the same ``id`` is replaced)."""
    scenario = _book().add(_body())
    return scenario.to_json() | {"remaining": scenario.times}, 201


@scenario_control.get("/scenarios")
def scenarios_list() -> ResponseReturnValue:
    """Every scenario, in matching order, with what is left of its ``times``."""
    return {"scenarios": _book().to_json()}


@scenario_control.delete("/scenarios")
@scenario_control.post("/scenarios/clear")
def scenarios_clear() -> ResponseReturnValue:
    """Forget every scenario."""
    _book().clear()
    return {"ok": True}


@scenario_control.delete("/scenarios/<scenario_id>")
def scenarios_remove(scenario_id: str) -> ResponseReturnValue:
    """Forget one scenario."""
    if not _book().remove(scenario_id):
        raise ControlError(f"no scenario {scenario_id!r}", 404)
    return {"ok": True}


@scenario_control.post("/tasks/<task_id>/push")
def task_push(task_id: str) -> ResponseReturnValue:
    """Apply every step up to and including ``stage`` now (fake-clock timestamps)."""
    body = _body()
    timeout = body.get("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float | Decimal | str):
        raise ControlError(f"'timeout' must be a number; got {timeout!r}")
    try:
        seconds = float(timeout)
    except ValueError:
        raise ControlError(f"'timeout' must be a number; got {timeout!r}") from None
    if not (math.isfinite(seconds) and 0 <= seconds <= WAIT_MAX_SECONDS):
        raise ControlError(f"'timeout' must be between 0 and {WAIT_MAX_SECONDS:g} seconds")
    task = _task(task_id)
    stage = _stage(body)
    try:
        backend().push(task, stage, timeout=seconds)
    except WiroError as exc:
        raise ControlError(exc.message, 409 if exc.code else 400) from None
    return _task_state(task)


@scenario_control.post("/tasks/<task_id>/hold")
def task_hold(task_id: str) -> ResponseReturnValue:
    """Stop the task just before its next ``stage`` step until released."""
    task = _task(task_id)
    stage = _stage(_body())
    try:
        backend().hold(task, stage)
    except WiroError as exc:
        raise ControlError(exc.message, 409 if exc.code else 400) from None
    return _task_state(task)


@scenario_control.post("/tasks/<task_id>/release")
def task_release(task_id: str) -> ResponseReturnValue:
    """Let a held task go on; ``released`` names the stage it was held at (or null)."""
    task = _task(task_id)
    released = backend().release(task)
    return _task_state(task) | {"released": released}
