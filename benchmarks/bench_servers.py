"""Choosing ``mock-wiro serve``'s server (issue 14, step 1): the fake under each candidate
WSGI server that can serve flask-sock's WebSocket on the same port, side by side in one
run, with ratios against today's werkzeug server.

Candidates (each a subprocess on a free loopback port, in its own process group):

- ``werkzeug``: ``mock-wiro serve --speed 0`` as it is today (``make_server(threaded=True)``,
  ``Connection: close`` after every response);
- ``gthread``: gunicorn, 1 worker, ``-k gthread --threads 8 --keep-alive 5``;
- ``gevent``: gunicorn, 1 worker, ``-k gevent --keep-alive 5`` (gunicorn patches the worker);
- ``pywsgi``: ``gevent.pywsgi.WSGIServer`` in a monkey-patched process
  (``benchmarks/peers/pywsgi_server.py``);
- ``pywsgi-native``: the same, with the MP4 render and the image check in gevent's
  pool of native threads (the experiment for CPU work off the loop);
- ``serve-gevent``: ``mock-wiro serve --server gevent`` itself (what came of the choice).

Each serves the fake with one project and a finished task, and a bare Flask endpoint
returning the same body (the issue's "bare Flask on the same server"). For each:

- throughput and latency of signed Task/Detail with ``CONNECTIONS`` concurrent keep-alive
  connections (``bench_requests.hammer``: one client thread, fresh nonce per request),
  median of interleaved rounds, and with one connection (what a test suite's
  ``requests.Session`` sees); TCP connects per request (1.0 = no keep-alive);
- the server's CPU per request (every process of its group, from ``/proc``);
- the WebSocket: subscribe to the task's token, receive its replay, compare the frame
  types with the task's events (``GET /_mock/tasks/<id>``), in order;
- keep-alive: two requests on one TCP connection;
- the idle timeout: after one request, how long the server keeps the idle connection
  (capped at ``IDLE_CAP`` seconds);
- SIGTERM with ``IDLE_OPEN`` idle keep-alive connections and one subscribed WebSocket
  open: seconds to exit, exit status, the close code the socket got;
- a render-stall probe: Task/Detail one after the other on one connection while
  ``RENDERS`` cold 1080P renders run (worst latency against median);
- ``bench_fanout``'s round with ``--subscribers`` tasks and subscribers (default 1,000;
  200 with ``--quick``; 0: none), on a fresh server each.

Figures and the choice: ``docs/server-choice.md``.
    python -m benchmarks.bench_servers [--quick] [--only werkzeug gthread ...]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import importlib.util
import io
import json
import os
import signal
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bench_requests import (
    API_KEY,
    API_SECRET,
    CONNECTIONS,
    STARTUP_TIMEOUT,
    Target,
    Window,
    _mock_wiro_cmd,
    _signer,
    hammer,
    parse_response,
    ready,
    start,
    stop,
)
from .common import Row, rss_kib, summary

KEEPALIVE = 5
"""gunicorn's ``--keep-alive`` here (its default is 2 s)."""
GRACEFUL = 5
"""gunicorn's ``--graceful-timeout`` and pywsgi's stop timeout here (gunicorn's default 30)."""
IDLE_CAP = 12.0
IDLE_OPEN = 4
SERVERS = ("werkzeug", "gthread", "gevent", "pywsgi", "pywsgi-native", "serve-gevent")
LABELS = {
    "werkzeug": "werkzeug threaded (today)",
    "gthread": f"gunicorn gthread (1 worker, {CONNECTIONS} threads)",
    "gevent": "gunicorn gevent (1 worker)",
    "pywsgi": "gevent.pywsgi (patched process)",
    "pywsgi-native": "gevent.pywsgi, renders in native threads",
    "serve-gevent": "mock-wiro serve --server gevent",
}


