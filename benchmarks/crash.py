"""The crash campaign (issue 13): ``python -m benchmarks.crash [--rounds N]``.

A durable ``mock-wiro serve --data-dir`` (realtime clock, fast: tasks end within a
second, so bills and ending frames race with the kill; restarted on the manual clock,
so the invariants are read on a state that does not move, then realtime again) is
raced by a load generator (Run with a URL, Run with an uploaded image, Task/Detail,
Task/Cancel, Task/Kill, File/Upload, from several threads) and ``kill -9``'d at a
random moment, ``N`` times on the same data dir. After each restart every invariant
is checked against what the clients were told:

- a Run answered with a task id: the task exists;
- a Cancel or Kill answered success: the task is (still) ``task_cancel``;
- an upload answered with a URL: the URL answers the same bytes;
- a task a Detail showed ended: it is still ended, with the same status, pexit and cost;
- the balance: the starting balance less the cost of every task kept (each billed
  once, never lost), and no task has any stage (its end included) twice.

Loopback only, bounded (``--rounds`` times ``--seconds``), not in CI (a short round of it
runs in the test suite: ``tests/store/test_crash_campaign.py``). Results:
docs/benchmarks.md, "Crash campaign".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

RUN_PATH = "Run/minimax/hailuo-2-3-fast"
KEY, SECRET = "crash-key", "crash-secret"
PUBLIC_URL = "http://127.0.0.1:9"
"""File URLs are built on this, so they read the same after a restart on another port."""
BALANCE = Decimal("100000")
"""Above the unlimited-concurrency threshold, and never run out of."""
SPEED = 200.0
"""Fake seconds per wall second: a task lasts well under a second of wall time."""
REQUEST_TIMEOUT = 10.0
BANNER_TIMEOUT = 60.0
TERMINAL = ("task_postprocess_end", "task_cancel")
OPS: tuple[tuple[str, float], ...] = (
    ("run", 0.23),
    ("run_upload", 0.08),
    ("detail", 0.25),
    ("cancel", 0.06),  # a task picked at random: mostly past the queue, refused
    ("kill", 0.08),
    ("run_cancel", 0.06),  # a Run held in the queue, then Cancel of its task at once
    ("run_kill", 0.06),  # the same, then Kill
    ("upload", 0.12),
)


# ---------------------------------------------------------------------- the server
class Server:
    """``python -m mock_wiro serve --data-dir DIR`` on a free loopback port."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        cmd = [
            sys.executable,
            "-m",
            "mock_wiro",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--speed",
            f"{SPEED:g}",
            "--clock",
            "manual",  # still while the invariants are read; realtime for the load
            "--api-key",
            KEY,
            "--api-secret",
            SECRET,
            "--auth",
            "apikey",
            "--balance",
            str(BALANCE),
            "--public-url",
            PUBLIC_URL,
        ]
        self._log = open(log, "ab")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, text=True
        )
        self.base = self._read_banner()

    def _read_banner(self) -> str:
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + BANNER_TIMEOUT
        while time.monotonic() < deadline:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(f"mock-wiro exited ({self.proc.wait()}) before its banner")
            if line.strip().startswith("REST:"):
                return line.split()[-1].removesuffix("/v1")
        raise RuntimeError("no banner")

    def set_clock(self, mode: str) -> None:
        """``manual`` (nothing moves: the invariants are read on a still state) or
        ``realtime`` (tasks run, bills and ending frames race the kill)."""
        answer = requests.post(f"{self.base}/_mock/clock", json={"mode": mode}, timeout=30)
        answer.raise_for_status()

    def hold_in_queue(self) -> None:
        """Runs whose prompt says "cancel me" stay queued (a scenario: scenarios are not
        kept across a restart, so one per round), so their Cancel can succeed."""
        rule = {"prompt_contains": "cancel me", "stay_queued": True, "times": 1_000_000}
        answer = requests.post(f"{self.base}/_mock/scenarios", json=rule, timeout=30)
        answer.raise_for_status()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._close()
        return code

    def _close(self) -> None:
        self._log.close()
        self._reader.join(timeout=10)  # the pipe is at its end: the process is gone
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# ---------------------------------------------------------------------- what clients were told
@dataclass
class Ledger:
    """Everything the fake acknowledged, across every round (thread-safe)."""

    runs: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)  # Cancel or Kill answered success
    uploads: dict[str, str] = field(default_factory=dict)  # url -> sha256
    ended: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> seen end
    acknowledged: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # answered, not a success
    unanswered: Counter[str] = field(default_factory=Counter)  # the kill cut them off
    lock: threading.Lock = field(default_factory=threading.Lock)

    def known_tasks(self) -> list[str]:
        with self.lock:
            return list(self.runs)


