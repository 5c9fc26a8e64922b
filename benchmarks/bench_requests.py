"""Request overhead: signed ``Task/Detail`` requests per second against the fake, next to
a bare Flask endpoint on the same server set-up and two peers serving a canned stub of
the same endpoint (WireMock and Prism), all hammered by one client in this run.

Where ``wrk`` is installed (a C load generator, the Debian package ``wrk``), it drives
every round (:func:`wrk_hammer`: one thread, ``CONNECTIONS`` connections, a Lua script
cycling through :data:`WRK_NONCES` requests signed here first); otherwise the Python
client does, and the rows say which (``extra["driver"]``, the first row's note). After
the rounds, each target gets one more round on a single connection (what a sequential
test suite pays per request), and every round's server CPU is read from ``/proc`` for
requests per server CPU-second.

The Python client (:func:`hammer`) is one thread driving ``CONNECTIONS`` keep-alive HTTP/1.1
connections through ``selectors``, pre-formatted requests signed afresh for every send
(x-api-key, x-nonce, x-signature; the peers get the same headers and ignore them). It
spends about 0.1 ms of CPU a request, kernel TCP work included (``extra``:
``client_cpu_us_per_request``), a fraction of a Python server's, so these are what is
measured; at several thousand requests/s (a warm WireMock) the client's core becomes a
limit too, so a figure that high is a lower bound. When a server answers
``Connection: close`` (werkzeug always does) the client reconnects, and the connect
counts in that request's latency. Each target is a subprocess (its own GIL); targets
take turns for ``window`` seconds, in a rotated order each round (A B C D, B C D A,
...), so drift hits them alike; the figure is the median of the rounds' requests/s, the
latencies are pooled over the rounds.

Targets, each on a free loopback port:

- the fake, signed requests on a real task id (created and finished first), as
  ``mock-wiro serve --speed 0`` (gevent's pywsgi, its default; and ``--server werkzeug``,
  werkzeug's ``make_server(threaded=True)``, the server of ``MockWiroServer``) and, for the
  choice of server (full run only), under gunicorn (1 worker, gthread and gevent);
- a bare Flask app returning the same answer as a constant, on each of those set-ups;
- WireMock 3 (the ``wiremock`` npm package's standalone jar, run with ``java -jar``):
  its defaults (request journal on, unbounded; chunked answers), the canned body from
  ``peers/wiremock/__files``; its JIT gets 12 s of traffic before the first round in
  the full run (it keeps getting faster for about that long), 1 s in ``--quick``;
- Prism 5 (``@stoplight/prism-cli``) on ``peers/prism/openapi.json``, which declares the
  three auth headers and the body, so Prism validates them; its defaults otherwise
  (3 s of warm-up traffic, 1 s in ``--quick``).

In ``--quick`` the peers' JITs are cold, so their comparisons are shown but not judged.

The peers come from ``benchmarks/peers/package.json`` (``npm ci --prefix
benchmarks/peers`` on first use); a target whose tool is missing (java, node, gunicorn,
gevent) is skipped with a note.

    python -m benchmarks.bench_requests [--quick] [--client=auto|wrk|python]
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import importlib.util
import itertools
import json
import math
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import Row, free_port, summary

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "peers"
CANNED = PEERS / "wiremock" / "__files" / "task_detail.json"
OPENAPI = PEERS / "prism" / "openapi.json"
PATH = "/v1/Task/Detail"
RUN = "/v1/Run/minimax/hailuo-2-3-fast"
API_KEY = "bench-key-0123456789abcdef0123456789abcdef"
API_SECRET = "bench-secret-0123456789abcdef0123456789ab"
IMAGE_URL = "https://example.com/cat.jpg"  # not fetched: a placeholder 1280x720 JPEG
CONNECTIONS = 8
"""Concurrent client connections, for every target (gunicorn gets as many threads)."""
THROUGHPUT_TARGET = 0.8
"""Issue 14: a signed Task/Detail at >= 0.8x a bare Flask endpoint on the same server."""
PYTHON_CLIENT = "the Python client (one thread, selectors)"
"""The fallback driver's name, as the rows say it."""
STARTUP_TIMEOUT = 90.0