def _target(server: str, kind: str) -> Target:
    label = f"{kind}, {LABELS[server]}"
    env = {"BENCH_API_KEY": API_KEY, "BENCH_API_SECRET": API_SECRET}
    py = sys.executable
    if server in ("werkzeug", "serve-gevent"):
        if kind == "fake":
            cmd = [*_mock_wiro_cmd(), "serve", "--port", "{port}", "--api-key", API_KEY]
            cmd += ["--api-secret", API_SECRET, "--balance", "1000000", "--speed", "0"]
            cmd += ["--server", "gevent" if server == "serve-gevent" else "werkzeug"]
        elif server == "serve-gevent":  # bare Flask on the same server: pywsgi
            cmd = [py, "-m", "benchmarks.peers.pywsgi_server", kind, "--port", "{port}"]
        else:
            cmd = [py, "-m", "benchmarks.peers.servers", "bare", "--port", "{port}"]
        return Target(label, server, kind, cmd, env)
    if server.startswith("pywsgi"):
        cmd = [py, "-m", "benchmarks.peers.pywsgi_server", kind, "--port", "{port}"]
        if server == "pywsgi-native":
            cmd.append("--native-render")
        return Target(label, server, kind, [*cmd, "--graceful", str(GRACEFUL)], env)
    threads = ["--threads", str(CONNECTIONS)] if server == "gthread" else []
    cmd = [py, "-m", "gunicorn", "--workers", "1", "--worker-class", server, *threads]
    cmd += ["--keep-alive", str(KEEPALIVE), "--graceful-timeout", str(GRACEFUL)]
    cmd += ["--no-control-socket"]  # gunicorn 23+: else every instance shares ~/.gunicorn
    cmd += ["--bind", "127.0.0.1:{port}", f"benchmarks.peers.servers:{kind}_app()"]
    return Target(label, server, kind, cmd, env)


def available(only: list[str] | None, notes: list[str]) -> list[str]:
    found = []
    for server in only or SERVERS:
        need = {"gthread": "gunicorn", "gevent": "gevent"}.get(server)
        need = "gevent" if server.startswith(("pywsgi", "serve-")) else need
        if need and importlib.util.find_spec(need) is None:
            notes.append(f"{server}: {need} not installed (pip install -e '.[bench]')")
            continue
        if server == "gevent" and importlib.util.find_spec("gunicorn") is None:
            notes.append("gevent: gunicorn not installed")
            continue
        found.append(server)
    return found


# ------------------------------------------------------------------ measurements
def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after ")": state ppid pgrp ...
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@dataclass
class Result:
    """What one target did."""

    target: Target
    windows: list[Window] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # server CPU seconds per window
    seq: list[Window] = field(default_factory=list)
    seq_cpu: list[float] = field(default_factory=list)
    keepalive: bool | None = None
    idle_seconds: float | None = None
    socket_ok: str = ""
    sigterm: dict[str, Any] = field(default_factory=dict)
    stall: dict[str, Any] = field(default_factory=dict)
    fanout: dict[str, Any] = field(default_factory=dict)

    def rps(self, seq: bool = False) -> float:
        return statistics.median(w.rps for w in (self.seq if seq else self.windows))

    def latency_ms(self, seq: bool = False) -> tuple[float, float]:
        wins = self.seq if seq else self.windows
        median, p99 = summary([x for w in wins for x in w.latencies])
        return median * 1000, p99 * 1000

    def cpu_us(self, seq: bool = False) -> float:
        wins, cpu = (self.seq, self.seq_cpu) if seq else (self.windows, self.cpu)
        return sum(cpu) / max(1, sum(w.done for w in wins)) * 1e6

    def connects_per_request(self) -> float:
        return sum(w.connects for w in self.windows) / max(1, sum(w.done for w in self.windows))


def _window(r: Result, connections: int, seconds: float) -> tuple[Window, float]:
    t = r.target
    assert t.proc is not None
    make = _signer(API_KEY, API_SECRET, f"127.0.0.1:{t.port}", t.body)
    before = group_cpu(t.proc.pid)
    window = hammer(t.port, make, connections, seconds)
    return window, group_cpu(t.proc.pid) - before


def _request(t: Target) -> bytes:
    return _signer(API_KEY, API_SECRET, f"127.0.0.1:{t.port}", t.body)()


def _read_response(sock: socket.socket, buf: bytes = b"") -> tuple[int, bool, bytes]:
    """(status, server closes, leftover bytes) of the next response on ``sock``."""
    while (parsed := parse_response(buf)) is None:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before a whole response")
        buf += data
    status, used, close = parsed
    return status, close, buf[used:]


