"""The dashboard: a live page at ``GET /_mock/`` over the control surface.

A child of the parent ``/_mock`` blueprint (:mod:`..blueprint`), so every rule of the
control surface holds for it as for the JSON endpoints: the guard (callback mark,
cross-site refusal, loopback peer, trusted ``Host``), the admin token, the body rule,
the error answers. The page itself is static (``static/``: HTML, CSS and vanilla JS,
no build step, no CDN) and holds no secret, so its shell (``GET /_mock/`` and
``GET /_mock/dashboard/static/...``) is the one part of ``/_mock`` served without the
admin token: off loopback the page asks for the token, keeps it in
``sessionStorage`` and sends it as ``X-Admin-Token`` on every call, never in a URL.
The shell forbids framing (``frame-ancestors 'none'``), so a foreign page can't
overlay the dashboard's buttons either.

Every action on the page is a ``/_mock`` JSON call (the same handler as a test's), sent
with ``X-Mock-Wiro-Client: dashboard``; those are journalled as kind ``control``
(method, path, body fields, status). What the page reads beyond the existing
endpoints:

- ``GET /_mock/dashboard/info``: version, clock, stages, the 96/97 thresholds;
- ``GET /_mock/dashboard/tasks?project=&status=&page=&size=``: one page of task rows,
  newest first, with the total (so 1,000 tasks cost one page of rows);
- ``GET /_mock/dashboard/projects``: projects with balance, concurrency limit, tasks;
- ``GET /_mock/dashboard/events``: the live feed (server-sent events, :mod:`.feed`).
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Any

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from ..._version import __version__
from ...engine.admission import concurrency_limit
from ...engine.journal import ENTRY_FIELD_CHARS, ENTRY_MAX_FIELDS, ENTRY_TEXT_CHARS, clip_pairs
from ...engine.lifecycle import HOLDABLE_STAGES, LIFECYCLE, TERMINAL_STATUSES
from ...engine.models import Task
from ...errors import ControlError
from ...settings import (
    CONCURRENCY_RATE,
    CONCURRENCY_UNLIMITED_ABOVE_USD,
    MINIMUM_BALANCE_USD,
)
from ..base import project_json
from ..blueprint import body
from ..fake import current_fake
from ..guard import SAFE_METHODS
from .feed import FeedFull, existing_feed, feed_of

__all__ = [
    "CLIENT_HEADER",
    "PAGE_SIZE_MAX",
    "SHELL_HEADERS",
    "dashboard",
    "task_row",
]

dashboard = Blueprint(
    "dashboard", __name__, static_folder="static", static_url_path="/dashboard/static"
)

CLIENT_HEADER = "X-Mock-Wiro-Client"
"""Sent as ``dashboard`` by the page: its state-changing calls are journalled."""
PAGE_SIZE_MAX = 200
"""Rows one ``/_mock/dashboard/tasks`` page holds at most (default 50)."""
SHELL_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self' http: https:; "
        "style-src 'self'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
"""The page's headers: its own scripts only, never in a frame, no referrer. Videos may
come from elsewhere: an output's URL is built on ``--public-url``, which may name
another origin than the one the page was opened at."""


@dashboard.after_request
def _shell_headers(response: Response) -> Response:
    for name, value in SHELL_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@dashboard.get("/")
def page() -> ResponseReturnValue:
    """The dashboard's HTML."""
    html = resources.files(__name__).joinpath("static", "index.html").read_bytes()
    return Response(html, mimetype="text/html")


# ------------------------------------------------------------------ rows
def _progress(task: Task, events: list[Any]) -> int:
    if task.status == "task_postprocess_end" and not task.failure:
        return 100
    for event in reversed(events):
        message = event.message
        if isinstance(message, dict) and message.get("type") == "progressGenerate":
            try:
                return int(message.get("percentage", "0"))
            except ValueError:
                return 0
    return 0


def _outcome(task: Task) -> str:
    if task.status == "task_cancel":
        return "killed" if task.pexit not in ("0", "") else "cancelled"
    if task.status in TERMINAL_STATUSES:
        return "failed" if task.pexit != "0" or task.failure else "succeeded"
    if task.hold_at:
        return "held"
    return "running"


def task_row(task: Task, now: float) -> dict[str, Any]:
    """One row of the tasks table: id, project, status, progress, created, elapsed, cost."""
    _, _, history = task.snapshot()
    times = history.times
    created = times.get("createtime")
    if created is not None and not task.terminal:  # still running: up to the clock's now
        elapsed = max(0.0, now - created)
    else:
        elapsed = float(task.elapsed)
    return {
        "id": task.id,
        "project": task.project_id,
        "status": task.status,
        "outcome": _outcome(task),
        "held_at": task.hold_at,
        "progress": _progress(task, history.events),
        "created": created,
        "elapsed": round(elapsed, 3),
        "cost": f"{task.totalcost:.4f}".rstrip("0").rstrip(".") if task.totalcost else "0",
        "frames": len(history.events),
    }


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ControlError(f"{name!r} must be an integer; got {raw!r}") from None
    if not low <= value <= high:
        raise ControlError(f"{name!r} must be between {low} and {high}; got {value}")
    return value