# ------------------------------------------------------------------ the client
def _signer(key: str, secret: str, host: str, body: bytes) -> Callable[[], bytes]:
    """A function returning the next request: the same POST, signed with a fresh nonce."""
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nx-api-key: {key}\r\n"
    ).encode()
    nonces = itertools.count(int(time.time() * 1000))
    key_b, secret_b = key.encode(), secret.encode()

    def make() -> bytes:
        nonce = str(next(nonces)).encode()
        signature = hmac.new(key_b, secret_b + nonce, hashlib.sha256).hexdigest().encode()
        return b"%sx-nonce: %s\r\nx-signature: %s\r\n\r\n%s" % (head, nonce, signature, body)

    return make


def parse_response(buf: bytes) -> tuple[int, int, bool] | None:
    """(status, bytes used, server closes) of the first complete response in ``buf``,
    or None while it is incomplete. Content-Length and chunked bodies."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, close = None, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            close = value == "close"
    pos = end + 4
    if chunked:
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(buf[pos:eol].split(b";")[0], 16)
            if size == 0:
                fin = buf.find(b"\r\n", eol + 2)  # no trailers: the next CRLF ends it
                return None if fin < 0 else (status, fin + 2, close)
            pos = eol + 2 + size + 2
            if pos > len(buf):
                return None
    if length is None:
        raise ValueError("a response without Content-Length or chunked framing")
    return (status, pos + length, close) if len(buf) >= pos + length else None


@dataclass
class Window:
    """What one target did in one window."""

    done: int
    errors: int
    seconds: float
    connects: int
    latencies: list[float]  # each request's (the Python client); empty with wrk
    client_cpu: float  # CPU seconds the client spent
    server_cpu: float = math.nan  # CPU seconds the target's processes spent
    quantiles: tuple[float, float] | None = None  # (median, p99) s, as wrk reports them

    @property
    def server_per_cpu_second(self) -> float:
        """Requests per CPU-second of the server's processes."""
        return self.done / self.server_cpu if self.server_cpu > 0 else math.nan

    @property
    def client_us(self) -> float:
        """Client CPU per completed request, in µs."""
        return self.client_cpu / max(1, self.done) * 1e6

    @property
    def rps(self) -> float:
        return self.done / self.seconds


class _Conn:
    __slots__ = ("buf", "sock", "start")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.buf = b""
        self.start = 0.0


def hammer(port: int, make: Callable[[], bytes], connections: int, seconds: float) -> Window:
    """Keep ``connections`` requests in flight against ``127.0.0.1:port`` for ``seconds``;
    count the 200s completed in that time and time each from send (or connect) to its
    last byte."""
    sel = selectors.DefaultSelector()
    latencies: list[float] = []
    done = errors = connects = 0

    def send(c: _Conn) -> None:
        nonlocal connects, errors
        c.start = time.perf_counter()
        for _attempt in range(3):
            if c.sock is None:
                s = socket.create_connection(("127.0.0.1", port))  # loopback: immediate
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, c)
                c.sock, c.buf = s, b""
                connects += 1
            try:
                c.sock.sendall(make())  # under 1 KiB: fits the socket buffer
                return
            except OSError:  # the server dropped a kept-alive connection: reconnect
                drop(c)
                errors += 1
        raise RuntimeError(f"cannot send to 127.0.0.1:{port}")

    def drop(c: _Conn) -> None:
        if c.sock is not None:
            sel.unregister(c.sock)
            c.sock.close()
            c.sock = None

    conns = [_Conn() for _ in range(connections)]
    cpu = time.thread_time()
    started = time.perf_counter()
    deadline = started + seconds
    try:
        for c in conns:
            send(c)
        while (left := deadline - time.perf_counter()) > 0:
            for key, _ in sel.select(left):
                c = key.data
                assert c.sock is not None
                try:
                    data = c.sock.recv(1 << 18)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:  # closed with a request pending
                    errors += 1
                    drop(c)
                    send(c)
                    continue
                c.buf += data
                parsed = parse_response(c.buf)
                if parsed is None:
                    continue
                status, used, close = parsed
                now = time.perf_counter()
                if now > deadline:
                    continue
                if status == 200:
                    done += 1
                    latencies.append(now - c.start)
                else:
                    errors += 1
                c.buf = c.buf[used:]
                if close:
                    drop(c)
                send(c)
    finally:
        for c in conns:
            drop(c)
        sel.close()
    return Window(done, errors, seconds, connects, latencies, time.thread_time() - cpu)


