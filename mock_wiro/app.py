"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

from flask import Flask, Request, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestedRangeNotSatisfiable, RequestEntityTooLarge
from werkzeug.routing import WebsocketMismatch

from .control.blueprint import control_blueprint
from .control.fake import Fake
from .engine.backend import Backend
from .engine.journal import Journal
from .errors import UrlError, ValidationError, WiroError
from .http.context import BACKEND_EXTENSION, record_bug, request_state
from .http.fast import FastApi
from .http.faults import HttpFaults
from .http.limits import HeaderLimits
from .http.openapi import OPENAPI_PATH, build_openapi
from .http.routes import api, too_large_message
from .http.summary import record_request
from .push.route import MAX_INCOMING_BYTES, socket_bp
from .settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["create_app"]

log = logging.getLogger("mock_wiro")
# Multipart framing around a 100 MB file: the file itself is checked exactly.
_MULTIPART_SLACK = 64 * 1024
OVERSIZE_HTTP_STATUS = 413  # [A] the real status for an oversized body is unknown


class _Request(Request):
    """Closes every upload file it spooled, including the one werkzeug's form parser
    leaves open when the body turns out to be over the limit mid-stream (a chunked
    upload): otherwise it leaks and warns (ResourceWarning) when collected."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        stream = super()._get_file_stream(
            total_content_length, content_type, filename, content_length
        )
        self.__dict__.setdefault("_spooled", []).append(stream)
        return stream

    def close(self) -> None:
        super().close()
        for stream in self.__dict__.pop("_spooled", []):
            stream.close()


def _journal_request(journal: Journal, response: Response) -> None:
    """Flask's request and ``response``, in the journal (:func:`.http.summary.record_request`)."""
    json = response.mimetype == "application/json" and not response.direct_passthrough
    record_request(
        journal,
        request,
        request_state(),
        response.status_code,
        text=response.get_data(as_text=True) if json else None,
        response_bytes=None if json else response.content_length,
    )


def _wire(exc: WiroError) -> Response:
    response = jsonify(exc.to_wire())
    response.status_code = exc.http_status
    return response


class _ClosedWhenDropped:
    """A response body closed however its server lets go of it.

    werkzeug's server reads what is left of the request after a response and only then
    calls the body's ``close()``; when the client reset the connection that read raises
    and ``close()`` is skipped, so a file being downloaded (a video a browser stopped
    loading) was left for the garbage collector, with a ResourceWarning."""

    __slots__ = ("_body", "_closed")

    def __init__(self, body: Iterable[bytes]) -> None:
        self._body = body
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close = getattr(self._body, "close", None)
            if close is not None:
                close()

    def __del__(self) -> None:
        self.close()


def _close_when_dropped(wsgi_app: WSGIApplication) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = wsgi_app(environ, start_response)
        if type(body) is list:  # nothing to close (the fast path's answers)
            return body
        return _ClosedWhenDropped(body)

    return app


