"""The durable store against the in-memory one, side by side in one run (issue 13):
``python -m benchmarks.durable [--quick] [--json FILE]``.

- **Signed Task/Detail** and **Run** throughput: two ``mock-wiro serve --speed 0``
  subprocesses, one in memory and one with ``--data-dir`` (a fresh folder under the
  system temp dir), hammered in turns by ``bench_requests.hammer`` (``CONNECTIONS``
  keep-alive connections, each request signed afresh), rotated each round so drift hits
  both; the figure is the median of the rounds' requests/s. A Run creates a task that
  then runs its whole lifecycle (instant clock) on the server meanwhile: its frames are
  committed too, so Run measures what a durable Run costs in all.
- **Instant lifecycle latency**: ``bench_lifecycle``'s client (Run, then the socket's
  frames up to ``task_postprocess_end``), against an in-process ``MockWiroServer`` on the
  instant clock, in memory and durable, in interleaved halves.
- **Memory per retained task**: a child process per store runs ``N`` tasks to their end
  through the backend (as ``bench_memory`` does) and reads its RSS against the same fake
  with 0 tasks.

Targets (issue 13): Detail >= 0.9x and Run >= 0.7x the in-memory figures; the durable
lifecycle median < 10 ms. The machine is shared and noisy: ratios measured in one run.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import bench_requests as br
from .bench_lifecycle import _breakdown, _tasks, quiet_werkzeug
from .common import Row, rss_kib, summary

ROOT = Path(__file__).resolve().parent.parent
DETAIL_TARGET = 0.9
RUN_TARGET = 0.7
LIFECYCLE_TARGET_MS = 10.0


def _signer(path: str, host: str, body: bytes) -> Callable[[], bytes]:
    """The same signed POST to ``path``, with a fresh nonce each time."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nx-api-key: {br.API_KEY}\r\n"
    ).encode()
    nonces = itertools.count(int(time.time() * 1000))
    key, secret = br.API_KEY.encode(), br.API_SECRET.encode()

    def make() -> bytes:
        nonce = str(next(nonces)).encode()
        signature = hmac.new(key, secret + nonce, hashlib.sha256).hexdigest().encode()
        return b"%sx-nonce: %s\r\nx-signature: %s\r\n\r\n%s" % (head, nonce, signature, body)

    return make


# ------------------------------------------------------------------ throughput
def throughput(quick: bool, tmp: Path) -> dict[str, dict[str, list[br.Window]]]:
    """Detail and Run windows of each store: {store: {"detail": [...], "run": [...]}}."""
    rounds, window = (2, 1.5) if quick else (6, 3.0)
    memory = br.python_target("werkzeug", "fake")
    memory.name = "in memory"
    durable = br.python_target("werkzeug", "fake")
    durable.name = "durable"
    durable.cmd = [*durable.cmd, "--data-dir", str(tmp / "data")]
    targets = [memory, durable]
    found: dict[str, dict[str, list[br.Window]]] = {
        t.name: {"detail": [], "run": []} for t in targets
    }
    run_body = json.dumps({"inputImageFirstUrl": br.IMAGE_URL, "prompt": "waves"}).encode()
    try:
        for t in targets:
            br.start(t, tmp)
        deadline = time.monotonic() + br.STARTUP_TIMEOUT
        for t in targets:
            br.ready(t, deadline)
        for t in targets:  # warm-up: first-use caches, the WAL created
            br.hammer(t.port, _signer(br.PATH, f"127.0.0.1:{t.port}", t.body), br.CONNECTIONS, 1)
        for order in br._rotations(targets, rounds):
            for t in order:
                host = f"127.0.0.1:{t.port}"
                detail = br.hammer(t.port, _signer(br.PATH, host, t.body), br.CONNECTIONS, window)
                found[t.name]["detail"].append(detail)
            for t in order:
                host = f"127.0.0.1:{t.port}"
                run = br.hammer(t.port, _signer(br.RUN, host, run_body), br.CONNECTIONS, window)
                found[t.name]["run"].append(run)
    finally:
        for t in targets:
            br.stop(t)
    return found


