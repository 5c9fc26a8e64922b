"""Fan-out: N concurrent tasks, each followed by its own WebSocket subscriber.

The fake runs as ``mock-wiro serve`` in a subprocess (so its RSS is its own), on a
``manual`` clock with ``--speed`` (default 20, the fake's own default). One round:

1. ``N`` tasks are Run over HTTP (8 client threads; an external image URL, which the
   fake never fetches), while the clock stands still;
2. ``N`` WebSocket connections are opened (16 client threads), each sends ``task_info``
   for its own task and gets the replayed ``task_queue`` frame: every subscriber is
   registered before anything happens;
3. once the server is idle (every image check and render done, :func:`_wait_idle`),
   the clock is switched to ``realtime``: every task now runs its whole lifecycle at
   once (about 52 fake seconds, 2.6 wall seconds at speed 20, 22 frames each, in
   bursts of ``N`` frames due at the same instant), and one client thread reads every
   socket through ``selectors`` (one ``recv`` per ready socket, a small parser for the
   server's unmasked frames) and stamps each frame as it arrives;
4. when every subscriber has its terminal frame, ``GET /_mock/tasks`` gives each
   task's events, and each subscriber's frames must be exactly those, each once, in
   order: what is missing is *lost*, what is extra *duplicated*, and what is there but
   not in order (events in both, less their longest common subsequence) *out of order*.

Delivery lag is a frame's arrival minus its scheduled time: the event's fake time (the
schedule: a step's due time, not when the engine got to it) mapped to this process's
monotonic clock through the fake clock, which has run on one straight line since the
switch (``GET /_mock/clock`` after the round, on an idle server: the sample with the
shortest round trip of ten; the mapping is exact up to half that round trip, about a
millisecond). The replayed ``task_queue`` frames, scheduled before anyone subscribed,
have no lag. The peak RSS is the server's VmHWM right after the round (before the
verification's big ``/_mock/tasks`` answer).

Baselines, in the same run and the same server: the lag of the same round with one
task and one subscriber (three such rounds pooled in the full run, one with
``--quick``), and the idle server's RSS.

    python -m benchmarks.bench_fanout [--quick] [--subscribers N] [--speed X]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import websocket

from .common import Row, peak_rss_kib, rss_kib, summary

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-fanout-key-0123456789abcdef0123456789"
API_SECRET = "bench-fanout-secret-0123456789abcdef012345"
RUN_PATH = "/v1/Run/minimax/hailuo-2-3-fast"
TERMINAL = (b'"type":"task_postprocess_end"', b'"type":"task_cancel"')
STARTUP_TIMEOUT = 30.0
ROUND_TIMEOUT = 180.0


# ------------------------------------------------------------------ the server
class Server:
    """``mock-wiro serve`` in a subprocess: manual clock, one project (API-key auth,
    a balance above $250: no concurrency limit)."""

    def __init__(self, speed: float) -> None:
        cmd = [
            sys.executable,
            "-m",
            "mock_wiro",
            "serve",
            "--port",
            "0",
            "--clock",
            "manual",
            "--speed",
            str(speed),
            "--auth",
            "apikey",
            "--api-key",
            API_KEY,
            "--api-secret",
            API_SECRET,
            "--balance",
            "1000000",
        ]
        # werkzeug logs every request on stderr: nobody reads it, so it must not be a pipe
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.pid = self.proc.pid
        self.base = ""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "REST:" in line:
                self.base = line.split()[-1].removesuffix("/v1")
                break
            if time.monotonic() > deadline:
                break
        if not self.base:
            self.stop()
            raise RuntimeError("mock-wiro serve did not start")
        # drain the rest of stdout (nothing is expected) so the server never blocks on it
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.ws_url = "ws" + self.base.removeprefix("http") + "/v1"
        self.http = requests.Session()

    def get(self, path: str) -> Any:
        answer = self.http.get(self.base + path, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.http.post(self.base + path, json=body, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ one round
@dataclass
class Subscriber:
    """One WebSocket connection following one task."""

    taskid: str
    token: str
    ws: websocket.WebSocket | None = None
    frames: list[tuple[float, bytes]] = field(default_factory=list)  # (arrival, text)
    done: bool = False
    error: str = ""
    pending: bytes = b""  # bytes of a frame not yet whole
    parts: list[bytes] = field(default_factory=list)  # a fragmented message so far

    def feed(self, data: bytes, now: float) -> None:
        """Take bytes read from the socket: every whole frame in them is parsed (server
        frames are unmasked), text messages stamped ``now``, pings answered."""
        buf = self.pending + data
        at = 0
        while len(buf) - at >= 2:
            head, size = buf[at], buf[at + 1] & 0x7F
            start = at + 2
            if size == 126:
                size, start = int.from_bytes(buf[at + 2 : at + 4], "big"), at + 4
            elif size == 127:
                size, start = int.from_bytes(buf[at + 2 : at + 10], "big"), at + 10
            if len(buf) < start + size:
                break
            payload, at = buf[start : start + size], start + size
            opcode = head & 0x0F
            if opcode in (0x0, 0x1):  # continuation, text
                self.parts.append(payload)
                if head & 0x80:  # FIN: the message is whole
                    message = b"".join(self.parts)
                    self.parts.clear()
                    self.frames.append((now, message))
                    if any(mark in message for mark in TERMINAL):
                        self.done = True
            elif opcode == 0x9 and self.ws is not None:  # ping
                self.ws.pong(payload)
            elif opcode == 0x8:  # close
                self.error = f"closed by the server: {payload[:2].hex()} {payload[2:]!r}"
        self.pending = buf[at:]


@dataclass
class Round:
    """What one round measured."""

    n: int
    lags_ms: list[float]
    frames: int
    lost: int
    duplicated: int
    out_of_order: int
    errors: int
    unfinished: int
    seconds: float
    peak_kib: int
    server_cpu: float = 0.0  # the server's CPU seconds over the round (user + system)

    @property
    def bad(self) -> int:
        return self.lost + self.duplicated + self.out_of_order


def _run_tasks(server: Server, n: int, tag: str) -> list[Subscriber]:
    local = threading.local()

    def run_one(i: int) -> Subscriber:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body = {
            "inputImageFirstUrl": f"https://images.example.com/fanout/{tag}-{i}.jpg",
            "prompt": f"fan-out {tag} {i}: waves roll in over the beach",
        }
        answer = session.post(
            server.base + RUN_PATH, json=body, headers={"x-api-key": API_KEY}, timeout=60
        )
        got = answer.json()
        if not got.get("result"):
            raise RuntimeError(f"Run failed: {got}")
        return Subscriber(got["taskid"], got["socketaccesstoken"])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(run_one, range(n)))


def _connect(server: Server, subs: list[Subscriber]) -> None:
    def connect(sub: Subscriber) -> None:
        ws = websocket.create_connection(server.ws_url, timeout=60)
        ws.send(json.dumps({"type": "task_info", "tasktoken": sub.token}))
        sub.ws = ws

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(connect, subs))


def _read(subs: list[Subscriber], until_frames: int | None, deadline: float) -> None:
    """Read every socket (one thread, ``selectors``, one ``recv`` per ready socket and a
    small frame parser: the client must cost far less than the server) until each
    subscriber has ``until_frames`` frames (None: its terminal frame), errs, or the
    deadline passes."""

    def finished(sub: Subscriber) -> bool:
        return sub.done if until_frames is None else len(sub.frames) >= until_frames

    selector = selectors.DefaultSelector()
    waiting = 0
    for sub in subs:
        if sub.ws is not None and not sub.error:
            sub.ws.sock.setblocking(False)
            selector.register(sub.ws.sock, selectors.EVENT_READ, sub)
            waiting += not finished(sub)
    while waiting and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            sub: Subscriber = key.data
            was = finished(sub) or bool(sub.error)
            try:
                data = key.fileobj.recv(1 << 16)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError as exc:
                data, sub.error = b"", repr(exc)
            if data:
                sub.feed(data, time.monotonic())
            elif not sub.error:
                sub.error = "connection closed"
            if sub.error:
                selector.unregister(key.fileobj)
            if not was and (finished(sub) or sub.error):
                waiting -= 1
    selector.close()
    for sub in subs:
        if sub.ws is not None:
            sub.ws.sock.setblocking(True)


def _lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (the lists are ~22 long)."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _clock_anchor(server: Server) -> tuple[float, float, float]:
    """(monotonic time, fake time, speed): one point of the fake clock's line, from the
    ``GET /_mock/clock`` sample with the shortest round trip."""
    best: tuple[float, float, float, float] | None = None
    for _ in range(10):
        t0 = time.monotonic()
        clock = server.get("/_mock/clock")
        t1 = time.monotonic()
        if best is None or t1 - t0 < best[0]:
            best = (t1 - t0, (t0 + t1) / 2, float(clock["now"]), float(clock["speed"]))
    assert best is not None
    return best[1], best[2], best[3]


def fan_out(server: Server, n: int, tag: str) -> Round:
    """One round with ``n`` tasks and subscribers (see the module docs)."""
    subs = _run_tasks(server, n, tag)
    try:
        _connect(server, subs)
        _read(subs, 1, time.monotonic() + 60)  # every subscriber has its replayed frame
        registered = sum(1 for s in subs if len(s.frames) >= 1)
        if registered < n:
            raise RuntimeError(f"only {registered} of {n} subscribers registered")
        _wait_idle(server.pid)
        manual_now = float(server.get("/_mock/clock")["now"])
        cpu_before = _cpu_seconds(server.pid)
        started = time.monotonic()
        server.post("/_mock/clock", {"mode": "realtime"})
        _read(subs, None, time.monotonic() + ROUND_TIMEOUT)
        seconds = time.monotonic() - started
        server_cpu = _cpu_seconds(server.pid) - cpu_before
        peak = peak_rss_kib(server.pid)
        # the clock has run on one line since the switch: any point of it maps fake time
        # to this process's clock; taken now, on an idle server, the round trips are short
        anchor_wall, anchor_fake, speed = _clock_anchor(server)
        server.post("/_mock/clock", {"mode": "manual"})
    finally:
        for sub in subs:
            if sub.ws is not None:
                with contextlib.suppress(Exception):
                    sub.ws.shutdown()
    wanted = {s.taskid for s in subs}
    events = {
        t["id"]: t["events"] for t in server.get("/_mock/tasks")["tasks"] if t["id"] in wanted
    }

    def wall(fake: float) -> float:
        return anchor_wall + (fake - anchor_fake) / speed

    lags: list[float] = []
    lost = duplicated = out_of_order = frames = 0
    for sub in subs:
        expected = [
            json.dumps(
                {
                    "type": e["type"],
                    "id": sub.taskid,
                    "tasktoken": sub.token,
                    "message": e["message"],
                    "result": True,
                },
                sort_keys=True,
            )
            for e in events[sub.taskid]
        ]
        got = [json.dumps(json.loads(data), sort_keys=True) for _, data in sub.frames]
        frames += len(expected)
        want, have = Counter(expected), Counter(got)
        common = sum((want & have).values())
        lost += sum((want - have).values())
        duplicated += sum((have - want).values())
        out_of_order += common - _lcs(expected, got)
        positions: dict[str, list[int]] = {}
        for i, key in enumerate(expected):
            positions.setdefault(key, []).append(i)
        for (arrived, _), key in zip(sub.frames, got, strict=True):
            if positions.get(key):
                event = events[sub.taskid][positions[key].pop(0)]
                if event["time"] > manual_now:  # scheduled after everyone subscribed
                    lags.append((arrived - wall(event["time"])) * 1000)
    return Round(
        n=n,
        lags_ms=lags,
        frames=frames,
        lost=lost,
        duplicated=duplicated,
        out_of_order=out_of_order,
        errors=sum(1 for s in subs if s.error),
        unfinished=sum(1 for s in subs if not s.done),
        seconds=seconds,
        peak_kib=peak,
        server_cpu=server_cpu,
    )


def _cpu_seconds(pid: int) -> float:
    """A process's CPU seconds so far (user + system, from ``/proc``; 0 elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


