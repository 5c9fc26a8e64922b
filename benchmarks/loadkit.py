"""What the load and soak runs share: the fake in a subprocess, a signed raw-HTTP client,
a callback receiver, a WebSocket follower, the racing clients, and the invariant checks.

One :class:`LoadRun` is one bounded round against a running fake (:class:`ServerProcess`):

1. set-up: every project's balance is set to a known amount; scenarios (by prompt
   marker) and seeded HTTP faults are added through ``/_mock``;
2. load: ``threads`` client threads race ``Run``, ``Task/Detail``, ``Task/Cancel``,
   ``Task/Kill`` (and ``Task/List``, a foreign project's ``Detail``, releases of held
   tasks) for ``seconds``; every task is followed by its own WebSocket subscriber and
   has a ``callbackUrl`` on a loopback receiver; a chaos thread keeps adding socket
   faults, callback faults, ``hang`` faults and one-shot scenarios; a journal tail
   collects every ``fault`` and ``scenario`` entry (and so the tasks whose ``Run``
   response an injected fault lost, which are followed too);
3. drain: HTTP faults are cleared, held tasks released, every task waited for until
   terminal (advancing the fake clock if waiting alone is not enough), every socket
   follower and callback waited for;
4. checks (:meth:`LoadRun.verify`): every task terminal exactly once; REST, socket and
   callback agree; balances add up to the cent; stops and scenarios ended as they must;
   every 5xx (and every dropped connection) was injected.

Nothing here sleeps to wait for the fake: waits go through ``/_mock/.../wait``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import websocket

from mock_wiro.settings import KILLED_PEXIT, PRICE_TABLE_USD, RUN_PATH
from mock_wiro_fixtures import image_bytes

__all__ = [
    "DEFAULT_PROJECTS",
    "SETTLE_SECONDS",
    "SLACK",
    "Check",
    "LoadConfig",
    "LoadResult",
    "LoadRun",
    "ProcSample",
    "ServerProcess",
    "create_projects",
    "load_round",
    "quiet_baseline",
    "render_summary",
    "settle",
]

TERMINAL = ("task_postprocess_end", "task_cancel")
CANCEL_REFUSED = "Task is not in a cancellable state."
KILL_REFUSED_PREFIX = "Task could not be killed: "
NO_TASK = "There is no task yet."
FAULT_HEADER = "X-Mock-Wiro-Fault"
INVALID_CALLBACK = "Optional: Webhook URL for task completion notifications"  # [seed]
REQUEST_TIMEOUT = 30.0  # seconds; an injected hang holds a request at most 2 s
_nonces = itertools.count(int(time.time() * 1000))


# ---------------------------------------------------------------------------- the server
@dataclass(frozen=True)
class ProcSample:
    """One look at a process through /proc."""

    threads: int
    fds: int
    rss_kib: int

    def __str__(self) -> str:
        return f"threads {self.threads}, fds {self.fds}, RSS {self.rss_kib / 1024:.1f} MiB"


PROBE_LAUNCHER = """
import sys
from mock_wiro.launch import main, patch_for
patch_for(sys.argv[1:])  # gevent's patch first, when the server is gevent
import gc, json, os, signal, threading

def dump(signum, frame):
    gc.collect()
    found = {"blocks": sys.getallocatedblocks(), "objects": len(gc.get_objects()),
             "threads": threading.active_count()}
    path = os.environ["MOCK_WIRO_LOAD_PROBE"]
    with open(path + ".tmp", "w") as out:
        json.dump(found, out)
    os.replace(path + ".tmp", path)