# ------------------------------------------------------------------ lifecycle
def lifecycle(quick: bool, tmp: Path) -> dict[str, list[Any]]:
    """Lifecycle timings of each store, in interleaved halves."""
    from mock_wiro.server import MockWiroServer
    from mock_wiro.settings import Settings

    tasks, warmup = (20, 3) if quick else (150, 10)
    found: dict[str, list[Any]] = {"in memory": [], "durable": []}
    order = ["in memory", "durable", "durable", "in memory"]
    for n, store in enumerate(order):
        data = str(tmp / f"lifecycle-{n}") if store == "durable" else None
        with MockWiroServer(Settings(clock_mode="instant", data_dir=data)) as server:
            project = server.create_project(balance="1000000")
            timings = _tasks(server.base_url, server.socket_url, project, tasks // 2, warmup)
            found[store].extend(timings[1:])
    return found


# ------------------------------------------------------------------ memory
def _child(n: int, data_dir: str | None) -> dict[str, Any]:
    """In a child process: RSS of a fake with 0, then ``n`` ended tasks retained."""
    from mock_wiro.engine.params import parse_run_params
    from mock_wiro.server import MockWiroServer
    from mock_wiro.settings import Settings

    server = MockWiroServer(Settings(clock_mode="instant", data_dir=data_dir)).start()
    backend = server.backend
    project = backend.create_project(balance="1000000000")
    settings = backend.settings

    def run_one(i: int) -> None:
        body = {
            "inputImageFirstUrl": f"https://images.example.com/bench/{i:07d}.jpg",
            "prompt": f"Task {i}: waves roll in over the beach at dusk, slow pan",
            "resolution": "768P",
            "duration": "6",
        }
        backend.run(project, parse_run_params(json.loads(json.dumps(body)), (), settings))

    def settle() -> None:
        while True:
            backend.settle()
            with backend.state_lock:
                if not backend.store.active_tasks():
                    return
            time.sleep(0.005)

    run_one(-1)
    settle()
    backend.reset()
    gc.collect()
    base = rss_kib()
    started = time.perf_counter()
    for i in range(n):
        run_one(i)
        if i % 64 == 63:
            backend.pump()
    settle()
    gc.collect()
    done = sum(1 for t in backend.all_tasks() if t.status == "task_postprocess_end")
    last = rss_kib()
    seconds = time.perf_counter() - started
    server.stop()
    return {"n": n, "done": done, "base_kib": base, "last_kib": last, "seconds": seconds}


def memory(quick: bool, tmp: Path) -> dict[str, dict[str, Any]]:
    n = 2_000 if quick else 20_000
    found: dict[str, dict[str, Any]] = {}
    for store in ("in memory", "durable"):
        args = ["--child", str(n)]
        if store == "durable":
            args += ["--data-dir", str(tmp / "memory-data")]
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.durable", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
        found[store] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


# ------------------------------------------------------------------ the rows
def run(quick: bool) -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-durable-"))
    try:
        with quiet_werkzeug():
            tp = throughput(quick, tmp)
            lc = lifecycle(quick, tmp)
        mem = memory(quick, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows: list[Row] = []
    for kind, target in (("detail", DETAIL_TARGET), ("run", RUN_TARGET)):
        rps = {s: statistics.median(w.rps for w in tp[s][kind]) for s in tp}
        lat = {s: summary([x for w in tp[s][kind] for x in w.latencies]) for s in tp}
        errors = sum(w.errors for s in tp for w in tp[s][kind])
        ratio = rps["durable"] / rps["in memory"]
        rows.append(
            Row(
                "durable",
                f"signed {'Task/Detail' if kind == 'detail' else 'Run'} throughput",
                rps["durable"],
                "req/s",
                baseline=rps["in memory"],
                baseline_label="in memory",
                target=f">= {target}x",
                met=ratio >= target,
                note=f"latency median/p99 {lat['durable'][0] * 1000:.1f}/"
                f"{lat['durable'][1] * 1000:.1f} ms durable, {lat['in memory'][0] * 1000:.1f}/"
                f"{lat['in memory'][1] * 1000:.1f} ms in memory; {errors} non-200",
                extra={s: [round(w.rps, 1) for w in tp[s][kind]] for s in tp},
            )
        )
    med = {s: summary([x[2] for x in lc[s]]) for s in lc}
    rows.append(
        Row(
            "durable",
            "instant lifecycle, Run to task_postprocess_end",
            med["durable"][0] * 1000,
            "ms",
            baseline=med["in memory"][0] * 1000,
            baseline_label="in memory",
            median=med["durable"][0] * 1000,
            p99=med["durable"][1] * 1000,
            target=f"median < {LIFECYCLE_TARGET_MS:g} ms",
            met=med["durable"][0] * 1000 < LIFECYCLE_TARGET_MS,
            extra={s: _breakdown(lc[s]) for s in lc},
        )
    )
    per_task = {s: (m["last_kib"] - m["base_kib"]) * 1024 / m["n"] for s, m in mem.items()}
    rows.append(
        Row(
            "durable",
            f"RSS per retained task ({mem['durable']['n']:,} tasks)",
            per_task["durable"],
            "B",
            baseline=per_task["in memory"],
            baseline_label="in memory",
            note=f"ran in {mem['durable']['seconds']:.1f} s durable, "
            f"{mem['in memory']['seconds']:.1f} s in memory",
            extra=mem,
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.durable", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(_child(args.child, args.data_dir)))
        return 0
    from .__main__ import table

    rows = run(args.quick)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