@dataclass
class Round:
    number: int
    killed_after: float
    acknowledged: dict[str, int]
    unanswered: dict[str, int]
    tasks_kept: int
    lost: list[str]


@dataclass
class Result:
    rounds: list[Round]
    acknowledged: dict[str, int]
    refused: dict[str, int]
    unanswered: dict[str, int]
    lost: list[str]
    tasks: int
    uploads: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.lost


def _image() -> bytes:
    from mock_wiro_fixtures import image_bytes

    return image_bytes("landscape_16x9.jpg")


class Load:
    """``workers`` threads sending random operations to ``base`` until stopped."""

    def __init__(self, base: str, ledger: Ledger, seed: int, workers: int) -> None:
        self.base, self.ledger, self.workers = base, ledger, workers
        self.stop = threading.Event()
        self.rngs = [random.Random(f"{seed}-{i}") for i in range(workers)]
        self.threads = [
            threading.Thread(target=self._work, args=(rng,), daemon=True) for rng in self.rngs
        ]
        self.image = _image()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def _work(self, rng: random.Random) -> None:
        session = requests.Session()
        session.headers["x-api-key"] = KEY
        names = [n for n, _ in OPS]
        weights = [w for _, w in OPS]
        while not self.stop.is_set():
            op = rng.choices(names, weights)[0]
            try:
                self._one(session, rng, op)
            except (requests.RequestException, ValueError):
                with self.ledger.lock:  # cut off by the kill: nothing was acknowledged
                    self.ledger.unanswered[op] += 1
                time.sleep(0.01)

    def _post(self, session: requests.Session, path: str, **kw: Any) -> dict[str, Any]:
        answer = session.post(f"{self.base}/v1/{path}", timeout=REQUEST_TIMEOUT, **kw)
        body: dict[str, Any] = answer.json()
        return body

    def _one(self, session: requests.Session, rng: random.Random, op: str) -> None:
        ledger = self.ledger
        if op in ("run_cancel", "run_kill"):
            body = self._post(
                session,
                RUN_PATH,
                data={"prompt": "cancel me", "inputImageFirstUrl": "https://example.com/in.jpg"},
            )
            self._count("run", body.get("result") is True)
            if body.get("result") is not True:
                return
            with ledger.lock:
                ledger.runs.add(body["taskid"])
            self._stop(session, op.removeprefix("run_"), body["taskid"])
            return
        if op in ("run", "run_upload"):
            data = {"prompt": f"crash {rng.random()}", "inputImageFirstUrl": ""}
            files = None
            if op == "run":
                data["inputImageFirstUrl"] = "https://example.com/in.jpg"
            else:
                files = {"inputImageFirst": ("in.jpg", self.image)}
            body = self._post(session, RUN_PATH, data=data, files=files)
            self._count(op, body.get("result") is True)
            if body.get("result") is True:
                with ledger.lock:
                    ledger.runs.add(body["taskid"])
            return
        if op == "upload":
            blob = rng.randbytes(rng.randint(1, 200_000))
            body = self._post(session, "File/Upload", files={"file": ("f.bin", blob)})
            self._count(op, body.get("result") is True)
            if body.get("result") is True:
                with ledger.lock:
                    ledger.uploads[body["list"][0]["url"]] = hashlib.sha256(blob).hexdigest()
            return
        known = ledger.known_tasks()
        if not known:
            return
        taskid = rng.choice(known)
        if op == "detail":
            body = self._post(session, "Task/Detail", data={"taskid": taskid})
            self._count(op, body.get("result") is True)
            if body.get("result") is True:
                item = body["tasklist"][0]
                if item["status"] in TERMINAL:
                    seen = (item["status"], item["pexit"], item["totalcost"])
                    with ledger.lock:
                        ledger.ended.setdefault(taskid, seen)
            return
        self._stop(session, op, taskid)

    def _stop(self, session: requests.Session, op: str, taskid: str) -> None:
        """Task/Cancel or Task/Kill; an acknowledged one is noted."""
        path = "Task/Cancel" if op == "cancel" else "Task/Kill"
        body = self._post(session, path, data={"taskid": taskid})
        self._count(op, body.get("result") is True)
        if body.get("result") is True:
            with self.ledger.lock:
                self.ledger.cancelled.add(taskid)

    def _count(self, op: str, success: bool) -> None:
        with self.ledger.lock:
            (self.ledger.acknowledged if success else self.ledger.refused)[op] += 1