signal.signal(signal.SIGUSR1, dump)
sys.exit(main(sys.argv[1:]))
"""
"""``mock-wiro serve`` (the CLI's own ``main``) plus a SIGUSR1 handler that writes the
Python heap's size (``sys.getallocatedblocks()``, gc-tracked objects, after a full
collection) to ``$MOCK_WIRO_LOAD_PROBE``: what the fake *keeps*, which RSS only shows
blurred by the C allocator."""


class ServerProcess:
    """``python -m mock_wiro serve --port 0`` in a subprocess; its output goes to a log file
    (scanned afterwards for tracebacks and for the access log's 5xx statuses)."""

    def __init__(
        self,
        speed: float = 40.0,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
        probe: bool = False,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mock-wiro-load-"))
        self.log_path = self.dir / "server.log"
        self.probe_path = self.dir / "heap.json" if probe else None
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        start = ["-c", PROBE_LAUNCHER] if probe else ["-m", "mock_wiro"]
        cmd = [sys.executable, *start, "serve", "--host", "127.0.0.1", "--port", "0"]
        env = {**(env or {}), "MOCK_WIRO_LOAD_PROBE": str(self.probe_path)} if probe else env
        cmd += ["--speed", f"{speed:g}", "--data-dir", str(self.dir / "data"), *extra]
        self.command = cmd
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        self.pid = self.proc.pid
        self.keep_log = False
        deadline = time.monotonic() + 30
        found = None
        while found is None:
            found = re.search(
                r"REST:\s+(http://\S+)/v1", self.log_path.read_text("utf-8", "replace")
            )
            if found is None:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    text = self.log_path.read_text("utf-8", "replace")
                    self.stop()
                    raise RuntimeError(f"mock-wiro serve did not start:\n{text}")
                time.sleep(0.02)  # polling a log file for the banner: nothing to wait on
        self.url = found.group(1)
        self.base_url = self.url + "/v1"
        self.socket_url = "ws" + self.url[len("http") :] + "/v1"

    def sample(self) -> ProcSample:
        """The server's thread count, open file descriptors and RSS, from /proc."""
        threads = rss = 0
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Threads:"):
                    threads = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        return ProcSample(threads, len(os.listdir(f"/proc/{self.pid}/fd")), rss)

    def heap(self, timeout: float = 30.0) -> dict[str, int]:
        """The Python heap of a ``probe=True`` server: allocated blocks, objects, threads."""
        assert self.probe_path is not None, "start the server with probe=True"
        self.probe_path.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self.probe_path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not answer SIGUSR1")
            time.sleep(0.02)  # a file the server writes: nothing to wait on
        found: dict[str, int] = json.loads(self.probe_path.read_text())
        return found

    def log_offset(self) -> int:
        """The log's current size (a round reads the log from there)."""
        return self.log_path.stat().st_size

    def log_since(self, offset: int) -> str:
        """The log from ``offset`` on."""
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def stop(self) -> int | None:
        """SIGTERM, wait; the exit status (None if it had to be killed)."""
        code: int | None = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            code = self.proc.returncode
        self._log.close()
        if not self.keep_log:
            shutil.rmtree(self.dir, ignore_errors=True)
        return code

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_ACCESS = re.compile(
    r'"(?:\x1b\[[0-9;]*m)*([A-Z]+) (\S+) HTTP/1\.[01](?:\x1b\[[0-9;]*m)*" (\d{3}) '
)


def access_statuses(log: str) -> Counter[tuple[str, int]]:
    """(path without query, status) counts from werkzeug's access log lines."""
    found: Counter[tuple[str, int]] = Counter()
    for match in _ACCESS.finditer(log):
        found[(match.group(2).split("?")[0], int(match.group(3)))] += 1
    return found


def _closed_before_answering(exc: BaseException) -> bool:
    """Whether a request failed because its (kept-alive) connection was closed before any
    answer came: the server's idle close racing the request."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, http.client.RemoteDisconnected | ConnectionResetError):
            return True
        seen = (
            seen.__cause__
            or seen.__context__
            or next((a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)), None)
        )
    return False


class Admin:
    """The control surface (``/_mock``), one session per thread."""

    def __init__(self, url: str) -> None:
        self.url = url + "/_mock"
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One control request. A kept-alive connection the server closed for idleness
        (``--keepalive-timeout``) just as this thread reused it fails before any answer
        ("Remote end closed connection without response"): the request never reached the
        fake, so it is sent once more, on a fresh connection. The control surface has no
        HTTP faults, so no other way to lose an answer can look like this."""
        try:
            return self._session().request(method, self.url + path, **kwargs)
        except requests.ConnectionError as exc:
            if not _closed_before_answering(exc):
                raise
        return self._session().request(method, self.url + path, **kwargs)

    def get(self, path: str, **params: str) -> Any:
        response = self._send("GET", path, params=params, timeout=120)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None, ok: bool = True) -> Any:
        response = self._send("POST", path, json=body, timeout=360)
        if ok and response.status_code >= 300:
            raise RuntimeError(f"POST /_mock{path} {body}: {response.status_code} {response.text}")
        return response.json()

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()


# ---------------------------------------------------------------------------- projects
@dataclass(frozen=True)
class ProjectSpec:
    """A project the load runs with: its balance at the start of every round."""

    name: str
    balance: Decimal
    auth: str
    weight: float


DEFAULT_PROJECTS = (
    # above $250: no concurrency limit [docs]
    ProjectSpec("big", Decimal("1000.00"), "signature", 4.0),
    # $40: 4 at once, so code 96 under load
    ProjectSpec("mid", Decimal("40.00"), "signature", 2.0),
    # $3.10: one at once, and below $0.50 (code 97) after ~12 videos
    ProjectSpec("small", Decimal("3.10"), "signature", 1.5),
    # x-api-key only
    ProjectSpec("keyonly", Decimal("500.00"), "apikey", 2.0),
)


@dataclass(frozen=True)
class LoadProject:
    spec: ProjectSpec
    id: str
    api_key: str
    api_secret: str

    @property
    def name(self) -> str:
        return self.spec.name

    def headers(self) -> dict[str, str]:
        """The auth headers (a fresh nonce each time)."""
        headers = {"x-api-key": self.api_key}
        if self.spec.auth == "signature":
            nonce = str(next(_nonces))
            digest = hmac.new(
                self.api_key.encode(), (self.api_secret + nonce).encode(), hashlib.sha256
            )
            headers |= {"x-nonce": nonce, "x-signature": digest.hexdigest()}
        return headers


def create_projects(admin: Admin, specs: Sequence[ProjectSpec]) -> list[LoadProject]:
    """The projects, created on the fake through ``/_mock/projects``."""
    made = []
    for spec in specs:
        body = {"balance": str(spec.balance), "auth": spec.auth, "name": f"load-{spec.name}"}
        found = admin.post("/projects", body)
        made.append(LoadProject(spec, found["id"], found["api_key"], found["api_secret"]))
    return made


# ---------------------------------------------------------------------------- callbacks
class CallbackReceiver:
    """A loopback HTTP server recording every callback body by task id (always 200)."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = defaultdict(list)
        self.unparsed: list[bytes] = []
        self.lock = threading.Lock()
        receiver = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    task_id = str(json.loads(raw)["tasklist"][0]["id"])
                except (ValueError, KeyError, IndexError, TypeError):
                    with receiver.lock:
                        receiver.unparsed.append(raw)
                else:
                    with receiver.lock:
                        receiver.bodies[task_id].append(raw)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # bursts of callbacks when many tasks end at once

        self.server = Server(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, task_id: str) -> list[bytes]:
        with self.lock:
            return list(self.bodies.get(task_id, []))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# ---------------------------------------------------------------------------- the socket
@dataclass
class SocketSession:
    """One WebSocket connection of a follower: the raw frames it read and how it ended."""

    frames: list[str] = field(default_factory=list)
    end: str = ""  # complete | closed (by the server, a code) | error | timeout | error-frame
    close_code: int | None = None
    error: str = ""

    def collapsed(self) -> tuple[list[dict[str, Any]], int]:
        """The frames with back-to-back copies folded (a ``duplicate`` socket fault sends a
        frame twice in a row), and how many copies were folded."""
        out: list[dict[str, Any]] = []
        copies = 0
        previous = None
        for raw in self.frames:
            if raw == previous:
                copies += 1
                continue
            previous = raw
            out.append(json.loads(raw))
        return out, copies


@dataclass
class SocketLog:
    """Everything a follower saw of one task, over its connections."""

    sessions: list[SocketSession] = field(default_factory=list)
    late: bool = False  # subscribed only after the task was known to have ended

    @property
    def final(self) -> SocketSession | None:
        return self.sessions[-1] if self.sessions else None


def follow(socket_url: str, token: str, deadline: float, late: bool = False) -> SocketLog:
    """Follow a task over the WebSocket until its terminal frame (then a ping, read until
    the pong, so a duplicated terminal frame is read too). A connection the server closes
    first is re-opened and the task re-registered: the history replay starts over."""
    log = SocketLog(late=late)
    for _ in range(16):
        session = SocketSession()
        log.sessions.append(session)
        terminal = False
        try:
            ws = websocket.create_connection(socket_url, timeout=2)
        except (OSError, websocket.WebSocketException) as exc:
            session.end, session.error = "error", f"connect: {exc!r}"
            if time.monotonic() > deadline:
                return log
            time.sleep(0.1)  # a refused connection: back off a little before retrying
            continue
        try:
            ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
            while True:
                if time.monotonic() > deadline:
                    session.end = "timeout"
                    return log
                try:
                    opcode, frame = ws.recv_data_frame(False)
                except websocket.WebSocketTimeoutException:
                    continue  # the frame buffer resumes where it stopped
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    data = frame.data or b""
                    session.end = "closed"
                    session.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    break
                text = frame.data.decode("utf-8")
                kind = json.loads(text).get("type")
                if kind == "pong":
                    session.end = "complete"
                    return log
                if kind == "error":
                    session.frames.append(text)
                    session.end = "error-frame"
                    return log
                session.frames.append(text)
                if kind in TERMINAL and not terminal:
                    terminal = True
                    ws.send('{"type": "ping"}')
        except (OSError, websocket.WebSocketException, ValueError) as exc:
            session.end, session.error = "error", repr(exc)
        finally:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                ws.close(timeout=2)
            # after a server's close frame websocket-client has already answered it and
            # marked itself disconnected, so close() returns without closing the socket
            ws.shutdown()
        if terminal:
            return log  # closed by a fault right after the terminal frame: nothing missing
    return log


# ---------------------------------------------------------------------------- the load
SCENARIOS: dict[str, dict[str, Any]] = {
    # marker -> scenario (matched by prompt_contains=[[marker]])
    "fail-start": {
        "fail_at": "task_start",
        "pexit": "1",
        "debugerror": "load: the worker failed at start",
    },
    "fail-pre": {
        "fail_at": "task_preprocess_start",
        "pexit": "137",
        "debugerror": "load: OOM in preprocessing",
    },
    "mod": {"moderation": True},
    "hold": {"stay_queued": True},
    "nokill": {"kill_refused": "load: worker not responding"},
    "nocancel": {"cancel_refused": True, "timings": {"task_accept": 20}},
    "slowq": {"timings": {"task_accept": 20}},
    "missing": {"outputs": "missing"},
}
# what a Run carries (weights): a marker, or an uploaded image (good or bad), or nothing
RUN_KINDS = (
    ("plain", 40),
    ("fail-start", 5),
    ("fail-pre", 4),
    ("mod", 3),
    ("hold", 6),
    ("nokill", 6),
    ("nocancel", 4),
    ("slowq", 8),
    ("missing", 3),
    ("upload", 4),
    ("bad_image", 3),
)
SIZES = ((("768P", "6"), 6), (("768P", "10"), 2), (("1080P", "6"), 2))


def http_faults(seed: int) -> list[dict[str, Any]]:
    """The HTTP fault rules of a round (tried in this order), each with its own seed."""
    rules: list[dict[str, Any]] = [
        {"path": "/v1/Task/Detail", "status": 503, "probability": 0.05},
        {"path": "/v1/Task/Detail", "when": "after", "malformed": True, "probability": 0.01},
        {"path": "/v1/Task/Detail", "when": "after", "latency": 0.05, "probability": 0.01},
        {"path": "/v1/Task/*", "reset": True, "probability": 0.005},
        {"path": "/v1/Run/*", "status": 429, "retry_after": 1, "probability": 0.02},
        {"path": "/v1/Run/*", "when": "after", "status": 502, "probability": 0.02},
        {"path": "/v1/Run/*", "when": "after", "reset": True, "probability": 0.01},
        {"path": "/v1/Task/Cancel", "when": "after", "status": 500, "probability": 0.03},
        {"path": "/v1/Task/Kill", "status": 503, "probability": 0.03},
        {"path": "/v1/Task/Kill", "when": "after", "status": 500, "probability": 0.02},
    ]
    for n, rule in enumerate(rules):
        rule["seed"] = f"{seed}:{n}"
    return rules


@dataclass
class LoadConfig:
    seconds: float = 60.0
    threads: int = 16
    seed: int = 1
    max_active: int = 48  # tasks in flight at once (all projects)
    max_tasks: int = 20_000  # tasks in all
    subscribers: int = 96  # socket followers at once
    chaos_interval: float = 0.25  # seconds between chaos actions
    drain_seconds: float = 180.0  # the longest the drain may take
    faults: bool = True
    socket_actions: tuple[str, ...] = ("close", "duplicate", "delay", "drop_on_register")
    callback_actions: tuple[str, ...] = ("twice", "late", "suppress")


@dataclass
class Tracked:
    """One task, as the clients know it."""

    id: str
    token: str
    project: LoadProject
    kind: str  # a RUN_KINDS name
    size: tuple[str, str]
    callback: str
    origin: str  # "run", or "orphan" (its Run response was lost to an injected fault)
    created: float
    stops: list[tuple[str, str]] = field(default_factory=list)  # (cancel|kill, ok|refused|unknown)
    detail_terminals: set[tuple[str, str]] = field(default_factory=set)
    released: bool = False
    socket: SocketLog | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Check:
    """One invariant (``key``: a short stable name): how many things it looked at, and
    what broke it."""

    key: str
    name: str
    checked: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "ok": self.ok,
            "checked": self.checked,
            "failures": len(self.failures),
            "examples": self.failures[:10],
        }


@dataclass
class LoadResult:
    config: LoadConfig
    elapsed: float
    requests: Counter[tuple[str, str]]
    latencies: dict[str, list[float]]
    endings: Counter[str]
    tasks: int
    orphans: int
    late_followers: int
    faults: Counter[str]
    checks: list[Check]
    advanced: bool
    drain_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": vars(self.config),
            "elapsed": self.elapsed,
            "requests": {f"{k} {o}": n for (k, o), n in sorted(self.requests.items())},
            "latency_ms": {
                kind: {"p50": _pct(v, 50) * 1000, "p99": _pct(v, 99) * 1000, "n": len(v)}
                for kind, v in sorted(self.latencies.items())
            },
            "endings": dict(self.endings),
            "tasks": self.tasks,
            "orphans": self.orphans,
            "late_followers": self.late_followers,
            "faults": dict(self.faults),
            "checks": [c.to_json() for c in self.checks],
            "advanced": self.advanced,
            "drain_seconds": self.drain_seconds,
            "ok": self.ok,
            **self.extra,
        }


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def _pick(rng: random.Random, table: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


class LoadRun:
    """One bounded round of load against ``server`` (see the module docs)."""

    def __init__(
        self, server: ServerProcess, projects: Sequence[LoadProject], config: LoadConfig
    ) -> None:
        self.server = server
        self.projects = list(projects)
        self.by_id = {p.id: p for p in self.projects}
        self.config = config
        self.admin = Admin(server.url)
        self.lock = threading.Lock()
        self.tracked: dict[str, Tracked] = {}
        self.live: dict[str, Tracked] = {}  # not yet seen terminal by its follower
        self.recent: deque[Tracked] = deque(maxlen=400)
        self.held: list[Tracked] = []
        self.requests: Counter[tuple[str, str]] = Counter()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.client_rule_hits: Counter[str] = Counter()
        self.client_resets = 0
        self.problems = Check(
            "answers", "every /v1 answer was expected (or carries its fault's mark)"
        )
        self.journal_faults: list[dict[str, Any]] = []
        self.journal_scenarios: list[dict[str, Any]] = []
        self.orphan_ids: set[str] = set()
        self.followers: list[Future[None]] = []
        self.stop_clients = threading.Event()
        self.stop_tail = threading.Event()
        self.chaos_rules: Counter[str] = Counter()
        self.receiver = CallbackReceiver()
        self.pool = ThreadPoolExecutor(max_workers=config.subscribers, thread_name_prefix="follow")
        self.follow_deadline = 0.0
        self._since = {"fault": 0, "scenario": 0}
        self.tail_lock = threading.Lock()
        self.log_offset = server.log_offset()
        self.rule_snapshot: list[dict[str, Any]] = []
        self.endings: Counter[str] = Counter()
        self.notes: set[str] = set()

    # ------------------------------------------------------------------ requests
    def call(
        self,
        session: requests.Session,
        project: LoadProject,
        kind: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> tuple[str, dict[str, Any] | None]:
        """One signed POST; (outcome, parsed body). Outcomes: ``ok``, ``code<n>``,
        ``fault:<status>``, ``malformed``, ``reset``, and (all unexpected) ``http:<status>``,
        ``garbled``, ``timeout``."""
        start = time.perf_counter()
        body: dict[str, Any] | None = None
        try:
            response = session.post(
                f"{self.server.base_url}/{path}",
                headers=project.headers(),
                json=json_body,
                data=data,
                files=files,
                timeout=REQUEST_TIMEOUT,
            )
        except requests.Timeout as exc:
            outcome = "timeout"
            self.problems.fail(f"{kind}: timed out: {exc!r}")
        except requests.ConnectionError:
            outcome = "reset"
            with self.lock:
                self.client_resets += 1
        else:
            mark = response.headers.get(FAULT_HEADER)  # two rules: "mark, mark"
            marked = [m.split(";")[0].strip() for m in mark.split(",")] if mark else []
            rule = marked[-1] if marked else None  # the after rule's, if two
            if marked:
                with self.lock:
                    for one in marked:
                        self.client_rule_hits[one] += 1
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            if response.status_code != 200:
                outcome = (
                    f"fault:{response.status_code}" if rule else f"http:{response.status_code}"
                )
                if not rule:
                    self.problems.fail(
                        f"{kind}: HTTP {response.status_code} with no fault mark: "
                        f"{response.text[:300]}"
                    )
            elif not isinstance(parsed, dict):
                outcome = "malformed" if rule else "garbled"
                if not rule:
                    self.problems.fail(f"{kind}: unparseable 200: {response.text[:300]}")
            else:
                body = parsed
                if parsed.get("result") is True:
                    outcome = "ok"
                else:
                    errors = parsed.get("errors") or [{}]
                    outcome = f"code{errors[0].get('code')}"
        elapsed = time.perf_counter() - start
        with self.lock:
            self.requests[(kind, outcome)] += 1
            self.latencies[kind].append(elapsed)
        return outcome, body

    # ------------------------------------------------------------------ tracking
    def track(self, task: Tracked) -> None:
        with self.lock:
            if task.id in self.tracked:
                return
            self.tracked[task.id] = task
            self.live[task.id] = task
            self.recent.append(task)
            if task.kind == "hold":
                self.held.append(task)
            late = self.stop_clients.is_set()
            self.followers.append(self.pool.submit(self._follow, task, late))

    def _follow(self, task: Tracked, late: bool) -> None:
        try:
            task.socket = follow(self.server.socket_url, task.token, self.follow_deadline, late)
        finally:
            task.done.set()
            with self.lock:
                self.live.pop(task.id, None)

    def _choose(self, rng: random.Random, predicate: Callable[[Tracked], bool]) -> Tracked | None:
        with self.lock:
            pool = [t for t in self.recent if predicate(t)]
        return rng.choice(pool) if pool else None

    # ------------------------------------------------------------------ the clients
    def _client(self, index: int, end: float) -> None:
        rng = random.Random(f"{self.config.seed}:client:{index}")
        session = requests.Session()
        weights = (
            ("run", 30),
            ("detail", 40),
            ("cancel", 10),
            ("kill", 5),
            ("release", 5),
            ("foreign", 3),
            ("list", 3),
        )
        try:
            while not self.stop_clients.is_set() and time.monotonic() < end:
                action = _pick(rng, weights)
                if action == "run":
                    with self.lock:
                        busy = len(self.live) >= self.config.max_active
                        full = len(self.tracked) >= self.config.max_tasks
                    action = "detail" if busy or full else "run"
                try:
                    getattr(self, f"_do_{action}")(session, rng)
                except Exception as exc:  # a crash is a finding, not a silent dead thread
                    self.problems.fail(f"client {index} crashed in {action}: {exc!r}")
                    return
        finally:
            session.close()

    def _do_run(self, session: requests.Session, rng: random.Random) -> None:
        project = _pick(rng, [(p, p.spec.weight) for p in self.projects])
        kind = _pick(rng, RUN_KINDS)
        size = _pick(rng, SIZES)
        callback = INVALID_CALLBACK if rng.random() < 0.03 else self.receiver.url
        marker = f" [[{kind}]]" if kind in SCENARIOS else ""
        fields = {
            "prompt": f"load {rng.randrange(10**6)}{marker}",
            "resolution": size[0],
            "duration": size[1],
            "callbackUrl": callback,
        }
        if kind in ("upload", "bad_image"):
            name = "landscape_16x9.jpg" if kind == "upload" else "too_wide_3x1.jpg"
            fields["inputImageFirstUrl"] = ""
            outcome, body = self.call(
                session,
                project,
                "run",
                RUN_PATH,
                data=fields,
                files={"inputImageFirst": (name, image_bytes(name))},
            )
        else:
            fields["inputImageFirstUrl"] = f"https://example.com/load/{rng.randrange(10**6)}.jpg"
            outcome, body = self.call(session, project, "run", RUN_PATH, json_body=fields)
        if outcome == "ok" and body is not None:
            self.track(
                Tracked(
                    str(body["taskid"]),
                    str(body["socketaccesstoken"]),
                    project,
                    kind,
                    size,
                    callback,
                    "run",
                    time.monotonic(),
                )
            )
        elif outcome in ("code96", "code97") and project.spec.balance <= Decimal(250):
            pass  # the concurrency limit or an empty wallet: expected for the small projects
        elif outcome.startswith(("fault:", "malformed", "reset")):
            pass  # injected; a lost response's task is found through the journal
        else:
            self.problems.fail(f"run on {project.name}: {outcome} {body}")

    def _do_detail(self, session: requests.Session, rng: random.Random) -> None:
        task = self._choose(rng, lambda t: True)
        if task is None:
            return
        ref = {"taskid": task.id} if rng.random() < 0.5 else {"tasktoken": task.token}
        outcome, body = self.call(session, task.project, "detail", "Task/Detail", json_body=ref)
        if outcome == "ok" and body is not None:
            [item] = body["tasklist"]
            if item["id"] != task.id or item["socketaccesstoken"] != task.token:
                self.problems.fail(f"detail {ref}: another task came back: {item['id']}")
            if item["status"] in TERMINAL:
                with self.lock:
                    task.detail_terminals.add((item["status"], item["pexit"]))
        elif not outcome.startswith(("fault:", "malformed", "reset")):
            self.problems.fail(f"detail {task.id}: {outcome} {body}")

    def _do_foreign(self, session: requests.Session, rng: random.Random) -> None:
        """Another project's task: never found [docs]."""
        task = self._choose(rng, lambda t: True)
        others = [p for p in self.projects if p is not (task.project if task else None)]
        if task is None or not others:
            return
        project = rng.choice(others)
        outcome, body = self.call(
            session, project, "foreign", "Task/Detail", json_body={"taskid": task.id}
        )
        if outcome == "code1" and body is not None:
            if body["errors"][0]["message"] != NO_TASK:
                self.problems.fail(f"foreign detail: {body}")
        elif not outcome.startswith(("fault:", "malformed", "reset")):
            self.problems.fail(f"foreign detail of {task.id} by {project.name}: {outcome} {body}")

    def _do_list(self, session: requests.Session, rng: random.Random) -> None:
        project = rng.choice(self.projects)
        outcome, body = self.call(session, project, "list", "Task/List", json_body={"limit": "5"})
        if outcome == "ok" and body is not None:
            for item in body["tasklist"]:
                if item["projectid"] != project.id:
                    self.problems.fail(f"list of {project.name}: {item['id']} is not its task")
        elif not outcome.startswith(("fault:", "malformed", "reset")):
            self.problems.fail(f"list {project.name}: {outcome} {body}")

    def _stop(self, session: requests.Session, rng: random.Random, how: str) -> None:
        def live(t: Tracked) -> bool:
            return not t.done.is_set()

        if how == "cancel" and rng.random() < 0.6:
            queued = ("hold", "slowq", "nocancel")
            task = self._choose(rng, lambda t: live(t) and t.kind in queued)
        else:
            task = self._choose(rng, live)
        if task is None:
            return
        path = "Task/Cancel" if how == "cancel" else "Task/Kill"
        outcome, body = self.call(session, task.project, how, path, json_body={"taskid": task.id})
        if outcome == "ok" and body is not None:
            result = "ok"
            [item] = body["tasklist"]
            if item["status"] != "task_cancel":
                self.problems.fail(f"{how} {task.id} answered ok with status {item['status']}")
        elif outcome == "code1" and body is not None:
            message = body["errors"][0]["message"]
            result = "refused"
            expected = (
                message == CANCEL_REFUSED
                if how == "cancel"
                else (message.startswith(KILL_REFUSED_PREFIX))
            )
            if not expected:
                self.problems.fail(f"{how} {task.id}: unexpected refusal {message!r}")
        elif outcome.startswith(("fault:", "malformed", "reset")):
            result = "unknown"  # an "after" fault: the stop may have happened
        else:
            result = "unknown"
            self.problems.fail(f"{how} {task.id}: {outcome} {body}")
        with self.lock:
            task.stops.append((how, result))

    def _do_cancel(self, session: requests.Session, rng: random.Random) -> None:
        self._stop(session, rng, "cancel")

    def _do_kill(self, session: requests.Session, rng: random.Random) -> None:
        self._stop(session, rng, "kill")

    def _do_release(self, session: requests.Session, rng: random.Random) -> None:
        now = time.monotonic()
        with self.lock:
            ready = [t for t in self.held if not t.released and now - t.created > 0.2]
            task = rng.choice(ready) if ready else None
            if task is not None:
                task.released = True
        if task is None:
            return
        self.admin.post(f"/tasks/{task.id}/release")
        with self.lock:
            self.requests[("release", "ok")] += 1

    # ------------------------------------------------------------------ chaos
    def _chaos(self, end: float) -> None:
        try:
            self._chaos_loop(end)
        except Exception as exc:
            self.problems.fail(f"the chaos thread crashed: {exc!r}")

    def _chaos_loop(self, end: float) -> None:
        rng = random.Random(f"{self.config.seed}:chaos")
        while not self.stop_clients.wait(self.config.chaos_interval) and time.monotonic() < end:
            what = _pick(rng, (("socket", 4), ("callback", 3), ("hang", 1), ("scenario", 2)))
            if what == "socket":
                action = rng.choice(self.config.socket_actions)
                spec: dict[str, Any] = {"action": action, "times": rng.randint(1, 3)}
                if action == "close":
                    spec |= {"after": rng.randint(1, 14), "code": rng.choice((1011, 4000, 4321))}
                    spec["reason"] = "load: chaos"
                elif action == "duplicate":
                    if rng.random() < 0.5:
                        spec["nth"] = rng.randint(1, 12)
                    else:
                        spec["type"] = rng.choice(
                            ("task_queue", "task_output", "task_postprocess_end", "task_cancel")
                        )
                elif action == "delay":
                    spec["delay"] = rng.choice((0.5, 2.0, 5.0))
                self.admin.post("/socket-faults", spec)
                self.chaos_rules[f"socket {action}"] += 1
            elif what == "callback":
                action = rng.choice(self.config.callback_actions)
                spec = {"action": action, "times": rng.randint(1, 2)}
                if action == "late":
                    spec["delay"] = rng.choice((1.0, 5.0, 20.0))
                self.admin.post("/callback-faults", spec)
                self.chaos_rules[f"callback {action}"] += 1
            elif what == "hang":
                rule = self.admin.post("/faults", {"path": "/v1/Task/Detail", "hang": 2.0})
                self.chaos_rules["http hang"] += 1
                if not self.stop_clients.wait(0.2):
                    self.admin.post(f"/faults/{rule['id']}/release")
            else:
                spec = {"times": 1}
                choice = rng.choice(("moderation", "fail", "outputs", "timings"))
                if choice == "moderation":
                    spec["moderation"] = True
                elif choice == "fail":
                    spec["fail_at"] = rng.choice(
                        ("task_accept", "task_assign", "task_start", "task_output")
                    )
                    spec["debugerror"] = "load: chaos failure"
                elif choice == "outputs":
                    spec["outputs"] = rng.choice(("missing", "empty", "truncated"))
                else:
                    spec["timings"] = {"task_start": 10}
                self.admin.post("/scenarios", spec)
                self.chaos_rules[f"scenario {choice}"] += 1

    # ------------------------------------------------------------------ the journal tail
    def _tail_once(self) -> None:
        with self.tail_lock:  # the tail thread and the drain both call this
            self._tail_locked()

    def _tail_locked(self) -> None:
        for kind in ("fault", "scenario"):
            found = self.admin.get("/journal", kind=kind, since=str(self._since[kind]))
            entries = found["entries"]
            if not entries:
                continue
            self._since[kind] = max(e["seq"] for e in entries)
            if kind == "scenario":
                self.journal_scenarios.extend(entries)
                continue
            self.journal_faults.extend(entries)
            for entry in entries:
                task_id = entry.get("task")
                if "/Run/" in str(entry.get("path", "")) and task_id:
                    self._adopt_orphan(str(task_id))

    def _adopt_orphan(self, task_id: str) -> None:
        """A task whose Run response an injected fault lost: follow it too."""
        with self.lock:
            if task_id in self.tracked:
                return
        found = self.admin.get(f"/tasks/{task_id}")
        params = found["parameters"]
        prompt = params.get("prompt", "")
        marker = re.search(r"\[\[([a-z-]+)\]\]", prompt)
        kind = marker.group(1) if marker else "plain"
        if params.get("inputImageFirst"):
            kind = "upload/orphan"  # can't tell a good upload from a bad one: no expectation
        self.orphan_ids.add(task_id)
        self.track(
            Tracked(
                task_id,
                found["socketaccesstoken"],
                self.by_id[found["projectid"]],
                kind,
                (params["resolution"], params["duration"]),
                found["callbackurl"],
                "orphan",
                time.monotonic(),
            )
        )

    def _tail(self) -> None:
        while not self.stop_tail.wait(0.25):
            try:
                self._tail_once()
            except Exception as exc:
                self.problems.fail(f"the journal tail failed: {exc!r}")

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        for project in self.projects:
            self.admin.post(
                f"/projects/{project.api_key}/balance", {"balance": str(project.spec.balance)}
            )
        for marker, scenario in SCENARIOS.items():
            self.admin.post(
                "/scenarios",
                {"id": f"load-{marker}", **scenario, "prompt_contains": f"[[{marker}]]"},
            )
        if self.config.faults:
            for rule in http_faults(self.config.seed):
                self.admin.post("/faults", rule)
        # the tail starts from now: older entries (a previous round's) are not this round's
        last = self.admin.get("/journal", kind="none")["last_seq"]
        self._since = {"fault": last, "scenario": last}

    # ------------------------------------------------------------------ the round
    def run(self) -> LoadResult:
        cfg = self.config
        started = time.monotonic()
        self.setup()
        end = time.monotonic() + cfg.seconds
        self.follow_deadline = end + cfg.drain_seconds
        tail = threading.Thread(target=self._tail, name="journal-tail", daemon=True)
        tail.start()
        clients = [
            threading.Thread(target=self._client, args=(i, end), name=f"client-{i}", daemon=True)
            for i in range(cfg.threads)
        ]
        if cfg.faults:
            clients.append(threading.Thread(target=self._chaos, args=(end,), daemon=True))
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        self.stop_clients.set()
        load_elapsed = time.monotonic() - started
        drain_started = time.monotonic()
        try:
            advanced = self.drain()
        finally:
            self.stop_tail.set()
            tail.join(timeout=30)
        self._tail_once()  # anything recorded since the tail's last look
        drain_elapsed = time.monotonic() - drain_started
        checks = self.verify()
        result = LoadResult(
            config=cfg,
            elapsed=load_elapsed,
            requests=self.requests,
            latencies=dict(self.latencies),
            endings=self.endings,
            tasks=len(self.tracked),
            orphans=len(self.orphan_ids),
            late_followers=sum(
                1 for t in self.tracked.values() if t.socket is not None and t.socket.late
            ),
            faults=self.fault_counts(),
            checks=checks,
            advanced=advanced,
            drain_seconds=drain_elapsed,
        )
        result.extra["chaos_rules"] = dict(self.chaos_rules)
        result.extra["notes"] = sorted(self.notes)
        return result

    def close(self) -> None:
        """Stop the receiver, the followers' pool and every session (call after run)."""
        self.stop_clients.set()
        self.stop_tail.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.receiver.close()
        self.admin.close()

    # ------------------------------------------------------------------ the drain
    def drain(self) -> bool:
        """Clear faults, release holds, wait until every task, follower and callback is
        done. True if the fake clock had to be advanced."""
        # The HTTP faults' counters are read now: nothing below goes through /v1.
        self.rule_snapshot = self.admin.get("/faults")["faults"]
        self.admin.post("/faults/clear")
        self.admin.post("/scenarios/clear")
        self._tail_once()  # adopt the last orphans while their followers may still be live
        with self.lock:
            held = [t for t in self.held if not t.released]
        for task in held:
            task.released = True
            self.admin.post(f"/tasks/{task.id}/release")
        # live socket followers still run with the socket faults they were bound to
        self.admin.post("/socket-faults/clear")
        advanced = False
        with self.lock:
            everything = dict(self.tracked)
        statuses = {t["id"]: t["status"] for t in self.admin.get("/tasks")["tasks"]}
        for task_id in everything:
            if statuses.get(task_id) in TERMINAL:
                continue
            reached = self.admin.post(f"/tasks/{task_id}/wait", {"timeout": 30})["reached"]
            if not reached:  # the clock alone did not get it there: push fake time on
                advanced = True
                self.admin.post("/clock/advance", {"seconds": 3600})
                self.admin.post(f"/tasks/{task_id}/wait", {"timeout": 60})
        # callbacks: late ones wait on the fake clock (at most 20 fake s: under a second)
        final = {d["task_id"]: d["state"] for d in self.admin.get("/callbacks")["callbacks"]}
        for task_id, task in everything.items():
            if final.get(task_id, "pending") != "pending" or not task.callback.startswith("http"):
                continue
            reached = self.admin.post(f"/callbacks/{task_id}/wait", {"timeout": 60})["reached"]
            if not reached:
                advanced = True
                self.admin.post("/clock/advance", {"seconds": 600})
                self.admin.post(f"/callbacks/{task_id}/wait", {"timeout": 60})
        for future in list(self.followers):
            future.result(timeout=max(1.0, self.follow_deadline - time.monotonic() + 30))
        self.admin.post("/callback-faults/clear")
        return advanced

    # ------------------------------------------------------------------ the checks
    def fault_counts(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for entry in self.journal_faults:
            channel = entry.get("channel", "http")
            if channel == "socket" and entry.get("phase") != "applied":
                continue
            detail = entry.get("status") or ""
            found[f"{channel} {entry['action']}{f' {detail}' if detail else ''}"] += 1
        return found

    def verify(self) -> list[Check]:
        """Every invariant, over everything the round saw."""
        admin = self.admin
        server_tasks = {t["id"]: t for t in admin.get("/tasks")["tasks"]}
        deliveries = {d["task_id"]: d for d in admin.get("/callbacks")["callbacks"]}
        balances = {p["id"]: Decimal(p["balance"]) for p in admin.get("/projects")["projects"]}
        socket_rules = admin.get("/socket-faults")["faults"]
        callback_rules = admin.get("/callback-faults")["faults"]
        details = self._final_details()
        tracked = dict(self.tracked)

        accounted = Check(
            "accounted", "every task the fake made is accounted for (client or journal)"
        )
        accounted.checked = len(server_tasks)
        for task_id in sorted(set(server_tasks) - set(tracked), key=int):
            accounted.fail(f"task {task_id} exists but no client or fault entry knows it")
        for task_id in sorted(set(tracked) - set(server_tasks), key=int):
            accounted.fail(f"task {task_id} was tracked but the fake does not know it")

        once = Check("terminal_once", "every task terminal exactly once (events, REST)")
        stable = Check("terminal_stable", "a terminal status seen by Task/Detail never changes")
        socket = Check("socket", "socket: one complete replay per task, exactly one terminal frame")
        socket_faults = Check(
            "socket_faults", "socket: every close and duplicate a client saw was injected"
        )
        agree = Check("agree", "REST, socket and callback agree (status, pexit, outputs)")
        callbacks = Check(
            "callbacks", "callbacks: exactly once per task unless a callback fault said otherwise"
        )
        money = Check("balances", "balances == initial - sum(totalcost of successes), to the cent")
        stops = Check(
            "stops", "cancel/kill: at most one stop per task, and it is the task's ending"
        )
        scenarios = Check("design", "scenario, bad-image and plain tasks ended as designed")
        endings: Counter[str] = Counter()

        by_task_faults: dict[str, Counter[str]] = defaultdict(Counter)
        for entry in self.journal_faults:
            if entry.get("channel") == "socket" and entry.get("phase") == "applied":
                by_task_faults[str(entry.get("task"))][entry["action"]] += 1
        scenario_tasks = {str(e.get("task")): e for e in self.journal_scenarios}

        spent: dict[str, Decimal] = defaultdict(Decimal)
        for task_id, task in sorted(tracked.items(), key=lambda kv: int(kv[0])):
            server = server_tasks.get(task_id)
            detail = details.get(task_id)
            if server is None or detail is None:
                once.fail(
                    f"{task_id}: no final state (server {server is not None}, REST "
                    f"{detail is not None})"
                )
                continue
            events = server["events"]
            types = [e["type"] for e in events]
            once.checked += 1
            ends = [t for t in types if t in TERMINAL]
            if len(ends) != 1 or types[-1] not in TERMINAL:
                once.fail(f"{task_id}: terminal events {ends} (last {types[-1]})")
            if detail["status"] not in TERMINAL or detail["status"] != types[-1]:
                once.fail(f"{task_id}: Detail says {detail['status']}, events end {types[-1]}")
            status, pexit = detail["status"], detail["pexit"]
            stable.checked += 1
            for seen in task.detail_terminals:
                if seen != (status, pexit):
                    stable.fail(f"{task_id}: Detail once said {seen}, now {(status, pexit)}")

            # -------------------------------------------------- ending
            if status == "task_cancel":
                ending = "killed" if pexit == KILLED_PEXIT else "cancelled"
            elif pexit == "0":
                ending = "succeeded"
            else:
                ending = "failed"
            endings[ending] += 1

            # -------------------------------------------------- socket
            self._check_socket(
                task, events, by_task_faults[task_id], socket, socket_faults, agree, detail
            )

            # -------------------------------------------------- callback
            self._check_callback(task, detail, deliveries.get(task_id), callbacks, agree)

            # -------------------------------------------------- money
            cost = Decimal(detail["totalcost"])
            spent[task.project.id] += cost
            price = PRICE_TABLE_USD[
                (detail["parameters"]["resolution"], detail["parameters"]["duration"])
            ]
            money.checked += 1
            if ending == "succeeded" and cost != price:
                money.fail(f"{task_id}: succeeded, totalcost {cost} != price {price}")
            if ending != "succeeded" and cost != 0:
                money.fail(f"{task_id}: {ending}, yet totalcost {cost}")

            # -------------------------------------------------- stops
            self._check_stops(task, ending, stops)

            # -------------------------------------------------- designed endings
            self._check_design(task, detail, ending, scenario_tasks.get(task_id), scenarios)

        for project in self.projects:
            money.checked += 1
            expected = project.spec.balance - spent[project.id]
            if balances[project.id] != expected:
                money.fail(
                    f"{project.name}: balance {balances[project.id]} != {project.spec.balance} "
                    f"- {spent[project.id]} = {expected}"
                )

        # -------------------------------------------------- faults: HTTP
        injected = Check(
            "injected",
            "every 5xx and dropped connection was injected (client, rules, journal, access log)",
        )
        self._check_http_faults(injected)
        # socket and callback rules: every hit is in the journal
        journal_bound = Counter(
            e["rule"]
            for e in self.journal_faults
            if e.get("channel") == "socket" and e.get("phase") == "bound"
        )
        journal_drops = Counter(
            e["rule"]
            for e in self.journal_faults
            if e.get("channel") == "socket" and e.get("action") == "drop_on_register"
        )
        for rule in socket_rules:
            socket_faults.checked += 1
            seen = journal_drops[rule["id"]] + journal_bound[rule["id"]]
            if seen != rule["hits"]:
                socket_faults.fail(f"{rule['id']}: {rule['hits']} hits, {seen} in the journal")
        journal_cb = Counter(
            e["rule"] for e in self.journal_faults if e.get("channel") == "callback"
        )
        for rule in callback_rules:
            callbacks.checked += 1
            if journal_cb[rule["id"]] != rule["hits"]:
                callbacks.fail(
                    f"{rule['id']}: {rule['hits']} hits, {journal_cb[rule['id']]} in the journal"
                )
        if self.receiver.unparsed:
            callbacks.fail(f"{len(self.receiver.unparsed)} callback bodies could not be parsed")
        self.endings = endings
        self.problems.checked = sum(self.requests.values())
        return [
            accounted,
            once,
            stable,
            socket,
            socket_faults,
            agree,
            callbacks,
            money,
            stops,
            scenarios,
            injected,
            self.problems,
        ]

    def _final_details(self) -> dict[str, dict[str, Any]]:
        """Task/Detail of every task, with no fault left (each by its own project)."""
        out: dict[str, dict[str, Any]] = {}
        tasks = list(self.tracked.values())

        def some(share: list[Tracked]) -> None:
            with requests.Session() as session:
                for task in share:
                    response = session.post(
                        f"{self.server.base_url}/Task/Detail",
                        headers=task.project.headers(),
                        json={"taskid": task.id},
                        timeout=REQUEST_TIMEOUT,
                    )
                    body = response.json()
                    if response.status_code == 200 and body.get("result"):
                        out[task.id] = body["tasklist"][0]

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(some, [tasks[i::8] for i in range(8)]))
        return out

    def _check_socket(
        self,
        task: Tracked,
        events: list[dict[str, Any]],
        applied: Counter[str],
        socket: Check,
        socket_faults: Check,
        agree: Check,
        detail: dict[str, Any],
    ) -> None:
        socket.checked += 1
        log = task.socket
        final = log.final if log else None
        if log is None or final is None:
            socket.fail(f"{task.id}: never followed")
            return
        frames, copies = final.collapsed()
        closes = 0
        for session in log.sessions[:-1]:
            earlier, more = session.collapsed()
            copies += more
            if session.end == "closed":
                closes += 1
            else:
                socket.fail(f"{task.id}: a connection ended {session.end} {session.error}")
            if earlier != frames[: len(earlier)]:
                socket.fail(f"{task.id}: a dropped connection's frames are not a prefix")
        if final.end == "closed":
            closes += 1  # closed right after the terminal frame (a close fault)
        elif final.end != "complete":
            socket.fail(f"{task.id}: the last connection ended {final.end} {final.error}")
            return
        types = [f["type"] for f in frames]
        if types != [e["type"] for e in events]:
            wanted = [e["type"] for e in events]
            at = next(
                (i for i, (a, b) in enumerate(zip(types, wanted, strict=False)) if a != b),
                min(len(types), len(wanted)),
            )
            socket.fail(
                f"{task.id}: frames differ from events at #{at}: got {types[at : at + 4]}, "
                f"expected {wanted[at : at + 4]} (socket faults applied: {dict(applied)}, "
                f"{len(log.sessions)} connection(s))"
            )
            return
        for frame, event in zip(frames, events, strict=True):
            if frame["message"] != event["message"] or frame["id"] != task.id:
                socket.fail(
                    f"{task.id}: frame {frame['type']} differs from its event (frames out of "
                    f"order?); socket faults applied: {dict(applied)}"
                )
                break
        if sum(1 for t in types if t in TERMINAL) != 1:
            socket.fail(
                f"{task.id}: {types.count('task_cancel')} cancel frames, "
                f"{types.count('task_postprocess_end')} end frames"
            )
        socket_faults.checked += 1
        dropped = applied["close"] + applied["drop_on_register"]
        if closes != dropped:
            socket_faults.fail(f"{task.id}: {closes} server closes, {dropped} close faults applied")
        if copies != applied["duplicate"]:
            socket_faults.fail(
                f"{task.id}: {copies} repeated frames, {applied['duplicate']} duplicates applied"
            )
        agree.checked += 1
        last = frames[-1]
        if last["type"] != detail["status"]:
            agree.fail(f"{task.id}: socket ends {last['type']}, REST says {detail['status']}")
        wanted = detail["outputs"] if last["type"] == "task_postprocess_end" else None
        if last["message"] != wanted:
            agree.fail(f"{task.id}: socket outputs {last['message']} != REST {wanted}")

    def _check_callback(
        self,
        task: Tracked,
        detail: dict[str, Any],
        delivery: dict[str, Any] | None,
        callbacks: Check,
        agree: Check,
    ) -> None:
        callbacks.checked += 1
        bodies = self.receiver.count(task.id)
        if delivery is None:
            callbacks.fail(f"{task.id}: no callback delivery at all")
            return
        state = delivery["state"]
        if not task.callback.startswith("http"):
            if state != "undeliverable" or bodies:
                callbacks.fail(f"{task.id}: invalid URL, state {state}, {len(bodies)} bodies")
            return
        ok_attempts = sum(1 for a in delivery["attempts"] if a["ok"])
        duplicates = len(delivery.get("duplicates", []))
        expected = {"delivered": 1 + duplicates, "suppressed": 0}.get(state)
        if expected is None:
            callbacks.fail(f"{task.id}: callback state {state}: {delivery}")
            return
        if ok_attempts != (1 if state == "delivered" else 0):
            callbacks.fail(f"{task.id}: {ok_attempts} successful attempts, state {state}")
        if len(bodies) != expected:
            callbacks.fail(
                f"{task.id}: {len(bodies)} callbacks received, {expected} expected "
                f"({state}, faults {delivery.get('faults')})"
            )
        if duplicates and not delivery.get("faults"):
            callbacks.fail(f"{task.id}: a duplicate callback with no fault")
        if len({bytes(b) for b in bodies}) > 1:
            callbacks.fail(f"{task.id}: callback bodies differ")
        if bodies:
            agree.checked += 1
            called = json.loads(bodies[0])["tasklist"][0]
            for key in ("status", "pexit", "outputs", "totalcost"):
                if called[key] != detail[key]:
                    agree.fail(f"{task.id}: callback {key} {called[key]!r} != REST {detail[key]!r}")

    def _check_stops(self, task: Tracked, ending: str, stops: Check) -> None:
        stops.checked += 1
        ok = [how for how, result in task.stops if result == "ok"]
        maybe = {how for how, result in task.stops if result in ("ok", "unknown")}
        if len(ok) > 1:
            stops.fail(f"{task.id}: stopped {len(ok)} times: {task.stops}")
        if ok == ["cancel"] and ending != "cancelled":
            stops.fail(f"{task.id}: Cancel answered ok, yet the task {ending}")
        if ok == ["kill"] and ending != "killed":
            stops.fail(f"{task.id}: Kill answered ok, yet the task {ending}")
        if ending == "cancelled" and "cancel" not in maybe:
            stops.fail(f"{task.id}: cancelled with no Cancel that could have done it {task.stops}")
        if ending == "killed" and "kill" not in maybe:
            stops.fail(f"{task.id}: killed with no Kill that could have done it {task.stops}")

    def _check_design(
        self,
        task: Tracked,
        detail: dict[str, Any],
        ending: str,
        scenario: dict[str, Any] | None,
        check: Check,
    ) -> None:
        kind = task.kind
        if kind == "nokill" and any(h == "kill" and r == "ok" for h, r in task.stops):
            check.fail(f"{task.id}: a kill_refused task was killed")
        if kind == "nocancel" and any(h == "cancel" and r == "ok" for h, r in task.stops):
            check.fail(f"{task.id}: a cancel_refused task was cancelled")
        if ending in ("cancelled", "killed"):
            if detail["outputs"] != [] or detail["totalcost"] != "0":
                check.fail(f"{task.id}: {ending} with outputs or a cost")
            return
        check.checked += 1
        debugerror = detail["debugerror"]
        outputs = detail["outputs"]
        if scenario is not None and scenario.get("scenario") != f"load-{kind}":
            good = True  # a one-shot chaos scenario took it (before any rule): no expectation
        elif kind == "fail-start":
            good = detail["pexit"] == "1" and "failed at start" in debugerror
        elif kind == "fail-pre":
            good = detail["pexit"] == "137" and "OOM in preprocessing" in debugerror
            good = good and detail["preprocessendtime"] == "0"
        elif kind == "mod":
            good = detail["pexit"] == "1" and "moderation" in debugerror
        elif kind == "bad_image":
            good = detail["pexit"] == "1" and "rule: aspect_ratio" in debugerror
        elif kind == "missing":
            good = detail["pexit"] == "0" and outputs == []
        elif kind in ("plain", "upload", "hold", "nokill", "nocancel", "slowq"):
            good = detail["pexit"] == "0" and len(outputs) == 1 and outputs[0]["name"] == "0.mp4"
        else:
            good = True  # an orphaned upload (good or bad image?): no expectation
        if not good:
            check.fail(
                f"{task.id} ({kind}): {ending}, pexit {detail['pexit']}, debugerror "
                f"{debugerror[:120]!r}, {len(outputs)} outputs"
            )

    def _check_http_faults(self, check: Check) -> None:
        rules = {r["id"]: r for r in self.rule_snapshot}
        journal = Counter(
            e["rule"] for e in self.journal_faults if "channel" not in e and e["rule"] in rules
        )
        reset_hits = 0
        injected_5xx = 0
        for rule_id, rule in rules.items():
            check.checked += 1
            if journal[rule_id] != rule["hits"]:
                check.fail(f"{rule_id}: {rule['hits']} hits, {journal[rule_id]} journal entries")
            if rule["action"] == "reset":
                reset_hits += rule["hits"]
            elif self.client_rule_hits[rule_id] != rule["hits"]:
                check.fail(
                    f"{rule_id} ({rule['action']} {rule['path']}): {rule['hits']} hits, "
                    f"clients saw {self.client_rule_hits[rule_id]}"
                )
            if rule["action"] == "status" and rule["status"] >= 500:
                injected_5xx += rule["hits"]
        unknown = set(self.client_rule_hits) - set(rules)
        if unknown:
            check.fail(f"fault marks from rules nobody added: {sorted(unknown)}")
        if reset_hits != self.client_resets:
            check.fail(f"{self.client_resets} dropped connections, {reset_hits} injected resets")
        log = self.server.log_since(self.log_offset)
        statuses = access_statuses(log)
        logged_5xx = sum(
            n for (path, status), n in statuses.items() if status >= 500 and path.startswith("/v1")
        )
        check.checked += 1
        if logged_5xx != injected_5xx:
            check.fail(
                f"the access log has {logged_5xx} 5xx on /v1, the rules injected {injected_5xx}"
            )
        if "Traceback" in log:
            at = log.index("Traceback")
            check.fail(f"the server logged a traceback: {log[at : at + 1500]}")


# ---------------------------------------------------------------------------- reporting
def _fmt_ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.1f}"


