"""The fake (or the bare Flask app) under gevent's own WSGI server, ``gevent.pywsgi``, for
``bench_servers``. The process is monkey-patched first (flask-sock's simple-websocket
needs the standard library's sockets, threads and selectors to be gevent's), which is
why this runs only as a separate process, never inside a user's test process.

    BENCH_API_KEY=k BENCH_API_SECRET=s python -m benchmarks.peers.pywsgi_server fake --port N

SIGTERM / SIGINT: stop accepting, close the fake (every socket gets 1001), let open
connections finish for up to ``--graceful`` seconds, exit 0.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after the patching, on purpose)
import contextlib  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402


class _QuietHandler(WSGIHandler):
    """No access log; Nagle's algorithm off, as the fake's werkzeug handler does (a small
    response written in two parts otherwise waits ~40 ms for the client's delayed ACK)."""

    def __init__(self, sock: socket.socket, address: object, server: object) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server)

    def log_request(self) -> None:  # no access log: werkzeug's is on stderr, nobody reads it
        pass


def _native_render(app: Any) -> None:
    """The experiment for CPU work: the renderer's ``render`` (PyAV) and the image check
    (Pillow) each run in gevent's pool of native threads; the greenlet that asks waits
    cooperatively, so the loop keeps serving."""
    from mock_wiro.engine import preparer

    backend = app.extensions["mock_wiro.backend"]
    pool = gevent.get_hub().threadpool
    renderer = backend.preparer.renderer
    render = renderer.render
    renderer.render = lambda *a: pool.apply(render, a)
    inspect = preparer.inspect_image
    preparer.inspect_image = lambda *a: pool.apply(inspect, a)


def make_server(app: Any, host: str, port: int, *, as_serve: bool) -> WSGIServer:
    """``app`` on plain pywsgi (no access log, Nagle off), or, ``as_serve``, on
    ``mock-wiro serve``'s own server and process set-up (its handler: idle timeout, header
    bounds, connection bound, the access log on stderr; the collector tuned). Not
    started. (``bench_instructions`` builds its servers here too.)"""
    if not as_serve:
        return WSGIServer((host, port), app, handler_class=_QuietHandler, log=None)
    from mock_wiro.cli import serve_process_setup
    from mock_wiro.gevent_server import wsgi_server
    from mock_wiro.settings import Settings

    defaults = Settings()
    server = wsgi_server(
        app,
        host,
        port,
        idle_timeout=defaults.keepalive_timeout,
        max_connections=defaults.max_connections,
    )
    serve_process_setup()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="serve a benchmark app with gevent.pywsgi")
    parser.add_argument("app", choices=("bare", "fake"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--graceful", type=float, default=5.0)
    parser.add_argument(
        "--native-render",
        action="store_true",
        help="run the MP4 render and the image check in gevent's pool of native threads",
    )
    parser.add_argument(
        "--as-serve",
        action="store_true",
        help="serve the app on mock-wiro serve's own server: its pywsgi handler (idle "
        "timeout, header bounds, connection bound, access log on stderr) and its process "
        "set-up (the garbage collector tuned): the bare Flask baseline on the same server",
    )
    args = parser.parse_args()
    from benchmarks.peers.servers import bare_app, fake_app

    app = bare_app() if args.app == "bare" else fake_app()
    if args.native_render and args.app == "fake":
        _native_render(app)
    server = make_server(app, args.host, args.port, as_serve=args.as_serve)
    server.start()
    print(f"  REST:      http://{args.host}:{server.server_port}/v1", flush=True)

    def stop() -> None:
        backend = app.extensions.get("mock_wiro.backend")
        server.close()  # stop accepting
        if backend is not None:
            backend.close()  # sockets: 1001
        server.stop(timeout=args.graceful)

    gevent.signal_handler(signal.SIGTERM, lambda: gevent.spawn(stop))
    gevent.signal_handler(signal.SIGINT, lambda: gevent.spawn(stop))
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