IDLE_WINDOW = 0.2
"""Seconds of server CPU watched before a round: below :data:`IDLE_CPU_SHARE`, idle."""
IDLE_CPU_SHARE = 0.05
IDLE_TIMEOUT = 60.0


def _wait_idle(pid: int) -> None:
    """Wait (bounded) until the server is idle: every task's image check and render
    done. Those run in the server's worker pool after each Run; if some are still going
    when the round starts, each one that ends wakes the engine, which looks at every
    active task, so the round measures that (up to 5-7 CPU seconds with 1,000 tasks),
    not the fan-out."""
    deadline = time.monotonic() + IDLE_TIMEOUT
    while time.monotonic() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(IDLE_WINDOW)
        if _cpu_seconds(pid) - before < IDLE_WINDOW * IDLE_CPU_SHARE:
            return


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


STEPS = (10, 100)
"""Subscriber counts measured between one and the round's, for the lag chart."""


def run(quick: bool, subscribers: int | None = None, speed: float = 20.0) -> list[Row]:
    """The benchmark's rows: frames lost or out of order, p99 lag, peak RSS."""
    n = subscribers or (200 if quick else 1000)
    _raise_fd_limit(4 * n + 1024)  # this process and (inherited) the server's
    server = Server(speed)
    try:
        server.get("/_mock/health")
        idle_kib = rss_kib(server.pid)
        # one subscriber's 21 lags make a thin p99: the full run pools three rounds
        bases = [fan_out(server, 1, f"baseline{i}") for i in range(1 if quick else 3)]
        # the lag against the subscriber count, for the chart: rounds in between
        steps = {k: fan_out(server, k, f"step{k}") for k in STEPS if 1 < k < n}
        big = fan_out(server, n, "fanout")
    finally:
        server.stop()
    base_lags = [lag for base in bases for lag in base.lags_ms]
    base_median, base_p99 = summary(base_lags)
    median, p99 = summary(big.lags_ms)
    clean = big.bad == 0 and big.errors == 0 and big.unfinished == 0
    details = {
        "frames": big.frames,
        "lost": big.lost,
        "duplicated": big.duplicated,
        "out_of_order": big.out_of_order,
        "subscriber_errors": big.errors,
        "unfinished": big.unfinished,
        "round_seconds": round(big.seconds, 3),
        "server_cpu_seconds": round(big.server_cpu, 2),  # over the round
        "load_average": [round(x, 2) for x in os.getloadavg()],  # a shared machine: noisy
        "baseline_bad_frames": sum(base.bad for base in bases),
    }
    rate = big.frames / big.seconds if big.seconds else 0.0
    by_count = [
        [1, base_median, base_p99],
        *([k, *summary(r.lags_ms)] for k, r in steps.items()),
        [n, median, p99],
    ]
    return [
        Row(
            "fanout",
            f"frames lost, duplicated or out of order, {n:,} subscribers",
            big.bad,
            "frames",
            target=f"0 with {n:,} subscribers",
            met=clean,
            note=f"{big.frames:,} frames checked; {big.errors} socket errors, "
            f"{big.unfinished} subscribers without their last frame",
            extra=details,
        ),
        Row(
            "fanout",
            f"p99 delivery lag, {n:,} subscribers (speed {speed:g})",
            p99,
            "ms",
            baseline=base_p99,
            baseline_label=f"1 subscriber, {len(base_lags)} frames",
            median=median,
            p99=p99,
            note=f"{len(big.lags_ms):,} frames; baseline median {base_median:.3g} ms; "
            f"{rate:,.0f} frames/s over the round",
            extra={
                "baseline_median_ms": base_median,
                "frames_per_second": rate,
                "lag_ms_by_subscribers": by_count,  # [subscribers, median, p99]
            },
        ),
        Row(
            "fanout",
            f"peak RSS (VmHWM), {n:,} subscribers",
            big.peak_kib / 1024,
            "MiB",
            baseline=idle_kib / 1024,
            baseline_label="idle server",
            note=f"{(big.peak_kib - idle_kib) / n:,.0f} KiB per task+subscriber over idle",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subscribers", type=int, default=None)
    parser.add_argument("--speed", type=float, default=20.0)
    args = parser.parse_args()
    from .__main__ import table

    rows = run(args.quick, args.subscribers, args.speed)
    print(table(rows))
    for row in rows:
        if row.extra:
            print(f"{row.figure}: {json.dumps(row.extra)}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