def render_summary(result: LoadResult) -> str:
    """The printed summary: requests by kind and outcome, tasks by ending, faults,
    invariants, rates."""
    cfg = result.config
    lines = []
    total = sum(result.requests.values())
    lines.append(
        f"load: {result.elapsed:.1f} s, {cfg.threads} client threads, seed {cfg.seed}; drain "
        f"{result.drain_seconds:.1f} s{' (clock advanced)' if result.advanced else ''}"
    )
    lines.append(f"requests: {total} ({total / result.elapsed:.0f}/s)")
    kinds = sorted({k for k, _ in result.requests})
    outcomes = sorted({o for _, o in result.requests}, key=lambda o: (o != "ok", o))
    header = f"  {'kind':<8} {'total':>6} " + " ".join(f"{o:>10}" for o in outcomes)
    lines.append(header + f" {'p50 ms':>8} {'p99 ms':>8}")
    for kind in kinds:
        row = [result.requests.get((kind, o), 0) for o in outcomes]
        lat = result.latencies.get(kind, [])
        lines.append(
            f"  {kind:<8} {sum(row):>6} "
            + " ".join(f"{n:>10}" for n in row)
            + f" {_fmt_ms(_pct(lat, 50)):>8} {_fmt_ms(_pct(lat, 99)):>8}"
        )
    endings = ", ".join(f"{k} {v}" for k, v in sorted(result.endings.items()))
    lines.append(
        f"tasks: {result.tasks} ({result.tasks / result.elapsed:.1f}/s): {endings}; "
        f"{result.orphans} orphans (Run response lost to a fault), "
        f"{result.late_followers} followed late"
    )
    faults = ", ".join(f"{k} {v}" for k, v in sorted(result.faults.items()))
    lines.append(f"faults applied (journal): {faults or 'none'}")
    chaos = result.extra.get("chaos_rules") or {}
    if chaos:
        lines.append(
            "chaos rules added: " + ", ".join(f"{k} {v}" for k, v in sorted(chaos.items()))
        )
    for note in result.extra.get("notes") or []:
        lines.append(f"note: {note}")
    lines.append("invariants:")
    for check in result.checks:
        mark = "PASS" if check.ok else "FAIL"
        lines.append(f"  [{mark}] {check.name} ({check.checked} checked)")
        for failure in check.failures[:8]:
            lines.append(f"         - {failure[:400]}")
        if len(check.failures) > 8:
            lines.append(f"         ... {len(check.failures) - 8} more")
    return "\n".join(lines)