def create_app(
    settings: Settings | Fake | None = None,
    backend: Backend | None = None,
    *,
    fake: Fake | None = None,
) -> Flask:
    """A Flask app serving a fake: ``fake`` (or a :class:`Fake` as the first argument),
    else one built around ``backend``, else from ``settings`` (and then started)."""
    if isinstance(settings, Fake):
        fake, settings = settings, None
    if fake is None:
        fake = Fake.build(settings, backend)
    backend = fake.backend
    app = Flask("mock_wiro")
    app.request_class = _Request
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the seed's key order
    app.config["MAX_CONTENT_LENGTH"] = backend.settings.upload_max_bytes + _MULTIPART_SLACK
    fake.install(app)
    app.extensions[BACKEND_EXTENSION] = backend  # what the /v1 routes serve
    app.config["SOCK_SERVER_OPTIONS"] = {
        "ping_interval": backend.settings.socket_ping_interval,
        "max_message_size": MAX_INCOMING_BYTES,
    }
    # the control surface first: its admin-token hook must run before any body is read
    app.register_blueprint(control_blueprint())

    @app.after_request
    def journal_request(response: Response) -> Response:
        if not request.path.startswith("/_mock"):  # the control surface isn't journaled
            _journal_request(backend.journal, response)
        return response

    @app.get(OPENAPI_PATH)
    def openapi_document() -> Response:
        """The ``/v1`` API as OpenAPI 3.1, for this fake's settings (:mod:`.openapi`)."""
        server_url = backend.settings.public_url or request.host_url
        return jsonify(build_openapi(backend.settings, server_url))

    app.register_blueprint(api)
    app.register_blueprint(socket_bp)
    HttpFaults(fake.faults, backend.journal).install(app)  # after journal_request: runs first
    _install_errors(app, backend.settings, backend.journal)
    # headers over settings.MAX_HEADER_COUNT / MAX_HEADER_BYTES: 431 before Flask, whatever
    # server runs the app (mock-wiro serve also bounds each line as it reads it)
    # signed JSON /v1 calls skip Flask's machinery (same code, same answer: http/fast.py)
    app.wsgi_app = FastApi(app.wsgi_app, app, backend, fake.faults)  # type: ignore[method-assign]
    app.wsgi_app = HeaderLimits(app.wsgi_app, backend.journal)  # type: ignore[method-assign]
    app.wsgi_app = _close_when_dropped(app.wsgi_app)  # type: ignore[method-assign,assignment]
    return app


def _install_errors(app: Flask, settings: Settings, journal: Journal) -> None:
    """``/v1``'s errors become the wire here, and only here."""
    app.register_error_handler(WiroError, _wire)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Response:
        return _too_large(exc, settings)

    app.register_error_handler(HTTPException, _http_error)

    @app.errorhandler(Exception)
    def internal(exc: Exception) -> Response:
        return _internal_error(exc, journal)


def _too_large(exc: RequestEntityTooLarge, settings: Settings) -> Response:
    """An oversized body: a JSON or url-encoded one, or an upload over the limit."""
    message = too_large_message(exc, settings.upload_max_bytes, request.content_length)
    response = _wire(ValidationError(message))
    response.status_code = OVERSIZE_HTTP_STATUS
    response.headers["Connection"] = "close"  # the rest of the body is never read
    return response


def _http_error(exc: HTTPException) -> Response:
    """werkzeug's HTTP errors: no such URL or method, a socket URL, a bad Range, the rest."""
    if isinstance(exc, WebsocketMismatch):  # plain HTTP on the socket's URL
        return _websocket_mismatch()
    if exc.code in (404, 405):
        return _wire(UrlError())
    if isinstance(exc, RequestedRangeNotSatisfiable):  # a file download's bad Range
        return _range_not_satisfiable(exc)
    return _wire(ValidationError(f"Request parameters are invalid: {exc.description}"))


def _websocket_mismatch() -> Response:
    """Plain HTTP on the socket's URL: a GET is told to upgrade, anything else is a bad URL."""
    if request.method != "GET":
        return _wire(UrlError())
    response = _wire(
        ValidationError(
            "This is the task WebSocket: connect with a WebSocket client and send "
            '{"type": "task_info", "tasktoken": "<socketaccesstoken>"}'
        )
    )
    response.status_code = 426
    response.headers["Upgrade"] = "websocket"
    return response


def _range_not_satisfiable(exc: RequestedRangeNotSatisfiable) -> Response:
    """HTTP semantics, not the API's 200: a resuming downloader must see the 416 (and
    the file's length in Content-Range), never take an envelope for the file."""
    response = _wire(ValidationError("Requested range not satisfiable"))
    response.status_code = exc.code
    response.headers.update((k, v) for k, v in exc.get_headers() if k.lower() == "content-range")
    return response


def _internal_error(exc: Exception, journal: Journal) -> Response:
    """Not one of the package's errors: a bug. The envelope, and the traceback in
    the journal."""
    log.exception("mock-wiro internal error")
    record_bug(journal, exc)
    response = jsonify(
        {"result": False, "errors": [{"code": 0, "message": f"Internal error: {exc!r}"}]}
    )
    response.status_code = 500
    return response
