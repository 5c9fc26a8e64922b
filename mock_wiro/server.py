"""Running the fake on a real socket: ``MockWiroServer`` (a thread) for tests and the CLI."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, make_server

from .app import create_app
from .backend import Backend
from .callbacks import CallbackDispatcher
from .journal import Entry, Journal
from .models import Project, Task
from .settings import DEFAULT_DEMO_BALANCE_USD, AuthMode, ClockMode, Settings
from .sockets import SocketHub

__all__ = ["MockWiroServer"]


class MockWiroServer:
    """The fake on ``host:port`` (``port=0`` picks a free one), served from a thread.

    ::

        with MockWiroServer(Settings(clock_mode="manual")) as server:
            project = server.backend.create_project()
            requests.post(server.url + "/v1/Task/Detail", ...)
    """

    def __init__(
        self, settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.settings = settings or Settings()
        self.backend = Backend(self.settings)
        self.app = create_app(backend=self.backend)
        try:
            self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True)
        except (OSError, SystemExit) as exc:  # werkzeug exits on a bind failure
            self.backend.close()
            raise OSError(f"cannot listen on {host}:{port} (already in use?)") from exc
        self.host = host
        self.port = self._server.server_port
        # a wildcard bind is reached on loopback; URLs must name a host a client can use
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"http://{shown}:{self.port}"
        self.backend.public_url = (self.settings.public_url or self.url).rstrip("/")
        self.backend.public_url_fixed = True
        self._thread: threading.Thread | None = None
        self._serving = False
        self._stopped = False

    @property
    def hub(self) -> SocketHub:
        """The WebSocket fan-out."""
        hub: SocketHub = self.app.extensions["mock_wiro_hub"]
        return hub

    @property
    def callbacks(self) -> CallbackDispatcher:
        """Callback deliveries, with every attempt."""
        callbacks: CallbackDispatcher = self.app.extensions["mock_wiro_callbacks"]
        return callbacks

    @property
    def base_url(self) -> str:
        """The REST base: ``<url>/v1``."""
        return self.url + "/v1"

    @property
    def socket_url(self) -> str:
        """The WebSocket URL: ``ws://<host>:<port>/v1``."""
        return "ws" + self.url[len("http") :] + "/v1"

    # ------------------------------------------------------------ control, from Python
    def create_project(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        auth: AuthMode = "signature",
        balance: Decimal | str | float = DEFAULT_DEMO_BALANCE_USD,
        name: str = "",
    ) -> Project:
        """A new project on this fake (random credentials unless given)."""
        return self.backend.create_project(
            api_key, api_secret, auth_mode=auth, balance=balance, name=name
        )

    def advance(self, seconds: float) -> float:
        """Advance the fake clock and apply everything due; returns the new fake time."""
        return self.backend.advance(seconds)

    def set_clock(self, mode: ClockMode, speed: float | None = None) -> None:
        """Switch the clock's mode (``realtime``, ``manual``, ``instant``) and speed."""
        self.backend.clock.set_mode(mode, speed)
        self.backend.pump()

    def reset(self) -> None:
        """Forget every task, file, folder and callback delivery (projects stay)."""
        self.backend.reset()

    def task(self, task_id: str) -> Task:
        """A task by id (any project)."""
        task = self.backend.task_by_id(task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r}")
        return task

    def wait_for_task(
        self, task_id: str, statuses: Iterable[str] | None = None, timeout: float = 30.0
    ) -> Task:
        """Block until the task reaches one of ``statuses`` (default: terminal); raise
        TimeoutError with its current status otherwise. No sleeps."""
        task = self.task(task_id)
        if not self.backend.wait_for(task, statuses, timeout=timeout):
            wanted = "a terminal status" if statuses is None else " or ".join(statuses)
            raise TimeoutError(f"task {task_id} is {task.status}, not {wanted}, after {timeout}s")
        return task

    @property
    def journal(self) -> Journal:
        """Every request, frame, callback attempt (and fault/scenario) in order."""
        return self.backend.journal

    def wait_for(self, predicate: Callable[[Entry], bool], timeout: float = 30.0) -> Entry:
        """Block until a journal entry matches ``predicate`` (past or future); raise
        TimeoutError otherwise. The way to wait in a test: no sleeps."""
        entry = self.backend.journal.wait_for(predicate, timeout=timeout)
        if entry is None:
            raise TimeoutError(f"no journal entry matched within {timeout}s")
        return entry

    def start(self) -> MockWiroServer:
        """Start serving in a daemon thread."""
        self.backend.start()
        self._serving = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mock-wiro-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another."""
        self.backend.start()
        self._serving = True
        self._server.serve_forever()

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