def check_keepalive(t: Target) -> bool:
    """Two requests on one TCP connection, both answered 200."""
    with socket.create_connection(("127.0.0.1", t.port), timeout=10) as s:
        for _ in range(2):
            s.sendall(_request(t))
            try:
                status, close, _rest = _read_response(s)
            except (ConnectionError, OSError):
                return False
            if status != 200 or close:
                return False
    return True


def idle_close_seconds(t: Target) -> float:
    """After one request, seconds until the server closes the idle connection (capped)."""
    with socket.create_connection(("127.0.0.1", t.port), timeout=IDLE_CAP) as s:
        s.sendall(_request(t))
        _status, close, _rest = _read_response(s)
        start_at = time.monotonic()
        if close:
            return 0.0
        try:
            while s.recv(65536):
                pass
        except TimeoutError:
            return IDLE_CAP
        except OSError:
            pass
        return time.monotonic() - start_at


def _ws_open(t: Target, timeout: float = 10.0) -> Any:
    import websocket

    return websocket.create_connection(f"ws://127.0.0.1:{t.port}/v1", timeout=timeout)


def check_socket(t: Target) -> str:
    """Subscribe to the task, read its replay: "ok (N frames, in order)" or what is wrong."""
    import requests

    events = requests.get(f"http://127.0.0.1:{t.port}/_mock/tasks/{t.taskid}", timeout=10).json()
    want = [e["type"] for e in events.get("events", events.get("task", {}).get("events", []))]
    ws = _ws_open(t)
    got: list[str] = []
    try:
        ws.send(json.dumps({"type": "task_info", "tasktoken": t.token}))
        while len(got) < len(want) or not want:
            frame = json.loads(ws.recv())
            got.append(frame["type"])
            if frame["type"] in ("task_postprocess_end", "error"):
                break
    finally:
        ws.close()
    if got == want:
        return f"ok ({len(got)} frames, in order)"
    return f"MISMATCH: got {got[:5]}... ({len(got)}), want {len(want)}"


def sigterm(t: Target) -> dict[str, Any]:
    """SIGTERM with idle keep-alive connections and a subscribed socket open."""
    import websocket

    assert t.proc is not None
    idle = []
    for _ in range(IDLE_OPEN):
        s = socket.create_connection(("127.0.0.1", t.port), timeout=30)
        s.sendall(_request(t))
        _read_response(s)
        idle.append(s)
    ws = _ws_open(t, timeout=30)
    ws.send(json.dumps({"type": "task_info", "tasktoken": t.token}))
    while json.loads(ws.recv())["type"] != "task_postprocess_end":
        pass
    started = time.monotonic()
    os.kill(t.proc.pid, signal.SIGTERM)
    code: Any = None
    closed_in = None
    try:
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else "none"
                closed_in = time.monotonic() - started
                break
    except (websocket.WebSocketException, OSError) as exc:
        code = f"no close frame ({type(exc).__name__})"
        closed_in = time.monotonic() - started
    try:
        status = t.proc.wait(timeout=GRACEFUL + 30)
    except Exception:
        status = "hung"
    exited = time.monotonic() - started
    for s in idle:
        s.close()
    with contextlib.suppress(Exception):
        ws.close()
    return {
        "exit_seconds": round(exited, 2),
        "status": status,
        "ws_close": code,
        "ws_closed_after": round(closed_in or 0.0, 2),
    }


RENDERS = 3
"""Cold 1080P renders started while the stall probe runs (each a new output size)."""


def _signed_headers() -> dict[str, str]:
    nonce = str(time.time_ns())
    sig = hmac.new(API_KEY.encode(), (API_SECRET + nonce).encode(), hashlib.sha256).hexdigest()
    return {"x-api-key": API_KEY, "x-nonce": nonce, "x-signature": sig}