# ------------------------------------------------------------------ wrk, where installed
WRK_NONCES = 4000
"""Signed header sets a wrk thread cycles through (the fake accepts a nonce again unless
``--reject-reused-nonces``; wrk's Lua has no HMAC, so they are signed here, first)."""
WRK_SCRIPT = """
local requests = {}
local n = 0
function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    local nonce, signature = line:match("^(%S+) (%S+)$")
    requests[#requests + 1] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/json", ["x-api-key"] = args[2],
      ["x-nonce"] = nonce, ["x-signature"] = signature}, args[3])
  end
  f:close()
end
function request()
  n = n % #requests + 1
  return requests[n]
end
function done(summary, latency, requests)
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "status": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_version() -> str | None:
    """``wrk 4.1.0`` when wrk is installed, else None (the Python client drives)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    shown = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    words = (shown.stdout + shown.stderr).split()
    return f"wrk {words[1]}" if len(words) > 1 and words[0] == "wrk" else "wrk"


def wrk_hammer(t: Target, connections: int, seconds: float, tmp: Path) -> Window:
    """One window driven by wrk (one thread, ``connections`` keep-alive connections):
    2xx counted, everything else an error; the client's CPU from the child's rusage."""
    script, nonces = tmp / "sign.lua", tmp / "nonces.txt"
    if not script.exists():
        script.write_text(WRK_SCRIPT)
        first = int(time.time() * 1000)
        key, secret = API_KEY.encode(), API_SECRET.encode()
        nonces.write_text(
            "".join(
                f"{n} {hmac.new(key, secret + str(n).encode(), hashlib.sha256).hexdigest()}\n"
                for n in range(first, first + WRK_NONCES)
            )
        )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = process_cpu(t)
    done = subprocess.run(
        [
            shutil.which("wrk") or "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{t.port}{PATH}",
            "--",
            str(nonces),
            API_KEY,
            t.body.decode(),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    server_cpu = process_cpu(t) - server_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK "))
    got = json.loads(line[4:])
    errors = got["status"] + got["connect"] + got["read"] + got["write"] + got["timeout"]
    client = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Window(
        done=got["requests"] - got["status"],
        errors=errors,
        seconds=got["duration_us"] / 1e6,
        connects=0,
        latencies=[],
        client_cpu=client,
        server_cpu=server_cpu,
        quantiles=(got["p50_us"] / 1e6, got["p99_us"] / 1e6),
    )


def process_cpu(t: Target) -> float:
    """CPU seconds (user + system) the target's process group has used so far: the
    server and its children (gunicorn's worker), from /proc."""
    if t.proc is None:
        return math.nan
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == t.proc.pid:  # the process group (start_new_session)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def drive(t: Target, connections: int, seconds: float, tmp: Path, driver: str | None) -> Window:
    """One window on ``t``: wrk when ``driver`` names it, else the Python client."""
    if driver is not None:
        return wrk_hammer(t, connections, seconds, tmp)
    make = _signer(API_KEY, API_SECRET, f"127.0.0.1:{t.port}", t.body)
    server_before = process_cpu(t)
    window = hammer(t.port, make, connections, seconds)
    window.server_cpu = process_cpu(t) - server_before
    return window


def post(port: int, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
    """One signed JSON POST (http.client): (status, parsed body)."""
    body = json.dumps(payload).encode()
    raw = _signer(API_KEY, API_SECRET, f"127.0.0.1:{port}", body)()
    headers = dict(
        line.split(": ", 1) for line in raw.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]
    )
    headers.pop("Host"), headers.pop("Content-Length")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


# ------------------------------------------------------------------ the targets
@dataclass
class Target:
    """One server to hammer: how to start it, and (once up) the body to send it."""

    name: str
    group: str  # "serve", "werkzeug", "gthread", "gevent" or "peer"
    kind: str  # "fake", "bare" or "peer"
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    warmup: float = 1.0  # seconds of traffic before the first round
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    body: bytes = b""
    taskid: str = ""
    token: str = ""
    windows: list[Window] = field(default_factory=list)
    single: list[Window] = field(default_factory=list)  # one connection, sequential

    def log_tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-2000:]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCK_WIRO_", "WIRO_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["SCARF_ANALYTICS"] = "false"
    return env


def _mock_wiro_cmd() -> list[str]:
    script = Path(sys.executable).with_name("mock-wiro")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mock_wiro"]


GROUP_LABELS = {
    "serve": "gevent pywsgi",
    "plain": "plain gevent pywsgi (no access log, no bounds)",
    "werkzeug": "werkzeug threaded",
    "gthread": f"gunicorn gthread (1 worker, {CONNECTIONS} threads)",
    "gevent": "gunicorn gevent (1 worker)",
}


def server_groups(quick: bool, notes: list[str]) -> list[str]:
    """The Python server set-ups to measure: gevent pywsgi as ``mock-wiro serve`` runs it
    (its handler, bounds and access log; the bare baseline on the same) and werkzeug
    (``--server werkzeug``, and ``MockWiroServer`` in a test process); in the full run
    also plain gevent pywsgi (the fake's app and the bare one with none of the serve
    handler's work: what the app alone costs) and gunicorn gthread and gevent, when
    installed."""
    groups = ["serve", "werkzeug"]
    if quick:  # the figures only; the choice of server is the full run's
        return groups
    groups.append("plain")
    if importlib.util.find_spec("gunicorn") is None:
        notes.append("gunicorn not installed: no gunicorn figures")
        return groups
    groups.append("gthread")
    if importlib.util.find_spec("gevent") is None:
        notes.append("gevent not installed: no gevent figures")
    else:
        groups.append("gevent")
    return groups


_PORT = ["--port", "{port}"]


def python_target(group: str, kind: str) -> Target:
    """The fake (instant clock, one project with API_KEY/API_SECRET) or the bare Flask app
    on one server set-up; the fake on werkzeug and on gevent is ``mock-wiro serve`` itself,
    and the bare app on gevent runs on ``mock-wiro serve``'s own server (``--as-serve``)."""
    label = f"{'fake' if kind == 'fake' else 'bare Flask'}, {GROUP_LABELS[group]}"
    if group in ("serve", "werkzeug"):
        if kind == "fake":
            cmd = [
                *_mock_wiro_cmd(),
                "serve",
                "--server",
                "gevent" if group == "serve" else "werkzeug",
                "--port",
                "{port}",
                "--api-key",
                API_KEY,
                "--api-secret",
                API_SECRET,
                "--balance",
                "1000000",
                "--speed",
                "0",
            ]
            shown = (
                " = mock-wiro serve" if group == "serve" else " = mock-wiro serve --server werkzeug"
            )
            return Target(label + shown, group, kind, cmd)
        if group == "serve":  # the same server: mock-wiro serve's pywsgi handler
            cmd = [sys.executable, "-m", "benchmarks.peers.pywsgi_server", "bare", "--as-serve"]
            return Target(label + ", as mock-wiro serve runs it", group, kind, cmd + _PORT)
        cmd = [sys.executable, "-m", "benchmarks.peers.servers", "bare", *_PORT]
        return Target(label, group, kind, cmd)
    if group == "plain":
        cmd = [sys.executable, "-m", "benchmarks.peers.pywsgi_server", kind, *_PORT]
        env = {"BENCH_API_KEY": API_KEY, "BENCH_API_SECRET": API_SECRET}
        return Target(label, group, kind, cmd, env)
    threads = ["--threads", str(CONNECTIONS)] if group == "gthread" else []
    app = "fake_app()" if kind == "fake" else "bare_app()"
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--worker-class",
        group,
        *threads,
        "--bind",
        "127.0.0.1:{port}",
        f"benchmarks.peers.servers:{app}",
    ]
    env = {"BENCH_API_KEY": API_KEY, "BENCH_API_SECRET": API_SECRET}
    return Target(label, group, kind, cmd, env)


