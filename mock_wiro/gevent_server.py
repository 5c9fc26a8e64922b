"""``mock-wiro serve --server gevent``: the fake on gevent's WSGI server, ``gevent.pywsgi``,
with persistent HTTP/1.1 connections and every WebSocket a greenlet
(``docs/server-choice.md`` says why this server).

Import this only in a process that gevent monkey-patched before anything else was
imported: ``python -m mock_wiro.gevent_serve``, which ``mock-wiro serve --server gevent``
re-executes into. A user's test process is never patched: ``MockWiroServer`` there keeps
werkzeug's threaded server.

What this adds to ``gevent.pywsgi``:

- Nagle's algorithm off on every connection (as the werkzeug handler does);
- an idle timeout: a keep-alive connection with no new request for
  :data:`IDLE_TIMEOUT` seconds is closed (pywsgi has none of its own);
- the MP4 render and the image check run in gevent's pool of native threads, so an
  encode never stalls the event loop;
- stop: stop accepting, end the idle keep-alive connections at once, close the fake
  (every socket gets 1001), then end what is still open after at most
  :data:`STOP_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from gevent import monkey

if not monkey.is_module_patched("socket"):  # pragma: no cover - a misuse, said plainly
    raise RuntimeError(
        "mock_wiro.gevent_server needs a gevent-patched process: run "
        "`mock-wiro serve --server gevent` (python -m mock_wiro.gevent_serve)"
    )

import gevent
from gevent.pool import Pool
from gevent.pywsgi import WSGIHandler, WSGIServer

from .server import MockWiroServer, access_log
from .settings import KEEPALIVE_IDLE_TIMEOUT

__all__ = ["IDLE_TIMEOUT", "STOP_TIMEOUT", "GeventWiroServer"]

IDLE_TIMEOUT = KEEPALIVE_IDLE_TIMEOUT
"""Seconds a keep-alive connection may wait for its next request line before it is
closed (:data:`mock_wiro.settings.KEEPALIVE_IDLE_TIMEOUT`)."""
STOP_TIMEOUT = 2.0
"""Seconds :meth:`GeventWiroServer.stop` lets open connections finish before ending them."""


class _Handler(WSGIHandler):  # type: ignore[misc]  # gevent's classes are untyped
    """pywsgi's handler with Nagle off and the idle timeout."""

    def __init__(self, sock: socket.socket, address: Any, server: Any) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server)

    def read_requestline(self) -> str:
        """The next request line; "" (the connection closes) after the idle timeout.
        Meanwhile the connection is idle: a stop ends it at once."""
        line = ""
        me = gevent.getcurrent()
        self.server.idle.add(me)
        try:
            with gevent.Timeout(self.server.idle_timeout, False):
                line = super().read_requestline()
        finally:
            self.server.idle.discard(me)
        return str(line)


class _Server(WSGIServer):  # type: ignore[misc]
    idle_timeout = IDLE_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle: set[gevent.Greenlet] = set()
        """The connections waiting for their next request line."""

    def close_idle(self) -> None:
        """End every connection that waits for a request (kept alive, idle)."""
        gevent.killall(list(self.idle), block=True, timeout=STOP_TIMEOUT)


class GeventWiroServer(MockWiroServer):
    """:class:`MockWiroServer` on ``gevent.pywsgi`` (in a patched process only)."""

    def _listen(self, host: str, port: int) -> int:
        # a pool (unbounded) keeps track of the connections, so stop() can end them
        self._pywsgi = _Server(
            (host, port), self.app, handler_class=_Handler, spawn=Pool(), log=access_log
        )
        self._pywsgi.init_socket()  # bind now: the port is known, a busy one fails here
        pool = gevent.get_hub().threadpool
        self.backend.preparer.offload = lambda fn, *args: pool.apply(fn, args)
        return int(self._pywsgi.server_port)

    def start(self) -> GeventWiroServer:
        """Start serving (the accept loop runs in the hub; this returns at once)."""
        self.backend.start()
        self._serving = True
        self._pywsgi.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling greenlet until :meth:`stop`."""
        self.backend.start()
        self._serving = True
        self._pywsgi.serve_forever()

    def stop(self) -> None:
        """Stop accepting, close the fake (sockets get 1001), end what is still open."""
        if self._stopped:
            return
        self._stopped = True
        self._pywsgi.close()  # stop accepting
        self._pywsgi.close_idle()
        self.backend.close()
        self._pywsgi.close_idle()  # those that went idle meanwhile
        self._pywsgi.stop(timeout=STOP_TIMEOUT)