def _jpeg(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def render_stall(t: Target, salt: int) -> dict[str, Any]:
    """Does CPU work stall the server? A probe sends Task/Detail on one connection, one
    after the other, while ``RENDERS`` Runs with new image sizes (each a cold 1080P MP4
    render in the fake's worker pool) run to their end: the probe's worst latency then,
    against its median."""
    import requests

    base = f"http://127.0.0.1:{t.port}"
    probe: list[Window] = []
    thread = threading.Thread(
        target=lambda: probe.append(hammer(t.port, lambda: _request(t), 1, 2.5 + RENDERS))
    )
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    ids = []
    with requests.Session() as http:
        for i in range(RENDERS):
            image = _jpeg(1200 + 40 * salt + 8 * i, 700)
            answer = http.post(
                base + "/v1/Run/minimax/hailuo-2-3-fast",
                headers=_signed_headers(),
                files={"inputImageFirst": ("i.jpg", image, "image/jpeg")},
                data={"prompt": "waves", "resolution": "1080P", "duration": "6"},
                timeout=60,
            ).json()
            ids.append(answer["taskid"])
        for taskid in ids:
            while True:
                got = http.post(
                    base + "/v1/Task/Detail", json={"taskid": taskid}, headers=_signed_headers()
                ).json()
                if got["tasklist"][0]["status"] in ("task_postprocess_end", "task_cancel"):
                    break
                time.sleep(0.02)
    renders_s = time.monotonic() - started
    thread.join()
    lat = sorted(probe[0].latencies)
    return {
        "renders_seconds": round(renders_s, 2),
        "probe_requests": len(lat),
        "probe_p50_ms": round(statistics.median(lat) * 1000, 2) if lat else None,
        "probe_max_ms": round(lat[-1] * 1000, 1) if lat else None,
    }


def _pid_of_worker(master: int) -> int:
    """gunicorn's worker (the master's child), or the process itself."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                    return int(entry)
    return master


class _FanoutServer:
    """What ``bench_fanout.fan_out`` needs of a server, for a started ``Target``."""

    def __init__(self, t: Target) -> None:
        import requests

        assert t.proc is not None
        self.base = f"http://127.0.0.1:{t.port}"
        self.ws_url = f"ws://127.0.0.1:{t.port}/v1"
        self.http = requests.Session()
        self.pid = _pid_of_worker(t.proc.pid)

    def get(self, path: str) -> Any:
        answer = self.http.get(self.base + path, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.http.post(self.base + path, json=body, timeout=60)
        answer.raise_for_status()
        return answer.json()


def _fanout_target(server: str, n: int) -> Target:
    from . import bench_fanout as bf

    t = _target(server, "fake")
    t.env = {
        "BENCH_API_KEY": bf.API_KEY,
        "BENCH_API_SECRET": bf.API_SECRET,
        "BENCH_CLOCK": "manual",
        "BENCH_SPEED": "20",
        "BENCH_AUTH": "apikey",
    }
    if server in ("werkzeug", "serve-gevent"):
        t.cmd = [*_mock_wiro_cmd(), "serve", "--port", "{port}", "--clock", "manual"]
        t.cmd += ["--speed", "20", "--auth", "apikey", "--api-key", bf.API_KEY]
        t.cmd += ["--api-secret", bf.API_SECRET, "--balance", "1000000"]
        t.cmd += ["--server", "gevent" if server == "serve-gevent" else "werkzeug"]
    elif server == "gthread":  # a socket holds a thread for its life: one each, and room
        i = t.cmd.index("--threads")
        t.cmd[i + 1] = str(n + 64)
        t.cmd[i:i] = ["--worker-connections", str(2 * n + 64)]
    elif server == "gevent":
        t.cmd[-1:-1] = ["--worker-connections", str(2 * n + 64)]
    return t


def fanout(server: str, n: int, tmp: Path) -> dict[str, Any]:
    """``bench_fanout``'s round (n tasks, n subscribers, speed 20) on this server."""
    from . import bench_fanout as bf

    t = _fanout_target(server, n)
    start(t, tmp)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", t.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or (t.proc and t.proc.poll() is not None):
                    raise RuntimeError(f"{t.name} not up:\n{t.log_tail()}") from None
                time.sleep(0.05)
        srv = _FanoutServer(t)
        time.sleep(0.5)
        srv.pid = _pid_of_worker(t.proc.pid if t.proc else 0)
        srv.get("/_mock/health")
        idle_kib = rss_kib(srv.pid)
        base = bf.fan_out(srv, 1, "base")  # type: ignore[arg-type]
        big = bf.fan_out(srv, n, "big")  # type: ignore[arg-type]
    finally:
        stop(t)
    median, p99 = summary(big.lags_ms)
    return {
        "subscribers": n,
        "bad_frames": big.bad,
        "errors": big.errors,
        "unfinished": big.unfinished,
        "lag_ms_p50": round(median, 1),
        "lag_ms_p99": round(p99, 1),
        "base_lag_ms_p99": round(summary(base.lags_ms)[1], 1),
        "peak_rss_mib": round(big.peak_kib / 1024, 1),
        "idle_rss_mib": round(idle_kib / 1024, 1),
    }


# ------------------------------------------------------------------ the run
def run(
    quick: bool, only: list[str] | None = None, subscribers: int = 0
) -> tuple[list[Row], list[Result]]:
    notes: list[str] = []
    window, rounds, seq_window = (0.5, 2, 0.5) if quick else (2.0, 4, 2.0)
    servers = available(only, notes)
    results = [Result(_target(s, k)) for s in servers for k in ("fake", "bare")]
    live: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-servers-") as tmp:
        try:
            for r in results:
                start(r.target, Path(tmp))
            deadline = time.monotonic() + STARTUP_TIMEOUT
            for r in results:
                try:
                    ready(r.target, deadline)
                    live.append(r)
                except (RuntimeError, OSError, ValueError, KeyError) as exc:
                    notes.append(f"{r.target.name}: failed to start")
                    print(f"bench_servers: {r.target.name}: {exc}", file=sys.stderr)
                    stop(r.target)
            for r in live:  # warm-up
                _window(r, CONNECTIONS, 0.5)
            for i in range(rounds):
                k = i % len(live)
                for r in live[k:] + live[:k]:
                    w, cpu = _window(r, CONNECTIONS, window)
                    r.windows.append(w)
                    r.cpu.append(cpu)
                    w, cpu = _window(r, 1, seq_window / 2)
                    r.seq.append(w)
                    r.seq_cpu.append(cpu)
            fakes = [r for r in live if r.target.kind == "fake"]
            for r in fakes:
                r.keepalive = check_keepalive(r.target)
                try:
                    r.socket_ok = check_socket(r.target)
                except Exception as exc:
                    r.socket_ok = f"FAILED: {type(exc).__name__}: {exc}"
            for i, r in enumerate(fakes):
                try:
                    r.stall = render_stall(r.target, i)
                except Exception as exc:
                    r.stall = {"error": f"{type(exc).__name__}: {exc}"}
            idle: dict[int, float] = {}

            def measure_idle(r: Result) -> None:
                try:
                    idle[id(r)] = idle_close_seconds(r.target)
                except OSError:
                    idle[id(r)] = float("nan")

            threads = [threading.Thread(target=measure_idle, args=(r,)) for r in fakes]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            for r in fakes:
                r.idle_seconds = idle[id(r)]

            def measure_sigterm(r: Result) -> None:
                try:
                    r.sigterm = sigterm(r.target)
                except Exception as exc:
                    r.sigterm = {"error": f"{type(exc).__name__}: {exc}"}

            threads = [threading.Thread(target=measure_sigterm, args=(r,)) for r in fakes]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        finally:
            for r in results:
                stop(r.target)
        if subscribers:
            from .bench_fanout import _raise_fd_limit

            _raise_fd_limit(4 * subscribers + 1024)
            for r in [r for r in live if r.target.kind == "fake"]:
                try:
                    r.fanout = fanout(r.target.group, subscribers, Path(tmp))
                except Exception as exc:
                    r.fanout = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"fan-out, {LABELS[r.target.group]}: {r.fanout}", flush=True)
    return rows_for(live, notes), live