def _peer_tools(notes: list[str]) -> tuple[Path | None, Path | None]:
    """(WireMock jar, prism script), installing the npm pins on first use."""
    modules = PEERS / "node_modules"
    prism = modules / ".bin" / "prism"
    jars = sorted((modules / "wiremock" / "build").glob("wiremock-standalone-*.jar"))
    if not (prism.exists() and jars):
        npm = shutil.which("npm")
        if npm is None:
            notes.append("npm missing: no WireMock, no Prism")
            return None, None
        print("installing the peers: npm ci --prefix benchmarks/peers ...", flush=True)
        subprocess.run(
            [npm, "ci", "--prefix", str(PEERS), "--ignore-scripts", "--no-audit", "--no-fund"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=_clean_env(),
        )
        jars = sorted((modules / "wiremock" / "build").glob("wiremock-standalone-*.jar"))
    jar = jars[-1] if jars and shutil.which("java") else None
    if jar is None:
        notes.append("java or the WireMock jar missing: no WireMock")
    node_ok = prism.exists() and shutil.which("node")
    if not node_ok:
        notes.append("node or prism missing: no Prism")
    return jar, prism if node_ok else None


def _prism_version() -> str:
    package = PEERS / "node_modules" / "@stoplight" / "prism-cli" / "package.json"
    with contextlib.suppress(OSError, ValueError):
        return str(json.loads(package.read_text())["version"])
    return "?"


def peer_targets(notes: list[str]) -> list[Target]:
    """WireMock (its defaults: unbounded journal, chunked answers) and Prism."""
    jar, prism = _peer_tools(notes)
    found = []
    if jar is not None:
        cmd = [
            shutil.which("java") or "java",
            "-jar",
            str(jar),
            "--port",
            "{port}",
            "--bind-address",
            "127.0.0.1",
            "--root-dir",
            str(PEERS / "wiremock"),
            "--disable-banner",
        ]
        found.append(Target(f"WireMock {jar.stem.rsplit('-', 1)[-1]}", "peer", "peer", cmd))
    if prism is not None:
        cmd = [str(prism), "mock", str(OPENAPI), "--host", "127.0.0.1", "--port", "{port}"]
        found.append(Target(f"Prism {_prism_version()}", "peer", "peer", cmd))
    return found


def start(t: Target, tmp: Path) -> None:
    """Spawn the target on a free port, in its own process group, output to a log."""
    t.port = free_port()
    t.log = tmp / f"{abs(hash(t.name))}.log"
    cmd = [part.replace("{port}", str(t.port)) for part in t.cmd]
    with t.log.open("wb") as log:
        t.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**_clean_env(), **t.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: gunicorn's worker, java's threads
        )


