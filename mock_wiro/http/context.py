"""The one per-request object: what the hooks of one request tell each other.

Stored in ``flask.g`` under one key and read through :func:`request_state`, instead of
loose ``g.*`` attributes. (:mod:`mock_wiro.http.routes` still writes the parsed form
fields as ``g.mock_wiro_fields`` / ``g.mock_wiro_files``; :func:`request_state` picks
them up until it sets :attr:`RequestState.fields` itself.)
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from flask import g, request

from ..engine.journal import Journal, mask_headers

__all__ = ["RequestState", "record_bug", "request_state"]


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
    if state.fields is None and "mock_wiro_fields" in g:  # written by routes.py
        state.fields = g.mock_wiro_fields
        state.files = g.get("mock_wiro_files", {})
    return state


def record_bug(journal: Journal, exc: BaseException) -> None:
    """Journal a bug (an exception outside the package's hierarchy) as an ``error``
    entry: its traceback and the request's method, path and (masked) headers."""
    journal.record(
        "error",
        method=request.method,
        path=request.path,
        headers=mask_headers(request.headers.items()),
        error=repr(exc),
        traceback="".join(traceback.format_exception(exc)),
    )
