"""The fast path: a signed JSON ``POST /v1/...`` served without Flask's machinery.

Most of what a test suite or a load test sends is a signed JSON call (Run, Task/Detail,
Cancel, Kill). Flask spends on each one about as much as the fake's own work: an app and
a request context, URL matching, before and after hooks, a response object. This WSGI
middleware takes such a call before Flask does and serves it with the same code
(:func:`.routes.serve`, the same werkzeug request class underneath, the same envelope
for errors, the same journal entry: :func:`.summary.record_request`), so the answer,
its headers and what the journal keeps are the same whichever path served it
(``tests/http/test_fast_path.py`` compares the two).

Anything else goes to Flask unchanged: another method or content type (an upload, a
url-encoded form), a path that is not a known endpoint spelled plainly, and every
request while an HTTP fault rule exists (the fault hooks live in Flask's hooks).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug import Request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from ..chaos.http_faults import FaultSet
from ..engine.backend import Backend
from ..errors import ValidationError, WiroError
from .context import RequestState, record_bug
from .routes import Route, find_route, serve, too_large_message
from .summary import record_request
from .wire import SharedItem

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["FAST_PATH", "FAST_PATH_EXTENSION", "FastApi"]

log = logging.getLogger("mock_wiro")

FAST_PATH = re.compile(r"/v1/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+")
"""The paths the fast path may take: under ``/v1/``, plain segments only (no empty
segment, no trailing slash, nothing to decode), so Flask would route them exactly so."""
FAST_PATH_EXTENSION = "mock_wiro.fast_path"
"""Where an app keeps its :class:`FastApi`, in ``app.extensions``."""
_JSON_TYPES = frozenset(("application/json", ""))
"""The content types (their media type, lower-cased) the fast path takes: JSON, or none
(a call without a body)."""


_ENCODERS = itertools.count()
"""Each fast path's own key for the texts shared items keep (never reused, unlike an id)."""


def _status(code: int) -> str:
    """The status line werkzeug's ``Response`` sends for ``code``."""
    return f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}"


class FastApi:
    """WSGI middleware in front of the Flask app ``flask``: signed JSON ``/v1`` calls
    served directly, everything else handed on to ``inner`` (Flask's WSGI app)."""

    def __init__(
        self, inner: WSGIApplication, app: Flask, backend: Backend, faults: FaultSet
    ) -> None:
        self.inner = inner
        self.backend = backend
        self.faults = faults
        provider = app.json
        self._app, self._provider = app, provider
        # the arguments Flask's JSON provider adds when it makes a response (compact
        # unless the app is in debug mode)
        compact = getattr(provider, "compact", None)
        dump_args: dict[str, Any] = (
            {"indent": 2}
            if (compact is None and app.debug) or compact is False
            else {"separators": (",", ":")}
        )
        self._dumps: Callable[[Any], str] = functools.partial(provider.dumps, **dump_args)
        if isinstance(provider, DefaultJSONProvider):  # its json.dumps, encoder made once
            self._dumps = json.JSONEncoder(
                default=provider.default,
                ensure_ascii=provider.ensure_ascii,
                sort_keys=provider.sort_keys,
                **dump_args,
            ).encode
        self._splice = dump_args.get("separators") == (",", ":")
        """Whether a shared tasklist item's kept text may be spliced into the answer
        (compact JSON: the item's text is the same inside the answer as on its own)."""
        self._max_content_length: int | None = app.config["MAX_CONTENT_LENGTH"]
        self._key = next(_ENCODERS)  # a shared item's text for this app's encoder
        self.enabled = backend.settings.fast_path
        """Off: every request goes to Flask (``Settings.fast_path``)."""
        self.served = 0
        """Requests this path served (a count for tests and benchmarks)."""
        app.extensions[FAST_PATH_EXTENSION] = self

    def encode(self, payload: dict[str, Any]) -> str:
        """The answer's JSON text, as Flask's provider writes it. A tasklist of shared
        items (:class:`~.wire.SharedItem`: finished tasks, unchanged) is spliced in from
        the texts they keep, each encoded once by this app: ``"tasklist":[]`` is written
        with the rest, then filled (the key's own quotes are never those of an escaped
        string's, so only the key matches)."""
        items = payload.get("tasklist")
        if not (self._splice and items and type(items) is list):
            return self._dumps(payload)
        texts: list[str] = []
        for item in items:
            if type(item) is not SharedItem:
                return self._dumps(payload)
            text = item.texts.get(self._key)
            if text is None:
                text = item.texts[self._key] = self._dumps(item)
            texts.append(text)
        head = self._dumps({**payload, "tasklist": []})
        return head.replace('"tasklist":[]', f'"tasklist":[{",".join(texts)}]', 1)

    def takes(self, environ: WSGIEnvironment) -> bool:
        """Whether the fast path serves this request (else Flask does)."""
        return self._route(environ) is not None

    def _route(self, environ: WSGIEnvironment) -> Route | None:
        """The endpoint the fast path serves this request at; None: Flask serves it."""
        if not self.enabled:
            return None
        if self._app.debug or self._app.json is not self._provider:
            return None  # Flask then indents (debug) or encodes its own way: let it
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("SCRIPT_NAME"):
            return None
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/v1/") or FAST_PATH.fullmatch(path) is None:
            return None
        media = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if media not in _JSON_TYPES:
            return None
        if not self.faults.empty():  # an HTTP fault's hooks are Flask's
            return None
        return find_route(path[4:], self.backend.settings)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        route = self._route(environ)
        if route is None:
            return self.inner(environ, start_response)
        self.served += 1
        req = Request(environ)
        req.max_content_length = self._max_content_length  # as Flask's request has it
        state = RequestState()
        headers: list[tuple[str, str]] = []
        try:
            payload = serve(self.backend, req, state, req.path[4:], route)
            code = 200
        except RequestEntityTooLarge as exc:  # as the app's own 413 (app._too_large)
            limit = self.backend.settings.upload_max_bytes
            message = too_large_message(exc, limit, req.content_length)
            payload, code = ValidationError(message).to_wire(), 413
            headers.append(("Connection", "close"))  # the rest of the body is never read
        except WiroError as exc:
            payload, code = exc.to_wire(), exc.http_status
        except HTTPException as exc:  # werkzeug's: a body cut short, say
            problem = ValidationError(f"Request parameters are invalid: {exc.description}")
            payload, code = problem.to_wire(), problem.http_status
        except Exception as exc:  # a bug: as the app's internal error handler answers it
            log.exception("mock-wiro internal error")
            record_bug(self.backend.journal, exc, req)
            payload = {
                "result": False,
                "errors": [{"code": 0, "message": f"Internal error: {exc!r}"}],
            }
            code = 500
        text = f"{self.encode(payload)}\n"
        body = text.encode()
        record_request(self.backend.journal, req, state, code, text=text)
        req.close()
        headers[:0] = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(_status(code), headers)
        return [body]
