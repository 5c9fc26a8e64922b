"""Lifecycle latency with instant time: from the start of the ``Run`` request to the
``task_postprocess_end`` frame received on the WebSocket.

The figure: the fake in this process (``MockWiroServer(Settings(clock_mode="instant"))``,
werkzeug threaded), and the client a test would write: a signed ``requests`` session for
``Run`` and one ``websocket-client`` connection, opened once, that sends ``task_info``
with the task's ``socketaccesstoken`` as soon as ``Run`` answers (the history replay
delivers the frames sent before that) and reads frames until that task's
``task_postprocess_end``, whose outputs must be there. Tasks run one after another.

The first task of a fresh fake renders its MP4 (~180 ms for a new size); later ones of
the same size hit the renderer's cache. That first task has its own row; a few more warm
up; then the figure is the median and p99 over many tasks, with where the time goes
(Run answered, first frame, last frame) in ``extra``.

Baseline: the least any server could do for the same exchange on the same set-up: a bare
Flask app with a flask-sock route on werkzeug ``make_server(threaded=True)`` in this
process, the same client sending one POST (a constant answer) and then one WebSocket
frame that the server echoes back. Fake and baseline run in interleaved halves.

For the choice of server, the same lifecycle against the fake in a subprocess: as
``mock-wiro serve --speed 0`` (gevent pywsgi, its default; and ``--server werkzeug``)
and under gunicorn (see ``bench_requests``);
and a what-if: the in-process fake with ``TCP_NODELAY`` set on every connection
(werkzeug leaves Nagle's algorithm on, and on a kept-open WebSocket each small frame
after the first then waits for the client's delayed ACK, ~40 ms; gunicorn turns it off).

    python -m benchmarks.bench_lifecycle [--quick]
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests
import websocket
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from .common import Row, summary

RUN = "Run/minimax/hailuo-2-3-fast"
RUN_BODY = {"inputImageFirstUrl": "https://example.com/cat.jpg", "prompt": "waves"}
TARGET_MS = 10.0


def _one_task(api: requests.Session, ws: websocket.WebSocket) -> tuple[float, float, float]:
    """(Run answered, first frame, task_postprocess_end frame), seconds from Run's start."""
    start = time.perf_counter()
    answer = api.post(RUN, json=RUN_BODY).json()
    answered = time.perf_counter() - start
    token = answer["socketaccesstoken"]
    ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
    first = None
    while True:
        frame = json.loads(ws.recv())
        if frame.get("type") == "error":
            raise RuntimeError(f"socket error frame: {frame}")
        if frame.get("tasktoken") != token:
            continue
        first = first or time.perf_counter() - start
        if frame.get("type") == "task_postprocess_end":
            if not frame.get("message"):
                raise RuntimeError(f"task_postprocess_end without outputs: {frame}")
            return answered, first, time.perf_counter() - start


def _tasks(base_url: str, socket_url: str, project: Any, tasks: int, warmup: int) -> list[Any]:
    """The first task's timings, then ``tasks`` timings after ``warmup`` more."""
    from mock_wiro.testing import signed_session

    api = signed_session(project, base_url)
    ws = websocket.create_connection(socket_url, timeout=30)
    try:
        first = _one_task(api, ws)
        for _ in range(warmup):
            _one_task(api, ws)
        return [first, *(_one_task(api, ws) for _ in range(tasks))]
    finally:
        ws.close()
        api.close()


def in_process(tasks: int, warmup: int) -> list[Any]:
    """Timings on a fresh instant fake in this process (first, then the measured)."""
    from mock_wiro.server import MockWiroServer
    from mock_wiro.settings import Settings

    with MockWiroServer(Settings(clock_mode="instant")) as server:
        project = server.create_project(balance="1000000")
        return _tasks(server.base_url, server.socket_url, project, tasks, warmup)


@contextlib.contextmanager
def nodelay() -> Iterator[None]:
    """While active, werkzeug's request handler sets TCP_NODELAY on every connection it
    serves (``socketserver``'s ``disable_nagle_algorithm``): the one-line fix to try."""
    before = WSGIRequestHandler.disable_nagle_algorithm
    WSGIRequestHandler.disable_nagle_algorithm = True
    try:
        yield
    finally:
        WSGIRequestHandler.disable_nagle_algorithm = before


@contextlib.contextmanager
def quiet_werkzeug() -> Iterator[None]:
    """No request log lines from the servers in this process while measuring."""
    logger = logging.getLogger("werkzeug")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def _bare_app() -> Flask:
    from flask_sock import Sock

    app = Flask("bare")
    sock = Sock(app)

    @app.post("/v1/Run")
    def run() -> dict[str, Any]:
        return {"errors": [], "taskid": "1", "socketaccesstoken": "t", "result": True}

    @sock.route("/v1")  # type: ignore[untyped-decorator]
    def echo(ws: Any) -> None:
        while (data := ws.receive()) is not None:
            ws.send(data)

    return app