# ---------------------------------------------------------------------- the invariants
def check(base: str, ledger: Ledger) -> tuple[list[str], int]:
    """Every invariant against a restarted fake: what was lost (empty: nothing), and how
    many tasks it keeps."""
    lost: list[str] = []
    session = requests.Session()
    session.headers["x-api-key"] = KEY
    tasks = {t["id"]: t for t in session.get(f"{base}/_mock/tasks", timeout=120).json()["tasks"]}
    for taskid in sorted(ledger.runs):
        if taskid not in tasks:
            lost.append(f"Run {taskid}: answered with its id, gone after the restart")
    for taskid in sorted(ledger.cancelled):
        task = tasks.get(taskid)
        if task is not None and task["status"] != "task_cancel":
            lost.append(f"task {taskid}: Cancel/Kill answered success, now {task['status']}")
    for taskid, (status, pexit, cost) in sorted(ledger.ended.items()):
        task = tasks.get(taskid)
        if task is not None and (task["status"], task["pexit"], task["totalcost"]) != (
            status,
            pexit,
            cost,
        ):
            now = (task["status"], task["pexit"], task["totalcost"])
            lost.append(f"task {taskid}: Detail showed it ended {status, pexit, cost}, now {now}")
    for url, digest in sorted(ledger.uploads.items()):
        got = session.get(base + url.removeprefix(PUBLIC_URL), timeout=60)
        if got.status_code != 200 or hashlib.sha256(got.content).hexdigest() != digest:
            lost.append(f"upload {url}: answered with its URL, now {got.status_code}/other bytes")
    billed = Decimal(0)
    for task in tasks.values():
        types = [e["type"] for e in task["events"]]
        twice = sorted(t for t in set(types) if t != "task_output" and types.count(t) > 1)
        if twice:
            lost.append(f"task {task['id']}: {', '.join(twice)} twice (ended or billed twice)")
        ends = [t for t in types if t in TERMINAL]
        if len(ends) > 1:
            lost.append(f"task {task['id']}: ended {len(ends)} times")
        billed += Decimal(str(task["totalcost"]))
    projects = session.get(f"{base}/_mock/projects", timeout=30).json()["projects"]
    (mine,) = [p for p in projects if p["api_key"] == KEY]
    expected = (BALANCE - billed).quantize(Decimal("0.01"))
    if Decimal(mine["balance"]) != expected:
        lost.append(f"balance {mine['balance']}: expected {expected} (start less every bill)")
    return lost, len(tasks)


# ---------------------------------------------------------------------- the campaign
def campaign(
    rounds: int = 20,
    seconds: float = 3.0,
    workers: int = 6,
    seed: int = 13,
    data_dir: Path | None = None,
    log: Path | None = None,
) -> Result:
    """``rounds`` times: load for a random time up to ``seconds``, ``kill -9``, restart on
    the same data dir, check every invariant."""
    work = Path(tempfile.mkdtemp(prefix="mock-wiro-crash-"))
    data = data_dir or work / "data"
    log = log or work / "server.log"
    rng = random.Random(seed)
    ledger = Ledger()
    done: list[Round] = []
    started = time.monotonic()
    server = Server(data, log)
    try:
        for number in range(1, rounds + 1):
            before = Counter(ledger.acknowledged)
            cut_before = Counter(ledger.unanswered)
            server.hold_in_queue()
            server.set_clock("realtime")
            load = Load(server.base, ledger, seed * 1000 + number, workers)
            load.start()
            killed_after = rng.uniform(0.2, seconds)
            time.sleep(killed_after)  # a random moment: that is the point of the campaign
            server.kill()
            load.join()
            server = Server(data, log)
            lost, kept = check(server.base, ledger)
            done.append(
                Round(
                    number,
                    round(killed_after, 3),
                    dict(ledger.acknowledged - before),
                    dict(ledger.unanswered - cut_before),
                    kept,
                    lost,
                )
            )
    finally:
        server.stop()
    lost_all = [f"round {r.number}: {what}" for r in done for what in r.lost]
    return Result(
        done,
        dict(ledger.acknowledged),
        dict(ledger.refused),
        dict(ledger.unanswered),
        lost_all,
        len(ledger.runs),
        len(ledger.uploads),
        round(time.monotonic() - started, 1),
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def render(result: Result) -> str:
    acked = sum(result.acknowledged.values())
    lines = [
        f"crash campaign: {len(result.rounds)} kill -9 rounds in {result.seconds} s",
        f"  acknowledged: {acked} ({_counts(result.acknowledged)})",
        f"  refused (answered, not a success): {sum(result.refused.values())} "
        f"({_counts(result.refused)})",
        f"  cut off by a kill (no answer): {sum(result.unanswered.values())}",
        f"  tasks acknowledged: {result.tasks}; uploads acknowledged: {result.uploads}",
        f"  lost: {len(result.lost)}",
        *(f"    {what}" for what in result.lost),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crash", description=__doc__)
    parser.add_argument("--rounds", type=int, default=20, help="kill -9 rounds (default 20)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="most load time before a kill (default 3)"
    )
    parser.add_argument("--workers", type=int, default=6, help="load threads (default 6)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = campaign(args.rounds, args.seconds, args.workers, args.seed)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    sys.exit(main())
