"""Bounds on a request's headers (``settings.MAX_HEADER_*``), and the 431 that answers a
request over them, in the API's error envelope.

Two layers, so no way of serving the app keeps an oversized header block:

- :class:`BoundedHeaderReader`: ``mock-wiro serve``'s request handler
  (:mod:`mock_wiro.server`) reads the header lines through it, which checks each raw
  line, the count and the total *as they are read*: an oversized block is read and
  discarded (up to :data:`HEADER_DRAIN_BYTES`), never kept, and answered at once;
- :class:`HeaderLimits`: a WSGI middleware :func:`mock_wiro.app.create_app` installs,
  which checks the count and the total of the headers any server handed the app
  (gunicorn and its kind read them first; its own defaults bound the line), and
  answers 431 before Flask sees the request, journalling a bounded entry.
"""

from __future__ import annotations

import email.message
import email.parser
import http.client
import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from werkzeug.datastructures import EnvironHeaders

from ..engine.journal import ENTRY_TEXT_CHARS, Journal, masked_headers
from ..errors import ValidationError
from ..settings import (
    HEADER_FIELDS_TOO_LARGE_STATUS,
    MAX_HEADER_BYTES,
    MAX_HEADER_COUNT,
    MAX_HEADER_LINE_BYTES,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "HEADER_DRAIN_BYTES",
    "BoundedHeaderReader",
    "HeaderLimits",
    "HeadersTooLarge",
    "envelope",
    "header_problem",
    "parse_header_block",
    "read_header_block",
    "record_refusal",
]

HEADER_DRAIN_BYTES = 16 * 1024 * 1024
"""How much of an oversized header block ``mock-wiro serve`` reads (and discards, a line
at a time) after the bound is crossed, so the client, still sending, gets to read the
431; past it the connection is closed without an answer. Nothing drained is kept."""

_PREFIX = "Request header fields too large: "
LINE_MESSAGE = f"{_PREFIX}a header line may hold at most {MAX_HEADER_LINE_BYTES} bytes"
COUNT_MESSAGE = f"{_PREFIX}a request may send at most {MAX_HEADER_COUNT} header fields"
TOTAL_MESSAGE = f"{_PREFIX}a request's header lines may hold at most {MAX_HEADER_BYTES} bytes"


class HeadersTooLarge(http.client.HTTPException):
    """A header block over a bound; its message names the bound. An ``HTTPException``:
    ``http.server`` answers it 431 (through the handler's ``send_error``)."""


def envelope(message: str) -> bytes:
    """The API's error envelope (code 0) as JSON bytes."""
    return json.dumps(ValidationError(message).to_wire()).encode()


def header_problem(headers: Iterable[tuple[str, str]]) -> str | None:
    """The message naming the first bound ``headers`` cross (count or total), or None."""
    total = 0
    for count, (name, value) in enumerate(headers, 1):
        total += len(name) + len(value) + 4  # "name: value\r\n"
        if count > MAX_HEADER_COUNT:
            return COUNT_MESSAGE
        if total > MAX_HEADER_BYTES:
            return TOTAL_MESSAGE
    return None


_BODY_KEYS = frozenset(("CONTENT_TYPE", "CONTENT_LENGTH"))
_SHADOWED = frozenset(("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"))
HEADERS_ENVIRON = "mock_wiro.headers"
"""Where :class:`HeaderLimits` leaves :func:`header_environ` of the request, for the
journal entry (:mod:`.summary`) to take instead of reading the environ again."""


def header_environ(environ: Mapping[str, Any]) -> dict[str, str]:
    """The part of a WSGI environ werkzeug's ``EnvironHeaders`` reads the headers from
    (``HTTP_*`` but the two it shadows, and a non-empty ``CONTENT_TYPE`` /
    ``CONTENT_LENGTH``), in order: ``EnvironHeaders`` of it gives the same headers as of
    the whole environ."""
    return {
        k: v
        for k, v in environ.items()
        if (k.startswith("HTTP_") and k not in _SHADOWED) or (k in _BODY_KEYS and v)
    }


def environ_header_problem(headers: Mapping[str, str]) -> str | None:
    """:func:`header_problem` of the headers in ``headers`` (:func:`header_environ` of a
    request), without building them: each name is as long as its key less the ``HTTP_``."""
    total = 0
    for count, (key, value) in enumerate(headers.items(), 1):
        size = len(key) - 5 if key.startswith("HTTP_") else len(key)
        total += size + len(value) + 4  # "name: value\r\n"
        if count > MAX_HEADER_COUNT:
            return COUNT_MESSAGE
        if total > MAX_HEADER_BYTES:
            return TOTAL_MESSAGE
    return None


class _Lines(Protocol):
    def readline(self, size: int | None = -1, /) -> bytes: ...