def baseline(rounds: int) -> list[float]:
    """Seconds of one POST plus one WebSocket echo, on a bare Flask + flask-sock server."""
    server = make_server("127.0.0.1", 0, _bare_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}/v1"
    session = requests.Session()
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.server_port}/v1", timeout=30)

    def once() -> float:
        start = time.perf_counter()
        token = session.post(f"{base}/Run", json=RUN_BODY, timeout=30).json()["socketaccesstoken"]
        ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
        ws.recv()
        return time.perf_counter() - start

    try:
        for _ in range(5):
            once()
        return [once() for _ in range(rounds)]
    finally:
        ws.close()
        session.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def subprocess_servers(quick: bool, tasks: int, notes: list[str]) -> dict[str, list[Any]]:
    """Timings against the fake in a subprocess on each server set-up of bench_requests."""
    from . import bench_requests as br

    groups = br.server_groups(False, notes)[: 2 if quick else None]  # quick: no gunicorn
    found = [br.python_target(g, "fake") for g in groups]
    project = SimpleNamespace(api_key=br.API_KEY, api_secret=br.API_SECRET, auth_mode="signature")
    results: dict[str, list[Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp:
        try:
            for t in found:
                br.start(t, Path(tmp))
            deadline = time.monotonic() + 60
            for t in found:
                try:
                    br.ready(t, deadline)  # its first task (the cold render) is done here
                except (RuntimeError, OSError, ValueError, KeyError) as exc:
                    notes.append(f"{t.name}: failed to start")
                    print(f"bench_lifecycle: {exc}", file=sys.stderr)
                    continue
                socket_url = f"ws://127.0.0.1:{t.port}/v1"
                results[t.name] = _tasks(t.base_url, socket_url, project, tasks, 3)[1:]
        finally:
            for t in found:
                br.stop(t)
    return results


def _ms(timings: list[Any], index: int = 2) -> tuple[float, float]:
    median, p99 = summary([x[index] for x in timings])
    return median * 1000, p99 * 1000


def _breakdown(timings: list[Any]) -> dict[str, float]:
    """Medians (ms) of: Run answered; then to the first frame; then to the last."""
    return {
        "run_answered_ms": round(statistics.median(x[0] for x in timings) * 1000, 2),
        "to_first_frame_ms": round(statistics.median(x[1] - x[0] for x in timings) * 1000, 2),
        "first_to_last_frame_ms": round(statistics.median(x[2] - x[1] for x in timings) * 1000, 2),
    }


def run(quick: bool) -> list[Row]:
    with quiet_werkzeug():
        return _run(quick)


def _run(quick: bool) -> list[Row]:
    tasks, warmup = (16, 3) if quick else (200, 20)
    notes: list[str] = []
    fake: list[Any] = []
    base: list[float] = []
    firsts: list[float] = []
    # interleaved halves, so drift hits both (--quick: one of each)
    steps = ("base", "fake") if quick else ("base", "fake", "fake", "base")
    per_step = tasks * 2 // len(steps)
    for step in steps:
        if step == "base":
            base.extend(baseline(per_step))
        else:
            first, *timings = in_process(per_step, warmup)
            firsts.append(first[2])
            fake.extend(timings)
    with nodelay():
        patched = in_process(max(10, tasks // 2), warmup)[1:]
    servers = subprocess_servers(quick, max(10, tasks // 4), notes)

    median, p99 = _ms(fake)
    base_median, base_p99 = (x * 1000 for x in summary(base))
    rows = [
        Row(
            "lifecycle",
            "instant: Run -> task_postprocess_end on the socket (in-process)",
            median,
            "ms",
            baseline=base_median,
            baseline_label="bare Flask POST + WS echo",
            median=median,
            p99=p99,
            target=f"median < {TARGET_MS:g} ms",
            met=median < TARGET_MS,
            note=f"{len(fake)} tasks after warm-up, one at a time",
            extra={"baseline_p99_ms": base_p99, **_breakdown(fake)},
        ),
        Row(
            "lifecycle",
            "instant: first task of a fresh fake (MP4 render, cold)",
            max(firsts) * 1000,
            "ms",
            baseline=median,
            baseline_label="warm task",
            note="the slowest fresh fake's first task",
            extra={"firsts_ms": [round(x * 1000, 1) for x in firsts]},
        ),
    ]
    m, p = _ms(patched)
    rows.append(
        Row(
            "lifecycle",
            "what-if: in-process, TCP_NODELAY on accepted sockets",
            m,
            "ms",
            baseline=median,
            baseline_label="in-process as is",
            median=m,
            p99=p,
            target=f"median < {TARGET_MS:g} ms",
            met=m < TARGET_MS,
            note="WSGIRequestHandler.disable_nagle_algorithm = True, in this process only",
            extra=_breakdown(patched),
        )
    )
    for name, timings in servers.items():
        m, p = _ms(timings)
        rows.append(
            Row(
                "lifecycle",
                f"instant, subprocess: {name}",
                m,
                "ms",
                baseline=median,
                baseline_label="in-process",
                median=m,
                p99=p,
                target=f"median < {TARGET_MS:g} ms",
                met=m < TARGET_MS,
                note=f"{len(timings)} tasks",
                extra=_breakdown(timings),
            )
        )
    if notes:
        rows[0].note = "; ".join([rows[0].note, *notes])
    return rows


if __name__ == "__main__":
    from .__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
