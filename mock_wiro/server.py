"""Running the fake on a real socket: ``MockWiroServer`` (a thread) for tests and the CLI."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import replace
from http import HTTPStatus
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .chaos.scenarios import ScenarioBook
from .control.fake import Fake
from .control.handle import FakeHandle
from .engine.backend import Backend
from .http.context import BACKEND_EXTENSION
from .http.limits import BoundedHeaderReader, envelope, record_refusal
from .settings import Settings, needs_admin_token

__all__ = ["ACCESS_LOG", "MockWiroServer", "journal_header_refusal"]

ACCESS_LOG = "mock_wiro.access"
"""The logger of the fake's access log: one INFO record per request (``%s "%s" %s %s``:
client address, request line, status, size) and the refusals ``http.server`` answers
itself. Silent by default (a ``NullHandler``): an embedded :class:`MockWiroServer`
prints nothing into its user's output. ``mock-wiro serve`` writes it to stderr; a test
turns it up with ``logging.getLogger(ACCESS_LOG).setLevel(logging.INFO)`` (pytest's
``caplog`` and ``--log-cli-level=INFO`` see it)."""
access_log = logging.getLogger(ACCESS_LOG)
access_log.addHandler(logging.NullHandler())  # no "last resort" stderr output

SERVE_POLL_INTERVAL = 0.05
"""Seconds between the server loop's shutdown checks (werkzeug's default 0.5 s made every
stop() wait half a second)."""


_NO_BODY = (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED)


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler with Nagle's algorithm off (a socket frame or a small response
    goes out at once instead of waiting ~40 ms for the client's delayed ACK), the header
    bounds checked as the lines are read (``settings.MAX_HEADER_*``,
    :class:`~mock_wiro.http.limits.BoundedHeaderReader`), and the errors ``http.server``
    answers itself (431, 414, 400) in the API's JSON envelope instead of an HTML page."""

    disable_nagle_algorithm = True
    default_request_version = "HTTP/1.0"
    """What a request whose version could not be read is answered in: a status line and
    headers before the envelope (``http.server``'s HTTP/0.9 default sent the body bare)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One access-log record (:data:`ACCESS_LOG`), plain text: werkzeug's own wrote
        to stderr, in ANSI colour even into a file."""
        line = str(getattr(self, "requestline", "") or "-").translate(self._control_char_table)
        status = int(code) if isinstance(code, int) else code
        access_log.info('%s "%s" %s %s', self.address_string(), line, status, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        """werkzeug's other notes (a refused request line, a dropped connection): the
        access log too, at INFO: the client's problem, not the embedding program's."""
        access_log.info("%s " + message.rstrip(), self.address_string(), *args)

    def parse_request(self) -> bool:
        raw = self.rfile
        self.rfile = BoundedHeaderReader(raw)  # type: ignore[assignment]
        try:
            return super().parse_request()
        finally:
            self.rfile = raw

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The error in the API's envelope (code 0), then the connection is closed."""
        try:
            phrase, long = self.responses[code]
        except KeyError:
            phrase, long = "Error", ""
        text = explain or message or long or phrase
        self.log_error("code %d, message %s", code, text)
        body = envelope(text)
        if code == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
            # journalled before the answer: whoever reads the journal after it sees it
            self._journal_refusal(code, body)
        self.send_response(code, phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD" and code >= 200 and code not in _NO_BODY:
            self.wfile.write(body)

    def _journal_refusal(self, code: int, body: bytes) -> None:
        journal_header_refusal(
            getattr(self.server, "app", None),
            method=self.command or "",
            target=str(getattr(self, "path", "") or ""),
            status=code,
            body=body,
        )


def journal_header_refusal(
    app: object, *, method: str, target: str, status: int, body: bytes
) -> None:
    """A request refused for its headers, in ``app``'s journal: its method and path (no
    header is kept: the block was dropped as it was read)."""
    backend = getattr(app, "extensions", {}).get(BACKEND_EXTENSION)
    if isinstance(backend, Backend):
        record_refusal(
            backend.journal,
            method=method,
            path=target.split("?", 1)[0],
            headers=(),
            status=status,
            response=body,
        )


class MockWiroServer(FakeHandle):
    """The fake on ``host:port`` (``port=0`` picks a free one), served from a thread.

    ::

        with MockWiroServer(Settings(clock_mode="manual")) as server:
            project = server.backend.create_project()
            requests.post(server.url + "/v1/Task/Detail", ...)
    """

    def __init__(
        self, settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        settings = settings or Settings()
        if needs_admin_token(host, settings.public_url) and not settings.admin_token:
            # reachable from other machines: the control surface must not be open to them
            settings = replace(settings, admin_token=secrets.token_urlsafe(24))
        self.settings = settings
        self.backend = Backend(self.settings, scenarios=ScenarioBook())
        self.app = create_app(Fake.build(backend=self.backend))
        try:
            self.port = self._listen(host, port)
        except (OSError, SystemExit) as exc:  # werkzeug exits on a bind failure
            self.backend.close()
            raise OSError(f"cannot listen on {host}:{port} (already in use?)") from exc
        self.host = host
        # a wildcard bind is reached on loopback; URLs must name a host a client can use
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"http://{shown}:{self.port}"
        self.backend.files.set_public_url(self.settings.public_url or self.url)
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False

    def _listen(self, host: str, port: int) -> int:
        """Bind the server's socket (werkzeug's threaded server); the port bound."""
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=_RequestHandler
        )
        return self._server.server_port

    @property
    def description(self) -> str:
        """Which HTTP server this is, for ``mock-wiro serve``'s banner."""
        return "werkzeug (threaded; closes the connection after every response)"

    @property
    def base_url(self) -> str:
        """The REST base: ``<url>/v1``."""
        return self.url + "/v1"

    @property
    def socket_url(self) -> str:
        """The WebSocket URL: ``ws://<host>:<port>/v1``."""
        return "ws" + self.url[len("http") :] + "/v1"

    @property
    def admin_token(self) -> str | None:
        """The token ``/_mock`` requests must send as ``X-Admin-Token`` (None: no token;
        the Python control methods here need none, they call the backend directly)."""
        return self.settings.admin_token or None

    def start(self) -> MockWiroServer:
        """Start serving in a daemon thread."""
        self.backend.start()
        self._serving = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SERVE_POLL_INTERVAL},
            name="mock-wiro-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another."""
        self.backend.start()
        self._serving = True
        self._server.serve_forever(poll_interval=SERVE_POLL_INTERVAL)

    def stop(self) -> None:
        """Stop serving, close the socket and the backend (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._serving:  # shutdown() waits for a serve_forever that must be running
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.backend.close()

    def __enter__(self) -> MockWiroServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
