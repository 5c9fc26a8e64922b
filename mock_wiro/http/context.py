"""The one per-request object: what the hooks of one request tell each other.

Stored in ``flask.g`` under one key and read through :func:`request_state`, instead of
loose ``g.*`` attributes. The backend a ``/v1`` handler serves is read through
:func:`current_backend` (the one ``app.extensions`` key of the HTTP side, set by
:func:`mock_wiro.app.create_app`).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, request
from werkzeug import Request

from ..engine.backend import Backend
from ..engine.journal import ENTRY_TEXT_CHARS, Journal, mask_headers

__all__ = ["BACKEND_EXTENSION", "RequestState", "current_backend", "record_bug", "request_state"]

BACKEND_EXTENSION = "mock_wiro.backend"
"""Where an app keeps the backend its ``/v1`` routes serve, in ``app.extensions``."""


def current_backend() -> Backend:
    """The backend of the app handling this request."""
    found = current_app.extensions[BACKEND_EXTENSION]
    assert isinstance(found, Backend), "not a mock-wiro app"
    return found


@dataclass
class RequestState:
    """What one request's hooks and handlers share."""

    journal_extra: dict[str, Any] = field(default_factory=dict)
    """Added to the request's own journal entry (an HTTP fault's mark, its task)."""
    fault_answered: bool = False
    """An HTTP fault answered before the handler: none applies after it."""
    fault_fired: bool = False
    """An HTTP fault applied to this request (in either phase)."""
    control_body: dict[str, Any] = field(default_factory=dict)
    """A ``/_mock`` request's JSON body, checked and parsed before its handler."""
    fields: dict[str, str] | None = None
    """A ``/v1`` request's form fields, for the journal."""
    files: dict[str, str] = field(default_factory=dict)
    """Its uploaded files' names, by field."""


def request_state() -> RequestState:
    """This request's state (made on first use)."""
    state = g.get("mock_wiro_request")
    if not isinstance(state, RequestState):
        state = RequestState()
        g.mock_wiro_request = state
    return state


def record_bug(journal: Journal, exc: BaseException, req: Request | None = None) -> None:
    """Journal a bug (an exception outside the package's hierarchy) as an ``error``
    entry: its traceback and the method, path and (masked) headers of ``req`` (by
    default Flask's request)."""
    if req is None:
        req = request
    journal.record(
        "error",
        method=req.method,
        path=req.path[:ENTRY_TEXT_CHARS],
        headers=mask_headers(req.headers.items()),
        error=repr(exc),
        traceback="".join(traceback.format_exception(exc)),
    )
