"""Soak: load rounds (``benchmarks/loadkit.py``) one after another against one long-lived
fake, for a set time. After each round the fake is reset (``POST /_mock/reset``: its
tasks, files, journal and deliveries are forgotten, as a long-lived test server's would be
between suites) and, once its threads and fds are back at the baseline, sampled: RSS,
threads and fds from /proc, and the Python heap (``sys.getallocatedblocks()`` and the
gc-tracked objects after a full collection, through ``loadkit.PROBE_LAUNCHER``: the same
``mock-wiro serve``, plus a SIGUSR1 handler).

    python -m benchmarks.soak [--minutes 10] [--round-seconds 20] [--threads 8] [--seed 1]
                              [--malloc-arena-max N] [--json results.json]

It prints the series and least-squares slopes (with their standard errors) over the
rounds after the warm-up third. The verdicts:

- **no leak**: the Python heap grows by less than :data:`BLOCKS_THRESHOLD` blocks a round.
  This is what the fake keeps, exactly: it does not depend on the C allocator.
- **RSS flat**: the RSS slope is not significantly above :data:`THRESHOLD_KIB` (fails when
  slope - 2 * stderr > threshold). RSS moves by several MiB from one idle sample to the
  next (glibc's per-thread malloc arenas and its dynamic mmap threshold keep freed memory
  mapped; ``--malloc-arena-max 2`` shows how much), so a bare slope of a few rounds is
  mostly noise; the standard error shrinks as rounds**-1.5, so a longer soak sharpens it.
- threads and fds back at the baseline after every round (waiting for them at most
  ``loadkit.SETTLE_SECONDS``: see ``loadkit.SLACK`` for why it can take up to the 25 s
  ping interval), and every round's invariants.

Exits 1 if any verdict fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .loadkit import (
    DEFAULT_PROJECTS,
    SLACK,
    Admin,
    LoadConfig,
    ServerProcess,
    create_projects,
    load_round,
    quiet_baseline,
    settle,
)

THRESHOLD_KIB = 512.0
"""RSS slope (KiB per round) still called flat. A round makes ~500-900 tasks and ~5000
requests; retaining 1 KiB per task (far less than one task's events and wire dicts,
which cost ~50-100 KiB of RSS while the fake keeps them) or 100 bytes per request would
add more than this every round."""
BLOCKS_THRESHOLD = 50.0
"""Python heap slope (allocated blocks per round) still called no leak. Keeping one small
object for every tenth task, or one for every request, would exceed it; the idle heap
after a reset is stable to within ~20 blocks between rounds (the re module's and
werkzeug's bounded caches)."""


def slope_and_error(values: list[float]) -> tuple[float, float]:
    """Least-squares slope of ``values`` against their index, and its standard error
    (0, 0 for fewer than 3 values)."""
    n = len(values)
    if n < 3:
        return 0.0, 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    sxx = sum((i - mean_x) ** 2 for i in range(n))
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sxx
    residuals = sum((v - mean_y - slope * (i - mean_x)) ** 2 for i, v in enumerate(values))
    return slope, (residuals / (n - 2) / sxx) ** 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="soak time (default 10)")
    parser.add_argument("--round-seconds", type=float, default=20.0, help="load per round")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="round i uses seed + i")
    parser.add_argument("--speed", type=float, default=40.0, help="the fake's --speed")
    parser.add_argument("--threshold-kib", type=float, default=THRESHOLD_KIB)
    parser.add_argument("--blocks-threshold", type=float, default=BLOCKS_THRESHOLD)
    parser.add_argument(
        "--malloc-arena-max",
        type=int,
        help="run the fake with MALLOC_ARENA_MAX=N (glibc): tells allocator growth from a leak",
    )
    parser.add_argument(
        "--socket-faults",
        default="close,duplicate,delay,drop_on_register",
        help="socket fault actions the chaos thread adds (comma-separated)",
    )
    parser.add_argument("--json", type=Path, help="also write the series here")
    args = parser.parse_args(argv)

    print(f"# python -m benchmarks.soak {' '.join(sys.argv[1:] if argv is None else argv)}")
    budget = args.minutes * 60
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    env = {"MALLOC_ARENA_MAX": str(args.malloc_arena_max)} if args.malloc_arena_max else None
    with ServerProcess(speed=args.speed, env=env, probe=True) as server:
        shown = f" with {env}" if env else ""
        print(
            f"# server: mock-wiro serve --speed {args.speed:g} through loadkit.PROBE_LAUNCHER "
            f"(pid {server.pid}){shown}"
        )
        admin = Admin(server.url)
        projects = create_projects(admin, DEFAULT_PROJECTS)
        started = time.monotonic()
        warm = LoadConfig(seconds=3, threads=4, seed=args.seed, faults=False)
        with load_round(server, projects, warm) as run:
            if not run.run().ok:
                failures.append("warm-up round: an invariant failed")
        admin.post("/reset")
        admin.close()
        baseline = quiet_baseline(server)
        heap0 = server.heap()
        print(
            f"# baseline after a warm-up round: {baseline}; Python heap {heap0['blocks']} "
            f"blocks, {heap0['objects']} objects"
        )
        header = (
            f"{'round':>5} {'t s':>6} {'tasks':>6} {'reqs':>6} {'inv':>4} "
            f"{'RSS KiB':>9} {'ΔRSS':>8} {'threads':>7} {'fds':>4} {'settle s':>8} "
            f"{'RSS before reset':>16} {'heap blocks':>11} {'objects':>8}"
        )
        print(header)
        index = 0
        round_time = args.round_seconds
        while time.monotonic() - started + round_time <= budget or index == 0:
            t0 = time.monotonic()
            config = LoadConfig(
                seconds=args.round_seconds,
                threads=args.threads,
                seed=args.seed + index,
                socket_actions=tuple(a for a in args.socket_faults.split(",") if a),
            )
            with load_round(server, projects, config) as run:
                result = run.run()
            peak = server.sample().rss_kib  # before the reset: the tasks are still kept
            admin.post("/reset")
            admin.close()
            sample, took = settle(server, baseline, 0)
            heap = server.heap()
            round_time = time.monotonic() - t0
            previous = rows[-1]["rss_kib"] if rows else baseline.rss_kib
            row = {
                "round": index,
                "t": round(time.monotonic() - started, 1),
                "tasks": result.tasks,
                "requests": sum(result.requests.values()),
                "ok": result.ok,
                "rss_kib": sample.rss_kib,
                "threads": sample.threads,
                "fds": sample.fds,
                "rss_before_reset_kib": peak,
                "settle_seconds": round(took, 1),
                "heap_blocks": heap["blocks"],
                "heap_objects": heap["objects"],
            }
            rows.append(row)
            print(
                f"{index:>5} {row['t']:>6} {row['tasks']:>6} {row['requests']:>6} "
                f"{'ok' if result.ok else 'FAIL':>4} {sample.rss_kib:>9} "
                f"{sample.rss_kib - previous:>+8} {sample.threads:>7} {sample.fds:>4} "
                f"{took:>8.1f} {peak:>16} {heap['blocks']:>11} {heap['objects']:>8}",
                flush=True,
            )
            if not result.ok:
                failures += [
                    f"round {index}: {c.name}: {c.failures[:3]}" for c in result.checks if not c.ok
                ]
            if sample.threads > baseline.threads + SLACK or sample.fds > baseline.fds + SLACK:
                failures.append(f"round {index}: {sample} after the reset, baseline {baseline}")
            index += 1

    skip = max(1, len(rows) // 3)
    tail = rows[skip:]
    per_round, error = slope_and_error([float(r["rss_kib"]) for r in tail])
    blocks, blocks_error = slope_and_error([float(r["heap_blocks"]) for r in tail])
    objects, _ = slope_and_error([float(r["heap_objects"]) for r in tail])
    no_leak = blocks - 2 * blocks_error < args.blocks_threshold and len(tail) >= 3
    flat = per_round - 2 * error < args.threshold_kib and len(tail) >= 3
    total_tasks = sum(r["tasks"] for r in rows)
    total_requests = sum(r["requests"] for r in rows)
    elapsed = time.monotonic() - started
    rss = [r["rss_kib"] for r in tail]
    print(
        f"soak: {len(rows)} rounds in {elapsed / 60:.1f} min, {total_tasks} tasks, "
        f"{total_requests} requests"
    )
    print(
        f"  Python heap after each reset: {heap0['blocks']} blocks at the baseline, "
        f"{rows[-1]['heap_blocks']} after the last round; over rounds {skip}..{len(rows) - 1} "
        f"{blocks:+.1f} ± {blocks_error:.1f} blocks/round, {objects:+.1f} objects/round"
    )
    print(
        f"  RSS after each reset: {baseline.rss_kib} KiB at the baseline, "
        f"{rows[-1]['rss_kib']} KiB after the last round ({min(rss)}..{max(rss)} over rounds "
        f"{skip}..{len(rows) - 1}); {per_round:+.1f} ± {error:.1f} KiB/round"
    )
    print(
        f"  [{'PASS' if no_leak else 'FAIL'}] no leak: the Python heap slope is under "
        f"{args.blocks_threshold:g} blocks/round"
    )
    print(
        f"  [{'PASS' if flat else 'FAIL'}] RSS flat: the slope is not significantly above "
        f"{args.threshold_kib:g} KiB/round (slope - 2 stderr = {per_round - 2 * error:+.1f})"
    )
    steady = not any("after the reset" in f for f in failures)
    print(f"  [{'PASS' if steady else 'FAIL'}] threads and fds back to the baseline every round")
    rounds_ok = all(r["ok"] for r in rows)
    print(f"  [{'PASS' if rounds_ok else 'FAIL'}] every round's invariants")
    for failure in failures[:20]:
        print(f"    - {failure[:400]}")
    ok = flat and no_leak and not failures
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "baseline": vars(baseline),
                    "rounds": rows,
                    "heap_baseline": heap0,
                    "slope_kib_per_round": per_round,
                    "slope_kib_stderr": error,
                    "heap_blocks_per_round": blocks,
                    "heap_blocks_stderr": blocks_error,
                    "heap_objects_per_round": objects,
                    "slope_from_round": skip,
                    "threshold_kib": args.threshold_kib,
                    "blocks_threshold": args.blocks_threshold,
                    "flat": flat,
                    "no_leak": no_leak,
                    "failures": failures,
                    "ok": ok,
                },
                indent=2,
            )
        )
    print(f"# {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
