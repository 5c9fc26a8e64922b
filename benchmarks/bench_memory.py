"""Memory: the fake's resident set size with many completed tasks retained, per task.

A child process (so the RSS is the fake's own, not the benchmark's) builds the whole
fake (``MockWiroServer``: backend, socket hub, callback dispatcher, HTTP thread) on an
``instant`` clock and:

1. runs one warm-up task (it loads the video encoder and renders the output once),
   then ``reset()`` s the fake and collects garbage: that RSS, a fake with 0 tasks
   retained, is the baseline;
2. creates ``N`` tasks through the backend's Python API (``Backend.run``, what the
   ``Run`` endpoint calls), each with its own parameters parsed from a fresh JSON body
   as a request's would be (an external image URL, a prompt naming the task), and lets
   each run to ``task_postprocess_end``; every ``N/20`` tasks it waits for them to end,
   collects garbage and reads VmRSS.

The figure is (RSS with ``N`` tasks - baseline) / ``N``; the median and p99 are over
the 20 slices (each slice's growth / its tasks), so a per-task cost that grows with the
number of tasks shows. Requests are not used: the journal keeps every request (bounded
at 100,000 entries and 64 MiB), which is the journal's memory, not the tasks'.

    python -m benchmarks.bench_memory [--quick]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import Row, rss_kib, summary

ROOT = Path(__file__).resolve().parent.parent
TARGET_BYTES = 2048
SLICES = 20


def _child(n: int) -> dict[str, Any]:
    """In the child: build the fake, measure, return the figures."""
    from mock_wiro.engine.params import parse_run_params
    from mock_wiro.server import MockWiroServer
    from mock_wiro.settings import Settings

    server = MockWiroServer(Settings(clock_mode="instant")).start()
    backend = server.backend
    project = backend.create_project(balance="1000000000")  # unlimited concurrency
    settings = backend.settings

    def run_one(i: int) -> None:
        body = json.dumps(
            {
                "inputImageFirstUrl": f"https://images.example.com/bench/{i:07d}.jpg",
                "prompt": f"Task {i}: waves roll in over the beach at dusk, slow pan",
                "resolution": "768P",
                "duration": "6",
            }
        )
        backend.run(project, parse_run_params(json.loads(body), (), settings))

    def settle() -> None:
        while True:
            backend.settle()
            if not _active(backend):
                return
            time.sleep(0.005)

    run_one(-1)  # warm-up: the encoder, the render, first-use caches
    settle()
    backend.reset()
    gc.collect()
    base = rss_kib()
    t0 = time.perf_counter()
    samples = [base]
    per_slice = max(1, n // SLICES)
    made = 0
    while made < n:
        batch = min(per_slice, n - made)
        for i in range(made, made + batch):
            run_one(i)
            if i % 64 == 63:
                backend.pump()  # keep few tasks active: Run counts the active ones
        made += batch
        settle()
        gc.collect()
        samples.append(rss_kib())
    elapsed = time.perf_counter() - t0
    tasks = backend.all_tasks()
    done = sum(1 for t in tasks if t.status == "task_postprocess_end")
    server.stop()
    return {
        "n": n,
        "done": done,
        "base_kib": base,
        "samples_kib": samples,
        "per_slice": per_slice,
        "seconds": elapsed,
    }


def _active(backend: Any) -> int:
    """Tasks not yet ended (the backend's own count; no public accessor is needed
    elsewhere)."""
    with backend.state_lock:
        return len(backend.store.active_tasks())


def measure(n: int) -> dict[str, Any]:
    """Run the child for ``n`` tasks; its figures."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", "--child", str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> list[Row]:
    """The benchmark's rows: RSS with N tasks against 0 tasks, and bytes per task."""
    n = 10_000 if quick else 100_000
    got = measure(n)
    samples = got["samples_kib"]
    base, last = samples[0], samples[-1]
    slice_bytes = [(b - a) * 1024 / got["per_slice"] for a, b in itertools.pairwise(samples)]
    per_task = (last - base) * 1024 / n
    median, p99 = summary(slice_bytes)
    note = f"{got['done']:,} of {n:,} tasks ended; created and ran in {got['seconds']:.1f} s"
    return [
        Row(
            "memory",
            f"RSS, {n:,} completed tasks retained",
            last / 1024,
            "MiB",
            baseline=base / 1024,
            baseline_label="same fake, 0 tasks",
            extra={"samples_kib": samples, "tasks_per_sample": got["per_slice"]},
            note=note,
        ),
        Row(
            "memory",
            "RSS per retained task",
            per_task,
            "B",
            median=median,
            p99=p99,
            target="< 2 KB",
            met=per_task < TARGET_BYTES and got["done"] == n,
            note=f"median/p99 over {len(slice_bytes)} slices of {got['per_slice']:,} tasks",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.child)), flush=True)
        return
    from .__main__ import table

    print(table(run(args.quick)))


if __name__ == "__main__":
    main()
