"""Callbacks from a test: one loopback HTTP receiver with scripted answers, and the
fake's record of its deliveries."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from mock_wiro.push.callbacks import Delivery
from mock_wiro.server import MockWiroServer

if TYPE_CHECKING:
    from tests.helpers.wiro import Wiro

HANG = "hang"
WAIT = 15.0  # wall seconds a wait may take before the test fails (never reached when green)

Behaviour = int | str  # an HTTP status to answer, or HANG


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    # Not socketserver's listen backlog of 5: a burst of callbacks (tasks ending at one
    # fake instant) overflows it on a loaded machine and the kernel resets the excess,
    # which the fake retries only after a backoff on a clock a test may never move.
    request_queue_size = 256


class Receiver:
    """A loopback HTTP server answering each path from a script, recording everything.

    ``script(path, 500, 200)`` makes the 1st request to ``path`` get 500 and every
    later one 200 (the last behaviour repeats). ``HANG`` blocks the request until
    :meth:`release` (the fixture releases at teardown), then answers 200.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.released = threading.Event()
        self._cond = threading.Condition()
        self._scripts: dict[str, list[Behaviour]] = {}
        self._counts: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                behaviour = receiver._record(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                if behaviour == HANG:
                    receiver.released.wait()
                    behaviour = 200
                assert isinstance(behaviour, int)
                try:
                    self.send_response(behaviour)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up (timed out) meanwhile
                    pass

            do_GET = do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = False  # joined by server_close, after release
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="test-receiver", daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def script(self, path: str, *behaviours: Behaviour) -> str:
        """Script ``path`` and return its URL."""
        with self._cond:
            self._scripts[path] = list(behaviours)
        return self.url(path)

    def _record(self, request: Received) -> Behaviour:
        with self._cond:
            self.requests.append(request)
            n = self._counts.get(request.path, 0)
            self._counts[request.path] = n + 1
            script = self._scripts.get(request.path, [200])
            self._cond.notify_all()
            return script[min(n, len(script) - 1)]

    def to(self, path: str) -> list[Received]:
        """Requests received on ``path``."""
        with self._cond:
            return [r for r in self.requests if r.path == path]

    def wait(self, path: str, count: int, timeout: float = WAIT) -> bool:
        """Block until ``path`` has had ``count`` requests."""
        with self._cond:
            return self._cond.wait_for(lambda: self._counts.get(path, 0) >= count, timeout)

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def run_with(wiro: Wiro, url: str | None, image: str = "landscape_16x9.jpg") -> str:
    fields = {} if url is None else {"callbackUrl": url}
    taskid: str = wiro.run(image, **fields)["taskid"]
    return taskid


def delivery(server: MockWiroServer, taskid: str) -> Delivery:
    found = server.callbacks.delivery(taskid)
    assert found is not None, f"no delivery for task {taskid}"
    return found


def finish(server: MockWiroServer, taskid: str, *, attempts: int | None = None) -> Delivery:
    """Wait (bounded) for the delivery to be final, or to have ``attempts`` attempts."""
    assert server.callbacks.wait_for(taskid, attempts=attempts, timeout=WAIT), taskid
    return delivery(server, taskid)