def rows_for(live: list[Result], notes: list[str]) -> list[Row]:
    by = {(r.target.group, r.target.kind): r for r in live}
    today = by.get(("werkzeug", "fake"))
    rows: list[Row] = []
    for server in SERVERS:
        fake, bare = by.get((server, "fake")), by.get((server, "bare"))
        if fake is None:
            continue
        median, p99 = fake.latency_ms()
        seq_median, seq_p99 = fake.latency_ms(seq=True)
        extra = {
            "rps_rounds": [round(w.rps) for w in fake.windows],
            "latency_ms_p50": round(median, 3),
            "latency_ms_p99": round(p99, 3),
            "sequential_rps": round(fake.rps(seq=True)),
            "sequential_ms_p50": round(seq_median, 3),
            "sequential_ms_p99": round(seq_p99, 3),
            "server_cpu_us_per_request": round(fake.cpu_us()),
            "connects_per_request": round(fake.connects_per_request(), 3),
            "errors": sum(w.errors for w in fake.windows),
            "keepalive_two_requests_one_connection": fake.keepalive,
            "idle_connection_closed_after_s": fake.idle_seconds,
            "websocket": fake.socket_ok,
            "sigterm": fake.sigterm,
            "render_stall": fake.stall,
            "fanout": fake.fanout,
        }
        if bare is not None:
            extra["bare_rps"] = round(bare.rps())
            extra["fake_vs_bare"] = round(fake.rps() / bare.rps(), 3)
        rows.append(
            Row(
                "servers",
                f"signed Task/Detail, {CONNECTIONS} keep-alive clients: fake on {LABELS[server]}",
                fake.rps(),
                "req/s",
                baseline=today.rps() if today else None,
                baseline_label="fake on werkzeug (today)",
                median=median,
                p99=p99,
                note=f"fake/bare {extra.get('fake_vs_bare', '-')}",
                extra=extra,
            )
        )
        rows.append(
            Row(
                "servers",
                f"sequential latency, one connection: fake on {LABELS[server]}",
                seq_median,
                "ms",
                baseline=today.latency_ms(seq=True)[0] if today else None,
                baseline_label="fake on werkzeug (today)",
                median=seq_median,
                p99=seq_p99,
            )
        )
    if rows:
        rows[0].note = "; ".join([rows[0].note, f"load {os.getloadavg()[0]:.2f}", *notes])
    return rows


