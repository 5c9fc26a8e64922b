"""``/_mock`` endpoints for tasks: list, read, wait, and steering one task (push, hold,
release); and callback deliveries.

- ``GET /_mock/tasks``, ``GET /_mock/tasks/<id>``;
  ``POST /_mock/tasks/<id>/wait {"status": ..., "timeout": ...}``.
- ``POST /_mock/tasks/<id>/push {"stage": "task_start"}``: apply every step up to and
  including that stage now; ``POST /_mock/tasks/<id>/hold {"stage": ...}``: stop before
  it; ``POST /_mock/tasks/<id>/release``: go on.
- ``POST /_mock/tasks/<id>/cancel``, ``POST /_mock/tasks/<id>/kill``: Task/Cancel and
  Task/Kill for the task's own project (the engine's same checks: 409 when its state
  refuses), as the dashboard's buttons send them.
- ``GET /_mock/callbacks`` (``?task=<id>``), ``POST /_mock/callbacks/<id>/wait``.

A child of the parent control blueprint (:mod:`.blueprint`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from ..chaos import spec
from ..engine.admission import TaskRef
from ..engine.models import Task
from ..errors import ControlError, WiroError
from .base import _task_json, events_json
from .blueprint import WAIT_MAX_SECONDS, body, number, task, timeout
from .fake import current_fake

__all__ = ["tasks"]

tasks = Blueprint("tasks", __name__)


def _stage(given: dict[str, Any]) -> str:
    stage = given.get("stage")
    if not isinstance(stage, str) or not stage:
        raise ControlError(f"'stage' must be a lifecycle stage name; got {stage!r}")
    return stage


def _task_state(found: Task) -> dict[str, Any]:
    return {
        "taskid": found.id,
        "status": found.status,
        "held_at": found.hold_at,
        "events": events_json(found),
    }


def _steer(
    task_id: str, given: dict[str, Any], action: Callable[[Task, str], object]
) -> dict[str, Any]:
    """Apply a steering ``action`` (push, hold) to a task at the body's ``stage``: the
    task's state after it. One its state refuses is 409 (a bad stage: 400)."""
    found = task(task_id)
    stage = _stage(given)
    try:
        action(found, stage)
    except WiroError as exc:
        raise ControlError(exc.message, 409 if exc.code else 400) from None
    return _task_state(found)


@tasks.get("/tasks")
def tasks_list() -> ResponseReturnValue:
    """Every task of every project."""
    return {"tasks": [_task_json(t) for t in current_fake().backend.all_tasks()]}


@tasks.get("/tasks/<task_id>")
def task_get(task_id: str) -> ResponseReturnValue:
    """One task, with every frame it produced."""
    current_fake().backend.pump()
    return _task_json(task(task_id))


@tasks.post("/tasks/<task_id>/wait")
def task_wait(task_id: str) -> ResponseReturnValue:
    """Block until the task reaches ``status`` (a name, a list, or ``terminal``), at most
    ``timeout`` seconds (default 30)."""
    given = body()
    found = task(task_id)
    wanted = given.get("status", "terminal")
    if not (
        isinstance(wanted, str)
        or (isinstance(wanted, list) and all(isinstance(s, str) for s in wanted))
    ):
        raise ControlError(f"'status' must be a string or a list of strings; got {wanted!r}")
    statuses = None if wanted == "terminal" else [wanted] if isinstance(wanted, str) else wanted
    seconds = timeout(given)
    reached = current_fake().backend.wait_for(found, statuses, timeout=seconds)
    return {"reached": reached, "status": found.status}


@tasks.post("/tasks/<task_id>/push")
def task_push(task_id: str) -> ResponseReturnValue:
    """Apply every step up to and including ``stage`` now (fake-clock timestamps)."""
    given = body()
    seconds = spec.number(given.get("timeout", 30), "'timeout'", text=True)
    if not 0 <= seconds <= WAIT_MAX_SECONDS:
        raise ControlError(f"'timeout' must be between 0 and {WAIT_MAX_SECONDS:g} seconds")
    return _steer(
        task_id, given, lambda t, stage: current_fake().backend.push(t, stage, timeout=seconds)
    )


@tasks.post("/tasks/<task_id>/hold")
def task_hold(task_id: str) -> ResponseReturnValue:
    """Stop the task just before its next ``stage`` step until released."""
    return _steer(task_id, body(), current_fake().backend.hold)


@tasks.post("/tasks/<task_id>/release")
def task_release(task_id: str) -> ResponseReturnValue:
    """Let a held task go on; ``released`` names the stage it was held at (or null)."""
    found = task(task_id)
    released = current_fake().backend.release(found)
    return _task_state(found) | {"released": released}


def _stop(task_id: str, kill: bool) -> dict[str, Any]:
    """Task/Cancel (or Task/Kill) of a task, as its own project would send it."""
    found = task(task_id)
    backend = current_fake().backend
    project = next((p for p in backend.projects() if p.id == found.project_id), None)
    if project is None:  # pragma: no cover - a task's project is never deleted
        raise ControlError(f"no project {found.project_id!r}", 404)
    action = backend.kill if kill else backend.cancel
    try:
        action(project, TaskRef(taskid=found.id))
    except WiroError as exc:
        raise ControlError(exc.message, 409) from None
    return _task_state(found)


@tasks.post("/tasks/<task_id>/cancel")
def task_cancel(task_id: str) -> ResponseReturnValue:
    """Task/Cancel: a task still in the queue ends at ``task_cancel`` (else 409)."""
    return _stop(task_id, kill=False)


@tasks.post("/tasks/<task_id>/kill")
def task_kill(task_id: str) -> ResponseReturnValue:
    """Task/Kill: an unfinished task ends at ``task_cancel`` (else 409)."""
    return _stop(task_id, kill=True)


@tasks.get("/callbacks")
def callbacks_list() -> ResponseReturnValue:
    """Every callback delivery with every attempt (``?task=<id>`` for one task's)."""
    task_id = request.args.get("task")
    deliveries = current_fake().callbacks.deliveries()
    if task_id is not None:
        deliveries = [d for d in deliveries if d.task_id == task_id]
    return {"callbacks": [d.to_json() for d in deliveries]}


@tasks.post("/callbacks/<task_id>/wait")
def callbacks_wait(task_id: str) -> ResponseReturnValue:
    """Block until the task's callback is final (``attempts``: or has that many)."""
    given = body()
    callbacks = current_fake().callbacks
    attempts = int(number(given, "attempts")) if "attempts" in given else None
    seconds = timeout(given)
    reached = callbacks.wait_for(task_id, attempts=attempts, timeout=seconds)
    delivery = callbacks.delivery(task_id)
    return {"reached": reached, "callback": delivery.to_json() if delivery else None}