def stop(t: Target) -> None:
    """SIGTERM the target's process group (it was started in its own), then SIGKILL."""
    if t.proc is None or t.proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(t.proc.pid, signal.SIGTERM)
    try:
        t.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(t.proc.pid, signal.SIGKILL)
        t.proc.wait()


def _socket_replays(t: Target) -> bool:
    """Whether the target's WebSocket replays the finished task up to its last frame."""
    import websocket  # websocket-client, a dependency of the fake

    ws = websocket.create_connection(f"ws://127.0.0.1:{t.port}/v1", timeout=10)
    try:
        ws.send(json.dumps({"type": "task_info", "tasktoken": t.token}))
        while True:
            frame = json.loads(ws.recv())
            if frame.get("type") == "task_postprocess_end":
                return bool(frame.get("message"))
            if frame.get("type") == "error":
                return False
    finally:
        ws.close()


def ready(t: Target, deadline: float) -> None:
    """Wait until the target answers HTTP; for the fake, create a task, wait for it to
    finish and check its socket replays it; check the Task/Detail answer is the right
    one (the stubs: byte for byte the canned one; the fake: the same fields)."""
    assert t.proc is not None
    canned = json.loads(CANNED.read_text())
    while True:
        if t.proc.poll() is not None:
            raise RuntimeError(f"{t.name} exited {t.proc.returncode}:\n{t.log_tail()}")
        try:
            status, answer = post(t.port, PATH, {"taskid": canned["tasklist"][0]["id"]})
            break
        except (OSError, http.client.HTTPException, ValueError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{t.name} not up in time:\n{t.log_tail()}") from None
            time.sleep(0.05)
    t.taskid = canned["tasklist"][0]["id"]
    if t.kind == "fake":
        status, answer = post(t.port, RUN, {"inputImageFirstUrl": IMAGE_URL, "prompt": "waves"})
        if status != 200 or not answer.get("result"):
            raise RuntimeError(f"{t.name}: Run answered {status} {answer}")
        t.taskid, t.token = answer["taskid"], answer["socketaccesstoken"]
        while True:
            status, answer = post(t.port, PATH, {"taskid": t.taskid})
            if status == 200 and answer["tasklist"][0]["status"] == "task_postprocess_end":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{t.name}: task {t.taskid} never finished: {answer}")
            time.sleep(0.05)
        if answer["tasklist"][0].keys() != canned["tasklist"][0].keys():
            raise RuntimeError(f"{t.name}: Task/Detail's fields differ from the canned stub's")
        if not _socket_replays(t):
            raise RuntimeError(f"{t.name}: the WebSocket did not replay the task")
    elif (status, answer) != (200, canned):
        raise RuntimeError(f"{t.name} does not serve the canned Task/Detail: {status}")
    t.body = json.dumps({"taskid": t.taskid}).encode()


def _rotations(items: list[Target], rounds: int) -> Iterator[list[Target]]:
    for r in range(rounds):
        k = r % len(items)
        yield items[k:] + items[:k]


# ------------------------------------------------------------------ the figures
def _rps(t: Target) -> float:
    return statistics.median(w.rps for w in t.windows)


def _latency_ms(t: Target, single: bool = False) -> tuple[float, float]:
    """(median, p99) in ms: pooled over the rounds (the Python client), or the median of
    the rounds' own quantiles (wrk reports quantiles, not each request)."""
    windows = t.single if single else t.windows
    if windows and windows[0].quantiles is not None:
        return (
            statistics.median(w.quantiles[0] for w in windows if w.quantiles) * 1000,
            statistics.median(w.quantiles[1] for w in windows if w.quantiles) * 1000,
        )
    median, p99 = summary([x for w in windows for x in w.latencies])
    return median * 1000, p99 * 1000


def _per_cpu_second(t: Target) -> float:
    return statistics.median(w.server_per_cpu_second for w in t.windows)


def _extra(t: Target) -> dict[str, Any]:
    median, p99 = _latency_ms(t)
    return {
        "target": t.name,
        "rps_rounds": [round(w.rps, 1) for w in t.windows],
        "requests": sum(w.done for w in t.windows),
        "errors": sum(w.errors for w in t.windows),
        "connects": sum(w.connects for w in t.windows),
        "latency_ms_median": round(median, 3),
        "latency_ms_p99": round(p99, 3),
        "client_cpu_us_per_request": round(statistics.median(w.client_us for w in t.windows), 1),
        "server_requests_per_cpu_second": round(_per_cpu_second(t), 1),
    }


def rows_for(
    found: list[Target], quick: bool, notes: list[str], driver: str = PYTHON_CLIENT
) -> list[Row]:
    """Throughput rows (fake vs bare per set-up, fake vs each peer per set-up), then a
    latency row per target, its one-connection latency and its requests per server
    CPU-second. Every row's ``extra["driver"]`` names the client that drove it."""
    by = {(t.group, t.kind): t for t in found if t.windows}
    peers = [t for t in found if t.kind == "peer" and t.windows]
    rows: list[Row] = []
    for group, label in GROUP_LABELS.items():
        fake, bare = by.get((group, "fake")), by.get((group, "bare"))
        if fake is None or bare is None:
            continue
        rows.append(
            Row(
                "requests",
                f"signed Task/Detail, fake on {label}",
                _rps(fake),
                "req/s",
                baseline=_rps(bare),
                baseline_label="bare Flask, same server",
                target=f">= {THROUGHPUT_TARGET}x bare Flask",
                met=_rps(fake) / _rps(bare) >= THROUGHPUT_TARGET,
                extra={"fake": _extra(fake), "bare": _extra(bare)},
            )
        )
        for peer in peers if group != "plain" else ():  # plain: the app's share only
            cold = quick  # the peers' JIT compilers (JVM, V8) are not warm yet
            rows.append(
                Row(
                    "requests",
                    f"signed Task/Detail, fake on {label} vs {peer.name}",
                    _rps(fake),
                    "req/s",
                    baseline=_rps(peer),
                    baseline_label=peer.name,
                    target="> 1x (ahead), doing more",
                    met=None if cold else _rps(fake) > _rps(peer),
                    note="peer's JIT not warm in --quick: judged in the full run" if cold else "",
                    extra={"fake": _extra(fake), "peer": _extra(peer)},
                )
            )
    for t in found:
        if not t.windows:
            continue
        median, p99 = _latency_ms(t)
        base = by.get((t.group, "bare")) if t.kind == "fake" else None
        rows.append(
            Row(
                "requests",
                f"latency: {t.name}",
                median,
                "ms",
                baseline=_latency_ms(base)[0] if base else None,
                baseline_label="bare Flask, same server" if base else "",
                median=median,
                p99=p99,
                note="send (or connect) to last byte",
                extra=_extra(t),
            )
        )
    for t in found:
        if not t.single:
            continue
        median, p99 = _latency_ms(t, single=True)
        rows.append(
            Row(
                "requests",
                f"latency, one connection: {t.name}",
                median,
                "ms",
                median=median,
                p99=p99,
                note="one request at a time, as a sequential test suite sends them",
                extra={"target": t.name, "requests": sum(w.done for w in t.single)},
            )
        )
    for t in found:
        if not t.windows or math.isnan(_per_cpu_second(t)):
            continue
        rows.append(
            Row(
                "requests",
                f"requests per server CPU-second: {t.name}",
                _per_cpu_second(t),
                "req/CPU-s",
                note="the target's processes' user + system CPU, from /proc",
                extra={"target": t.name},
            )
        )
    for row in rows:
        row.extra["driver"] = driver
    for t in found:
        if t.windows and (errors := sum(w.errors for w in t.windows)):
            notes.append(f"{t.name}: {errors} errors")
    if rows:
        window = found[0].windows[0].seconds if found and found[0].windows else 0
        rounds = max((len(t.windows) for t in found), default=0)
        head = (
            f"driven by {driver}; {CONNECTIONS} keep-alive connections, one client thread; "
            f"median of {rounds} interleaved {window:g}-s rounds; "
            f"load average at start {os.getloadavg()[0]:.2f}"
        )
        rows[0].note = "; ".join([head, *notes])
    return rows


def run(quick: bool, client: str = "auto") -> list[Row]:
    """Start every target, warm each, then interleave rounds (then one round on one
    connection each); stop them all. ``client``: ``auto`` (wrk when installed),
    ``wrk`` or ``python``."""
    notes: list[str] = []
    wrk = wrk_version() if client in ("auto", "wrk") else None
    if client == "wrk" and wrk is None:
        raise RuntimeError("--client wrk: wrk is not installed (apt-get install wrk)")
    if client == "auto" and wrk is None:
        notes.append("wrk not installed: the Python client drove (a lower bound above ~3,000/s)")
    driver = wrk or PYTHON_CLIENT
    # wrk counts whole seconds
    window, rounds = ((1.0, 2) if wrk else (0.4, 2)) if quick else (2.0, 5)
    found = [python_target(g, k) for g in server_groups(quick, notes) for k in ("fake", "bare")]
    found += peer_targets(notes)
    for t in found:  # JIT compilers need traffic to warm up; WireMock's takes long
        if t.name.startswith("WireMock"):
            t.warmup = 1.0 if quick else 12.0
        elif t.kind == "peer":
            t.warmup = 1.0 if quick else 3.0
        else:
            t.warmup = 0.25 if quick else 1.0
    live: list[Target] = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as tmp:
        try:
            for t in found:  # all at once: the JVM's start-up overlaps the others'
                start(t, Path(tmp))
            deadline = time.monotonic() + STARTUP_TIMEOUT
            for t in found:
                try:
                    ready(t, deadline)
                    live.append(t)
                except (RuntimeError, OSError, ValueError, KeyError) as exc:
                    notes.append(f"{t.name} skipped (failed to start)")
                    print(f"bench_requests: {t.name}: {exc}", file=sys.stderr)
                    stop(t)
            for t in live:
                drive(t, CONNECTIONS, t.warmup, Path(tmp), wrk)
            for order in _rotations(live, rounds):
                for t in order:
                    t.windows.append(drive(t, CONNECTIONS, window, Path(tmp), wrk))
            for t in live:  # what a sequential test suite pays per request
                t.single.append(drive(t, 1, window, Path(tmp), wrk))
        finally:
            for t in found:
                stop(t)
    if load > (os.cpu_count() or 1) / 2:
        notes.append(f"machine busy at start (load average {load:.2f}): figures are noisy")
    for t in live:
        median, p99 = _latency_ms(t)
        rps = ", ".join(f"{w.rps:,.0f}" for w in t.windows)
        client_us = statistics.median(w.client_us for w in t.windows)
        single = _latency_ms(t, single=True)[0] if t.single else math.nan
        print(
            f"  {t.name:<58} {_rps(t):>7,.0f} req/s (rounds {rps}); latency median "
            f"{median:.2f} ms, p99 {p99:.2f} ms, one connection {single:.2f} ms; "
            f"client {client_us:.0f} µs CPU/req; server {_per_cpu_second(t):,.0f} req/CPU-s",
            flush=True,
        )
    print(f"  driven by {driver}", flush=True)
    rows = rows_for(found, quick, notes, driver)
    for note in notes:
        print(f"  note: {note}", flush=True)
    return rows


if __name__ == "__main__":
    from .__main__ import table

    client = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--client=")), "auto")
    print(table(run(quick="--quick" in sys.argv, client=client)))