@dashboard.get("/dashboard/tasks")
def tasks_page() -> ResponseReturnValue:
    """One page of rows, newest first: ``project`` (id), ``status`` (a stage, ``active``,
    ``terminal``, or an outcome: ``succeeded``, ``failed``, ``cancelled``, ``killed``,
    ``held``), ``page`` (from 0), ``size`` (1 to :data:`PAGE_SIZE_MAX`, default 50)."""
    size = _int_arg("size", 50, 1, PAGE_SIZE_MAX)
    page_no = _int_arg("page", 0, 0, 10**9)
    project = request.args.get("project", "")
    status = request.args.get("status", "")
    backend = current_fake().backend
    with backend.state_lock:
        found = backend.all_tasks()
        projects = sorted({t.project_id for t in found})
        if project:
            found = [t for t in found if t.project_id == project]
        if status:
            found = [t for t in found if _status_matches(t, status)]
        found.reverse()
        now = backend.clock.now()
        rows = [task_row(t, now) for t in found[page_no * size : (page_no + 1) * size]]
    return {
        "total": len(found),
        "page": page_no,
        "size": size,
        "rows": rows,
        "projects": projects,
        "now": now,
    }


def _status_matches(task: Task, status: str) -> bool:
    if status == "active":
        return not task.terminal
    if status == "terminal":
        return task.terminal
    if status in LIFECYCLE:
        return task.status == status
    return _outcome(task) == status


@dashboard.get("/dashboard/info")
def info() -> ResponseReturnValue:
    """What the page needs once: version, clock, stages, thresholds, feed bounds."""
    from .feed import MAX_CLIENTS, MAX_DIRTY_TASKS

    fake = current_fake()
    clock = fake.backend.clock
    return {
        "version": __version__,
        "clock": {"mode": clock.mode, "speed": clock.speed, "now": clock.now()},
        "stages": list(LIFECYCLE),
        "holdable": list(HOLDABLE_STAGES),
        "thresholds": _thresholds(),
        "feed": {"max_clients": MAX_CLIENTS, "max_pending_tasks": MAX_DIRTY_TASKS},
        "admin_token": bool(fake.settings.admin_token),
    }


def _thresholds() -> dict[str, str]:
    return {
        "minimum_balance": f"{MINIMUM_BALANCE_USD:f}",
        "concurrency_rate": f"{CONCURRENCY_RATE:f}",
        "unlimited_above": f"{CONCURRENCY_UNLIMITED_ABOVE_USD:f}",
    }


@dashboard.get("/dashboard/projects")
def projects() -> ResponseReturnValue:
    """Every project with its balance, concurrency limit (code 96) and whether it is
    under the minimum balance (code 97), and its active and total tasks."""
    backend = current_fake().backend
    with backend.state_lock:
        counts: dict[str, list[int]] = {}
        for t in backend.all_tasks():
            count = counts.setdefault(t.project_id, [0, 0])
            count[0] += not t.terminal
            count[1] += 1
        out = []
        for p in backend.projects():
            limit = concurrency_limit(Decimal(p.balance))
            active, total = counts.get(p.id, [0, 0])
            out.append(
                project_json(p)
                | {
                    "concurrency_limit": limit,
                    "active": active,
                    "tasks": total,
                    "below_minimum": Decimal(p.balance) < MINIMUM_BALANCE_USD,
                    "at_limit": limit is not None and active >= limit,
                }
            )
    return {"projects": out, "thresholds": _thresholds()}


@dashboard.get("/dashboard/events")
def events() -> ResponseReturnValue:
    """The live feed (:mod:`.feed`): ``text/event-stream``; 503 past its client bound."""
    fake = current_fake()
    feed = feed_of(fake)
    try:
        client = feed.subscribe()
    except FeedFull as exc:
        raise ControlError(str(exc), 503) from None
    backend = fake.backend

    def row(task_id: str) -> dict[str, Any] | None:
        with backend.state_lock:
            found = backend.task_by_id(task_id)
            return None if found is None else task_row(found, backend.clock.now())

    response = Response(feed.stream(client, row), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


# ------------------------------------------------------------------ every control change
@dashboard.after_app_request
def _note_change(response: Response) -> Response:
    """A state-changing ``/_mock`` request: one the dashboard sent is journalled (kind
    ``control``, whatever its answer, but for the guard's and the token's refusals, which
    are journalled as ``refused`` or not at all); one that succeeded makes every open page
    refresh."""
    if request.method in SAFE_METHODS or not request.path.lstrip("/").startswith("_mock"):
        return response
    fake = current_fake()
    status = response.status_code
    if request.headers.get(CLIENT_HEADER) == "dashboard" and status not in (401, 403):
        parts = request.path.split("/")
        fields, _ = clip_pairs(
            ((str(k), str(v)) for k, v in body().items()),
            items=ENTRY_MAX_FIELDS,
            chars=ENTRY_FIELD_CHARS,
        )
        extra = {"task": parts[3]} if len(parts) > 4 and parts[2] == "tasks" else {}
        fake.backend.journal.record(
            "control",
            source="dashboard",
            method=request.method,
            path=request.path[:ENTRY_TEXT_CHARS],
            body=fields,
            status=status,
            **extra,
        )
    feed = existing_feed(fake)
    if feed is not None and status < 400:
        feed.touch()
    return response
