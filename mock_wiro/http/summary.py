"""A ``/v1`` request and its answer as one journal entry (kind ``request``).

Shared by the Flask path (``journal_request`` in :mod:`mock_wiro.app`) and the fast path
(:mod:`.fast`), so an entry reads the same whichever served the request.

The entry is deferred (:meth:`~mock_wiro.engine.journal.Journal.record_deferred`): what
the request leaves behind are its raw parts, already bounded (the header block as it
came, which the server bounds; the body fields and the answer clipped), and the masking
of secrets, the clipping of headers and the arranging into the entry's fields happen only
when somebody reads the journal. A load test that never reads it never pays for them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from werkzeug import Request
from werkzeug.datastructures import EnvironHeaders

from ..engine.journal import (
    ENTRY_FIELD_CHARS,
    ENTRY_MAX_FIELDS,
    ENTRY_TEXT_CHARS,
    Entry,
    Journal,
    clip_pairs,
    entry_size,
    masked_headers,
)
from .context import RequestState
from .limits import HEADERS_ENVIRON, header_environ

__all__ = ["record_request", "request_summary"]

_SLOT = 64  # as journal._SLOT: per dict item, beyond its key's and value's own size
_STR_OWN = max(sys.getsizeof(c) for c in ("a", "\xff", "\u0100", "\U0001f600"))
"""The most bytes a string holds beyond its characters, and then some (80 on CPython
3.11, for a one-character string of the widest kind)."""


def request_summary(
    *,
    method: str,
    path: str,
    mimetype: str,
    content_length: int | None,
    headers: dict[str, str],
    body: tuple[dict[str, str], dict[str, str], list[str]] | None,
    status: int,
    text: str | None,
    text_cut: bool,
    response_bytes: int | None,
    extra: Mapping[str, Any],
) -> dict[str, object]:
    """A request entry's fields, from the raw parts: secrets masked, every part bounded
    (``ENTRY_*`` in :mod:`mock_wiro.engine.journal`); ``truncated`` names the parts cut
    or left out, when any was. ``headers``: :func:`.limits.header_environ` of the request's
    environ; ``body``: the clipped fields and files, and the names of what was cut
    (None: the body was not read); ``text``: a JSON answer's text, clipped (``text_cut``:
    it was), else ``response_bytes``, the length of what was sent (None: unknown)."""
    truncated: list[str] = []
    summary_body: dict[str, object] = {
        "content_type": mimetype[:ENTRY_TEXT_CHARS],
        "content_length": content_length,
    }
    if body is not None:
        fields, files, cut = body
        summary_body["fields"] = fields
        summary_body["files"] = files
        truncated += cut
    shown, cut_headers = masked_headers(EnvironHeaders(headers).items())
    truncated += ["headers"] * cut_headers
    summary: dict[str, object] = {
        "method": method[:ENTRY_TEXT_CHARS],
        "path": path[:ENTRY_TEXT_CHARS],
        "headers": shown,
        "body": summary_body,
        "status": status,
    }
    truncated += ["path"] * (len(path) > ENTRY_TEXT_CHARS)
    if text is not None:
        summary["response"] = text
        truncated += ["response"] * text_cut
    else:
        summary["response_bytes"] = response_bytes
    if truncated:
        summary["truncated"] = truncated
    summary.update(extra)  # e.g. an HTTP fault's mark
    return summary


_SKELETON = request_summary(
    method="OPTIONS",
    path="",
    mimetype="",
    content_length=2**62,
    headers={},
    body=({}, {}, ["fields", "files"]),
    status=500,
    text="",
    text_cut=True,
    response_bytes=None,
    extra={},
)
_SKELETON["truncated"] = ["fields", "files", "headers", "path", "response"]
_SUMMARY_SIZE = entry_size(_SKELETON) + 512
"""What an entry's own dicts and small values hold beyond its strings, at most, as
:func:`~mock_wiro.engine.journal.entry_size` counts them: a summary with every optional
part and empty strings (about 2,900 bytes), and some room (the raw parts' own dict)."""


def record_request(
    journal: Journal,
    req: Request,
    state: RequestState,
    status: int,
    *,
    text: str | None = None,
    response_bytes: int | None = None,
) -> Entry:
    """Journal ``req`` and its answer (``text``: a JSON answer's text; else
    ``response_bytes``), deferred: the raw parts kept, the entry built when read."""
    body: tuple[dict[str, str], dict[str, str], list[str]] | None = None
    if state.fields is not None:  # clipped now: a body of 50,000 keys keeps its first 64
        fields, cut = clip_pairs(
            state.fields.items(), items=ENTRY_MAX_FIELDS, chars=ENTRY_FIELD_CHARS
        )
        files, cut_files = clip_pairs(
            state.files.items(), items=ENTRY_MAX_FIELDS, chars=ENTRY_FIELD_CHARS
        )
        body = (fields, files, ["fields"] * cut + ["files"] * cut_files)
    # bounded by the server and by HeaderLimits (MAX_HEADER_*), which read them already
    headers = req.environ.get(HEADERS_ENVIRON)
    if not isinstance(headers, dict):
        headers = header_environ(req.environ)
    path = req.path[: ENTRY_TEXT_CHARS + 1]  # one more: the entry says it was cut
    shown = None if text is None else text[:ENTRY_TEXT_CHARS]
    method = req.method[:ENTRY_TEXT_CHARS]  # a request line may carry 64 KiB of it
    mimetype = req.mimetype[:ENTRY_TEXT_CHARS]
    parts: dict[str, Any] = {
        "method": method,
        "path": path,
        "mimetype": mimetype,
        "content_length": req.content_length,
        "headers": headers,
        "body": body,
        "status": status,
        "text": shown,
        "text_cut": text is not None and len(text) > ENTRY_TEXT_CHARS,
        "response_bytes": response_bytes,
        "extra": dict(state.journal_extra),
    }
    getsizeof = sys.getsizeof
    size = _SUMMARY_SIZE + getsizeof(path) + getsizeof(shown) + getsizeof(mimetype)
    size += getsizeof(method)
    # each name and value: its characters at the widest any of them takes (the joined
    # text's own size: latin-1 from a server, any width from the test client), plus at
    # most _STR_OWN bytes of its own; no walk over them
    size += getsizeof(headers) + getsizeof("".join(headers))
    size += getsizeof("".join(headers.values())) + len(headers) * (2 * _STR_OWN + _SLOT)
    if body is not None:
        size += entry_size(body[0]) + entry_size(body[1])
    if parts["extra"]:
        size += entry_size(parts["extra"])
    return journal.record_deferred("request", lambda: request_summary(**parts), size)