class BoundedHeaderReader:
    """Wraps a connection's input while its header lines are read (``readline`` only):
    raises :class:`HeadersTooLarge` on the first line over a bound, after draining the
    rest of the header block. Every other call goes to the wrapped stream."""

    def __init__(self, raw: _Lines) -> None:
        self._raw = raw
        self._count = 0
        self._total = 0
        self.problem: str | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._raw, name)

    def readline(self, limit: int = -1) -> bytes:
        line = self._raw.readline(MAX_HEADER_LINE_BYTES + 3)  # the bound, CRLF, one more
        if line in (b"\r\n", b"\n", b""):  # the end of the block
            return line
        content = line.rstrip(b"\r\n") if line.endswith(b"\n") else line
        self._count += 1
        self._total += len(line)
        if len(content) > MAX_HEADER_LINE_BYTES:
            self.problem = LINE_MESSAGE
        elif self._count > MAX_HEADER_COUNT:
            self.problem = COUNT_MESSAGE
        elif self._total > MAX_HEADER_BYTES:
            self.problem = TOTAL_MESSAGE
        else:
            return line
        self._drain(at_line_start=line.endswith(b"\n"))
        raise HeadersTooLarge(self.problem)

    def _drain(self, at_line_start: bool) -> None:
        """Read (and drop) up to the blank line that ends the block, or EOF, at most
        ``HEADER_DRAIN_BYTES``; past that the connection is closed unanswered."""
        drained = 0
        while drained <= HEADER_DRAIN_BYTES:
            chunk = self._raw.readline(64 * 1024)
            if not chunk or (at_line_start and chunk in (b"\r\n", b"\n")):
                return
            drained += len(chunk)
            at_line_start = chunk.endswith(b"\n")
        raise ConnectionAbortedError("header block over the drain bound")


_END_OF_BLOCK = (b"\r\n", b"\n", b"")


def read_header_block(fp: _Lines) -> list[bytes]:
    """The header lines of a request (the blank line that ends them not included), read
    through :class:`BoundedHeaderReader`: :class:`HeadersTooLarge` past a bound."""
    readline = BoundedHeaderReader(fp).readline
    lines: list[bytes] = []
    while (line := readline()) not in _END_OF_BLOCK:
        lines.append(line)
    return lines


_PLAIN_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+):[ \t]*([\t\x20-\x7e]*?)\r?\n")
"""A header line in its plain form: a name of visible characters but the colon, the
colon, a value of visible characters, spaces and tabs, the line's end. Such a line means
the same to the standard library's parser (the ``email`` package's, through
``http.client.parse_headers``) on its own: no folding, no line break it would see inside
it, no ``From`` line."""

_M = TypeVar("_M", bound=email.message.Message)  # pywsgi's OldMessage, say


def parse_header_block(lines: list[bytes], message_class: type[_M]) -> _M:
    """The header lines as ``http.client.parse_headers(fp, _class=message_class)`` parses
    them, without its ``email`` parser in the common case: when every line is in its
    plain form (:data:`_PLAIN_FIELD`) the fields are set straight (the same names and
    values, the same order); anything else (a folded line, a line without a colon, a
    byte outside printable ASCII) goes through the standard library's parser, as before.
    ``tests/http/test_header_block.py`` holds the two to the same result."""
    match = _PLAIN_FIELD.fullmatch
    fields: list[tuple[str, str]] = []
    for line in lines:
        found = match(line)
        if found is None:  # the general case: the standard library's own parser
            text = b"".join((*lines, b"\r\n")).decode("iso-8859-1")
            return email.parser.Parser(_class=message_class).parsestr(text)
        fields.append((found[1].decode("ascii"), found[2].decode("ascii")))
    message = message_class()
    for name, value in fields:
        message.set_raw(name, value)  # as the parser sets each field
    message.set_payload("")  # the parser's: the (empty) text after the blank line
    return message


def record_refusal(
    journal: Journal,
    *,
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    status: int,
    response: bytes,
    content_type: str | None = None,
    content_length: int | None = None,
) -> None:
    """Journal a request refused for its headers as a bounded ``request`` entry (its
    headers masked and clipped, ``truncated: ["headers"]``); not under ``/_mock``, which
    isn't journalled."""
    if path.startswith("/_mock"):
        return
    kept, _ = masked_headers(headers)
    journal.record(
        "request",
        method=method[:ENTRY_TEXT_CHARS],
        path=path[:ENTRY_TEXT_CHARS],
        headers=kept,
        body={
            "content_type": (content_type or "")[:ENTRY_TEXT_CHARS] or None,
            "content_length": content_length,
        },
        status=status,
        response=response.decode()[:ENTRY_TEXT_CHARS],
        truncated=["headers"],
    )


def _content_length(environ: WSGIEnvironment) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


class HeaderLimits:
    """WSGI middleware: a request whose headers cross ``MAX_HEADER_COUNT`` or
    ``MAX_HEADER_BYTES`` is answered 431 in the error envelope (``Connection: close``)
    and journalled bounded (not under ``/_mock``, which isn't journalled)."""

    def __init__(self, app: WSGIApplication, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        found = environ[HEADERS_ENVIRON] = header_environ(environ)
        problem = environ_header_problem(found)
        if problem is None:
            return self.app(environ, start_response)
        headers = EnvironHeaders(found)
        body = envelope(problem)
        status = HEADER_FIELDS_TOO_LARGE_STATUS
        start_response(
            f"{status} Request Header Fields Too Large",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
        )
        record_refusal(
            self.journal,
            method=str(environ.get("REQUEST_METHOD", "")),
            path=str(environ.get("PATH_INFO", "")),
            headers=headers.items(),
            content_type=str(environ.get("CONTENT_TYPE", "")),
            content_length=_content_length(environ),
            status=status,
            response=body,
        )
        return [body]