@contextlib.contextmanager
def load_round(
    server: ServerProcess, projects: Sequence[LoadProject], config: LoadConfig
) -> Iterator[LoadRun]:
    """A :class:`LoadRun` closed (receiver, followers, sessions) on the way out."""
    run = LoadRun(server, projects, config)
    try:
        yield run
    finally:
        run.close()


SLACK = 2
"""Threads (and fds) the server may keep above its baseline once the load is over. The
baseline is taken once a warm-up round has run and the server is idle: the main thread,
the HTTP acceptor, the clock engine and the backend's two prepare/render workers (a
``ThreadPoolExecutor``, which never shrinks). Everything the load adds is per request or
per connection (werkzeug's request threads, a socket's writer and simple-websocket's
reader, one thread per callback attempt) and must go away once the clients have
disconnected. The slack of 2 covers a worker the warm-up did not need to start (the pool
starts its second worker only when two jobs overlap) and one connection whose close
handshake is still in flight when the sample is taken; a leak of one thread or fd per
task, connection or callback would show as hundreds.

:func:`settle` waits up to :data:`SETTLE_SECONDS` for the counts to come back. It used to
take up to the 25 s ping interval: a simple-websocket reader thread (and its epoll fd) of a
connection the *server* closed outlived it until its next ping, because werkzeug closed
the socket before the woken reader ran (the close takes the socket out of the reader's
epoll set, and the wake-up is lost). ``ws.py`` now joins the reader; the settle time that
``load`` and ``soak`` print would show a regression."""
SETTLE_SECONDS = 30.0
"""Longer than the server's 25 s socket ping interval (see :data:`SLACK`)."""


def quiet_baseline(server: ServerProcess, timeout: float = 20.0) -> ProcSample:
    """The server's counts once they stop falling (sampled every 0.2 s, for 1 s steady)."""
    deadline = time.monotonic() + timeout
    last = server.sample()
    steady_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)  # /proc gives nothing to wait on
        now = server.sample()
        if (now.threads, now.fds) != (last.threads, last.fds):
            steady_since = time.monotonic()
        last = now
        if time.monotonic() - steady_since >= 1.0:
            break
    return last


def settle(
    server: ServerProcess, baseline: ProcSample, slack: int, timeout: float = SETTLE_SECONDS
) -> tuple[ProcSample, float]:
    """Wait (polling /proc, bounded) until the server's threads and fds are back within
    ``slack`` of ``baseline``; the last sample and how long it took."""
    start = time.monotonic()
    while True:
        sample = server.sample()
        back = sample.threads <= baseline.threads + slack and sample.fds <= baseline.fds + slack
        if back or time.monotonic() - start > timeout:
            return sample, time.monotonic() - start
        time.sleep(0.1)  # /proc has nothing to wait on
