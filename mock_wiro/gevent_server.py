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
  ``Settings.keepalive_timeout`` seconds (``--keepalive-timeout``, default
  :data:`IDLE_TIMEOUT`) is closed (pywsgi has none of its own);
- the header bounds of ``settings.MAX_HEADER_*`` checked as the lines are read
  (:class:`~mock_wiro.http.limits.BoundedHeaderReader`, as on werkzeug's path), the 431
  journalled; every error pywsgi answers itself (431, 414, 400, 500) in the API's JSON
  envelope with ``Connection: close`` instead of a bare status;
- a bound on the connections served at once (``Settings.max_connections``,
  ``--max-connections``): one past it has its request head read (briefly) and is
  answered 503 in the envelope, then closed; past :data:`REFUSING_AT_ONCE` refusals in
  progress a new connection is closed at once. The native threads are gevent's pool
  (bounded, ``GEVENT_THREADPOOL``'s default of 10);
- the MP4 render and the image check run in gevent's pool of native threads, so an
  encode never stalls the event loop;
- stop: stop accepting, end the idle keep-alive connections at once, close the fake
  (every socket gets 1001), then end what is still open after at most
  :data:`STOP_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import errno
import resource
import socket
import sys
from collections.abc import Callable
from typing import Any

from gevent import monkey

if not monkey.is_module_patched("socket"):  # pragma: no cover - a misuse, said plainly
    raise RuntimeError(
        "mock_wiro.gevent_server needs a gevent-patched process: run "
        "`mock-wiro serve --server gevent` (python -m mock_wiro.gevent_serve)"
    )

import gevent
from gevent import pywsgi
from gevent.pool import Pool
from gevent.pywsgi import WSGIHandler, WSGIServer
from gevent.socket import socket as GeventSocket

from .http.faults import DROPPED_ENVIRON, SOCKET_ENVIRON
from .http.limits import HeadersTooLarge, envelope, parse_header_block, read_header_block
from .server import MockWiroServer, access_log, journal_header_refusal
from .settings import KEEPALIVE_IDLE_TIMEOUT, MAX_HEADER_BYTES

__all__ = ["IDLE_TIMEOUT", "REFUSING_AT_ONCE", "STOP_TIMEOUT", "GeventWiroServer", "wsgi_server"]

IDLE_TIMEOUT = KEEPALIVE_IDLE_TIMEOUT
"""Seconds a keep-alive connection may wait for its next request line before it is
closed, by default (:data:`mock_wiro.settings.KEEPALIVE_IDLE_TIMEOUT`)."""
STOP_TIMEOUT = 2.0
"""Seconds :meth:`GeventWiroServer.stop` lets open connections finish before ending them."""
REFUSAL_READ_TIMEOUT = 1.0
"""Seconds a connection over the bound is given to send its request head before its 503."""
REFUSING_AT_ONCE = 64
"""Refusals in progress at once; a connection past them is closed without an answer."""
FD_RESERVE = 128
"""File descriptors kept for what is not a connection (the data dir, renders, logs)."""
REQUEST_LINE_BYTES = 64 * 1024
"""The longest request line (method, target, version) this server reads: werkzeug's
(``http.server``'s 64 KB) rather than pywsgi's 8 KB, so both servers take the same
requests; past it, 414 in the envelope. Set as pywsgi's ``MAX_REQUEST_LINE`` in this
(patched, ``mock-wiro serve``'s own) process, which also bounds a chunk-size line."""
pywsgi.MAX_REQUEST_LINE = REQUEST_LINE_BYTES

_REASONS = {
    400: "Bad Request",
    414: "Request-URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _error_response(code: int, message: str, *, head_only: bool = False) -> bytes:
    """A whole HTTP response: ``message`` in the API's envelope, then the connection closes."""
    body = envelope(message)
    head = (
        f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("Retry-After: 1\r\n" if code == 503 else "")
        + "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else body)


class _Connection(GeventSocket):  # type: ignore[misc]
    """An accepted connection's socket, which cannot be duplicated. Under gevent,
    simple-websocket duplicates the socket a WebSocket is accepted on (``sock.dup()``)
    unless ``dup`` raises ``NotImplementedError``: without the duplicate, a WebSocket
    holds one file descriptor, not two, so the fd limit bounds twice as many sockets.
    simple-websocket then reads and writes the handler's own socket, which is idle
    meanwhile (its greenlet is inside the WebSocket route), and the handler ends the
    connection once the route returns (:meth:`_Handler.run_application`)."""

    __slots__ = ()

    def dup(self) -> Any:
        raise NotImplementedError("one descriptor per connection: shared, not duplicated")

    def try_send(self, data: bytes) -> int:
        """Send what fits without waiting (the socket hub's flush writes from the engine's
        greenlet, which must never wait on a client): the bytes sent, 0 if none fit."""
        try:
            # the native socket under gevent's (non-blocking, as gevent keeps it): one
            # call, not gevent's send and its timeout handling, which would wait
            return int(self._sock.send(data))
        except BlockingIOError:
            return 0


class _Handler(WSGIHandler):  # type: ignore[misc]  # gevent's classes are untyped
    """pywsgi's handler with Nagle off, the idle timeout, the header bounds and the
    API's envelope on every error it answers itself."""

    refuse = False
    """Set on a connection past the bound: its request is answered 503."""
    ignored_socket_errors = (*WSGIHandler.ignored_socket_errors, errno.ECONNABORTED)
    """A connection dropped on purpose (an HTTP ``reset`` fault) is no server error."""

    def get_environ(self) -> dict[str, Any]:
        """pywsgi's environ, with the socket for the ``reset`` fault (``SOCKET_ENVIRON``)."""
        environ: dict[str, Any] = super().get_environ()
        environ[SOCKET_ENVIRON] = self.socket
        return environ

    def run_application(self) -> None:
        """The app; after a WebSocket (an upgrade the app took without an HTTP answer)
        the connection ends: simple-websocket closed it, and nothing may be read or
        written on it as HTTP again."""
        super().run_application()
        if self.status is None and self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            self.close_connection = True

    def log_request(self) -> None:
        """The access log line; none for a request a ``reset`` fault dropped (nothing was
        answered), as werkzeug's server."""
        environ = getattr(self, "environ", None) or {}
        if environ.get(DROPPED_ENVIRON):
            return
        # the same record as werkzeug's handler (server._RequestHandler.log_request), so
        # the access log reads (and is coloured, and parsed) the same on both servers
        address = self.client_address
        host = address[0] if isinstance(address, tuple) else str(address or "-")
        raw = self.status or "-"  # pywsgi keeps it as bytes once the headers went out
        status = (raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)).split(" ", 1)[0]
        line = str(getattr(self, "requestline", "") or "-")
        access_log.info(
            '%s "%s" %s %s', host, line, int(status) if status.isdigit() else status, "-"
        )

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

    def MessageClass(self, fp: Any, *args: Any) -> Any:
        """The header block, read through the bounds (:class:`HeadersTooLarge` past one),
        parsed as pywsgi's own ``headers_factory`` parses it, plain lines without the
        ``email`` parser (:func:`~mock_wiro.http.limits.parse_header_block`)."""
        return parse_header_block(read_header_block(fp), pywsgi.OldMessage)

    def handle_one_request(self) -> Any:
        if self.refuse:
            return self._refuse_over_bound()
        result = super().handle_one_request()
        if isinstance(result, tuple) and result[0] == "414":
            message = (
                f"Request-URI too long: a request line may hold at most {REQUEST_LINE_BYTES} bytes"
            )
            return ("414", _error_response(414, message))
        return result

    def _handle_client_error(self, ex: BaseException) -> Any:
        """A request pywsgi could not parse: 431 (journalled) for headers over a bound,
        400 otherwise, in the envelope; None (closed unanswered) past the drain bound."""
        head_only = getattr(self, "command", None) == "HEAD"
        if isinstance(ex, HeadersTooLarge):
            body = envelope(str(ex))
            journal_header_refusal(
                self.server.application,
                method=str(getattr(self, "command", "") or ""),
                target=str(getattr(self, "path", "") or ""),
                status=431,
                body=body,
            )
            self.log_error("(from %s) %s", self.client_address, str(ex))
            return ("431", _error_response(431, str(ex), head_only=head_only))
        if isinstance(ex, ConnectionAbortedError):
            return None
        reason = str(getattr(ex, "formatted_message", "") or ex or type(ex).__name__)
        self.log_error("Invalid request (from %s): %s", self.client_address, reason)
        return ("400", _error_response(400, f"Bad request: {reason[:200]}", head_only=head_only))

    def _send_error_response_if_possible(self, error_code: int) -> None:
        """pywsgi's 400 (a bad body) or 500, in the envelope (only if nothing was sent)."""
        if self.response_length:
            self.close_connection = True
            return
        message = "Bad request body" if error_code == 400 else "Internal server error"
        body = envelope(message)
        try:
            self.start_response(
                f"{error_code} {_REASONS.get(error_code, 'Error')}",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ],
            )
            self.write(body)
        except OSError:
            pass
        self.close_connection = True

    def _refuse_over_bound(self) -> tuple[str, bytes]:
        """Read the request head (briefly, bounded) and answer 503 in the envelope."""
        read = 0
        with gevent.Timeout(REFUSAL_READ_TIMEOUT, False):
            while read <= MAX_HEADER_BYTES:
                line = self.rfile.readline(REQUEST_LINE_BYTES)
                if not read:
                    self.requestline = line.decode("latin-1").rstrip()  # for the access log
                read += len(line)
                if not line or (read > len(line) and line in (b"\r\n", b"\n")):
                    break
        message = (
            f"The fake is serving its maximum of {self.server.max_connections} connections "
            "at once (--max-connections); retry later"
        )
        self.log_error("(from %s) refused: %s", self.client_address, message)
        return ("503", _error_response(503, message))


class _Server(WSGIServer):  # type: ignore[misc]
    def __init__(
        self, *args: Any, idle_timeout: float, max_connections: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.idle: set[gevent.Greenlet] = set()
        """The connections waiting for their next request line."""
        self.serving = 0
        """Connections being served (not counting those being refused)."""
        self.refusing = 0

    def do_read(self) -> tuple[_Connection, Any] | None:
        """Accept a connection (gevent's ``StreamServer.do_read``), as a
        :class:`_Connection`."""
        listener = self.socket
        try:
            fd, address = listener._accept()
        except BlockingIOError:
            if not listener.timeout:
                return None
            raise
        return _Connection(listener.family, listener.type, listener.proto, fileno=fd), address

    def handle(self, sock: socket.socket, address: Any) -> None:
        """Serve the connection, or refuse it past the bound (never leave it waiting)."""
        if self.serving >= self.max_connections:
            if self.refusing >= REFUSING_AT_ONCE:
                sock.close()
                return
            self.refusing += 1
            try:
                handler = self.handler_class(sock, address, self)
                handler.refuse = True
                handler.handle()
            finally:
                self.refusing -= 1
            return
        self.serving += 1
        try:
            self.handler_class(sock, address, self).handle()
        finally:
            self.serving -= 1

    def close_idle(self) -> None:
        """End every connection that waits for a request (kept alive, idle)."""
        gevent.killall(list(self.idle), block=True, timeout=STOP_TIMEOUT)


def wsgi_server(
    app: Any, host: str, port: int, *, idle_timeout: float, max_connections: int
) -> WSGIServer:
    """The pywsgi server ``mock-wiro serve`` runs ``app`` on: this module's handler (Nagle
    off, the idle timeout, the header bounds, the envelope on its own errors, the access
    log) and the connection bound. Not yet listening: ``init_socket()`` binds it.
    (``benchmarks/peers/pywsgi_server.py --as-serve`` puts the bare Flask baseline on it,
    so "bare Flask on the same server" is this server.)"""
    # a pool (unbounded: the bound is _Server.handle's) keeps track of the connections,
    # so stop() can end them
    return _Server(
        (host, port),
        app,
        handler_class=_Handler,
        spawn=Pool(),
        idle_timeout=idle_timeout,
        max_connections=max_connections,
        log=access_log,
    )


def _captured(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    """``fn(*args)`` in a native thread: (True, its result) or (False, what it raised),
    so a refused image is not printed as the thread pool's error."""
    try:
        return True, fn(*args)
    except Exception as exc:  # handed back to the calling greenlet, raised there
        return False, exc


def _offload(fn: Callable[..., Any], *args: Any) -> Any:
    """``Preparer.offload`` under gevent: ``fn(*args)`` in gevent's pool of native
    threads (an encode never stalls the event loop), its exception raised here."""
    ok, value = gevent.get_hub().threadpool.apply(_captured, (fn, args))
    if not ok:
        raise value
    return value


FDS_PER_CONNECTION = 1
"""File descriptors one connection holds: its socket, a WebSocket's included (it is not
duplicated: :class:`_Connection`)."""


def _connection_bound(wanted: int) -> int:
    """``wanted``, or fewer if the process may not open enough file descriptors for
    them (:data:`FDS_PER_CONNECTION` each, :data:`FD_RESERVE` besides): the soft limit is
    raised first (and the hard one, where the process may)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted * FDS_PER_CONNECTION + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            with contextlib.suppress(ValueError, OSError):  # allowed to root only
                resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < need:
            raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, (soft - FD_RESERVE) // FDS_PER_CONNECTION))


class GeventWiroServer(MockWiroServer):
    """:class:`MockWiroServer` on ``gevent.pywsgi`` (in a patched process only)."""

    def _listen(self, host: str, port: int) -> int:
        bound = _connection_bound(self.settings.max_connections)
        if bound < self.settings.max_connections:
            print(
                f"mock-wiro: at most {bound} connections at once (the file descriptor limit; "
                f"--max-connections {self.settings.max_connections} asked)",
                file=sys.stderr,
                flush=True,
            )
        self._pywsgi = wsgi_server(
            self.app,
            host,
            port,
            idle_timeout=self.settings.keepalive_timeout,
            max_connections=bound,
        )
        self._pywsgi.init_socket()  # bind now: the port is known, a busy one fails here
        self.backend.preparer.offload = _offload
        return int(self._pywsgi.server_port)

    @property
    def description(self) -> str:
        """Which HTTP server this is, for ``mock-wiro serve``'s banner."""
        return (
            f"gevent (HTTP/1.1 keep-alive, idle closed after "
            f"{self.settings.keepalive_timeout:g} s; at most {self.max_connections} connections)"
        )

    @property
    def max_connections(self) -> int:
        """The connections served at once (``Settings.max_connections``, or fewer if the
        file descriptor limit is lower)."""
        return int(self._pywsgi.max_connections)

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
