"""Running the fake on a real socket: ``MockWiroServer`` (a thread) for tests and the CLI."""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .chaos.scenarios import ScenarioBook
from .control.fake import Fake
from .control.handle import FakeHandle
from .engine.backend import Backend
from .settings import Settings, is_loopback

__all__ = ["MockWiroServer"]

SERVE_POLL_INTERVAL = 0.05
"""Seconds between the server loop's shutdown checks (werkzeug's default 0.5 s made every
stop() wait half a second)."""


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler with Nagle's algorithm off: a socket frame or a small response
    goes out at once instead of waiting ~40 ms for the client's delayed ACK."""

    disable_nagle_algorithm = True


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
        if not is_loopback(host) and not settings.admin_token:
            # off loopback the control surface must not be open to the network
            settings = replace(settings, admin_token=secrets.token_urlsafe(24))
        self.settings = settings
        self.backend = Backend(self.settings, scenarios=ScenarioBook())
        self.app = create_app(Fake.build(backend=self.backend))
        try:
            self._server: BaseWSGIServer = make_server(
                host, port, self.app, threaded=True, request_handler=_RequestHandler
            )
        except (OSError, SystemExit) as exc:  # werkzeug exits on a bind failure
            self.backend.close()
            raise OSError(f"cannot listen on {host}:{port} (already in use?)") from exc
        self.host = host
        self.port = self._server.server_port
        # a wildcard bind is reached on loopback; URLs must name a host a client can use
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"http://{shown}:{self.port}"
        self.backend.files.set_public_url(self.settings.public_url or self.url)
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False

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