def print_table(live: list[Result]) -> None:
    by = {(r.target.group, r.target.kind): r for r in live}
    today = by.get(("werkzeug", "fake"))
    head = (
        f"{'server':<34} {'req/s':>7} {'x today':>7} {'x bare':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'seq p50':>7} {'seq p99':>7} {'cpu us':>6} {'conn/req':>8} {'2 on 1':>6} "
        f"{'idle s':>6}  websocket / SIGTERM"
    )
    print(head)
    for server in SERVERS:
        fake, bare = by.get((server, "fake")), by.get((server, "bare"))
        if fake is None:
            continue
        median, p99 = fake.latency_ms()
        sm, sp = fake.latency_ms(seq=True)
        x_today = fake.rps() / today.rps() if today else float("nan")
        x_bare = fake.rps() / bare.rps() if bare else float("nan")
        idle = fake.idle_seconds if fake.idle_seconds is not None else float("nan")
        print(
            f"{LABELS[server]:<34} {fake.rps():>7,.0f} {x_today:>7.2f} {x_bare:>6.2f} "
            f"{median:>7.2f} {p99:>7.2f} {sm:>7.2f} {sp:>7.2f} {fake.cpu_us():>6.0f} "
            f"{fake.connects_per_request():>8.3f} {fake.keepalive!s:>6} {idle:>6.1f}  "
            f"{fake.socket_ok}; SIGTERM {fake.sigterm}"
        )
        print(f"{'':<34} render stall: {fake.stall}")
        if fake.fanout:
            print(f"{'':<34} fan-out: {fake.fanout}")
        if bare is not None:
            bm, bp = bare.latency_ms()
            print(
                f"{'  bare Flask, same server':<34} {bare.rps():>7,.0f} {'':>7} {'':>6} "
                f"{bm:>7.2f} {bp:>7.2f} {bare.latency_ms(seq=True)[0]:>7.2f} "
                f"{bare.latency_ms(seq=True)[1]:>7.2f} {bare.cpu_us():>6.0f} "
                f"{bare.connects_per_request():>8.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=SERVERS)
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument(
        "--subscribers", type=int, default=None, help="fan-out round size (0: none)"
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]
    n = args.subscribers if args.subscribers is not None else (200 if args.quick else 1000)
    rows, live = run(args.quick, args.only, n)
    print(f"load average at start {load:.2f}, at end {os.getloadavg()[0]:.2f}")
    print_table(live)
    if rows and rows[0].note:
        print("notes:", rows[0].note)
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in rows], indent=2, default=str))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
