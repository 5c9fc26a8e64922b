"""Load: many threads race Run, Task/Detail, Task/Cancel and Task/Kill against the fake in
a subprocess for a set time, with HTTP, socket and callback faults and scenarios mixed in;
then every task is driven to its end and the invariants are checked (see
``benchmarks/loadkit.py``). Loopback only; bounded in time (``--seconds`` plus a bounded
drain) and in count (``--max-tasks``).

    python -m benchmarks.load [--seconds 60] [--threads 16] [--seed 1] [--speed 40]
                              [--max-active 48] [--json results.json]

Besides the invariants of one round, it checks that the server gives back what the load
took: after the run, its thread and file-descriptor counts (from /proc) return to the
baseline measured after a warm-up round, within ``loadkit.SLACK`` (its docstring says why,
and why the wait for it is bounded by ``loadkit.SETTLE_SECONDS``). Prints a summary; exits
1 if any invariant fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from .loadkit import (
    DEFAULT_PROJECTS,
    SLACK,
    Admin,
    LoadConfig,
    ServerProcess,
    create_projects,
    load_round,
    quiet_baseline,
    render_summary,
    settle,
)


class Peak:
    """Samples the server every half second: the largest threads, fds and RSS seen."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.threads = self.fds = self.rss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            sample = self.server.sample()
            self.threads = max(self.threads, sample.threads)
            self.fds = max(self.fds, sample.fds)
            self.rss_kib = max(self.rss_kib, sample.rss_kib)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="load time (default 60)")
    parser.add_argument("--threads", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the clients and the faults")
    parser.add_argument("--speed", type=float, default=40.0, help="the fake's --speed")
    parser.add_argument("--max-active", type=int, default=48, help="tasks in flight at once")
    parser.add_argument("--max-tasks", type=int, default=20_000, help="tasks in all")
    parser.add_argument("--no-faults", action="store_true", help="no faults, no chaos")
    parser.add_argument(
        "--socket-faults",
        default="close,duplicate,delay,drop_on_register",
        help="socket fault actions the chaos thread adds (comma-separated)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    config = LoadConfig(
        seconds=args.seconds,
        threads=args.threads,
        seed=args.seed,
        max_active=args.max_active,
        max_tasks=args.max_tasks,
        faults=not args.no_faults,
        socket_actions=tuple(a for a in args.socket_faults.split(",") if a),
    )
    print(f"# python -m benchmarks.load {' '.join(sys.argv[1:] if argv is None else argv)}")
    with ServerProcess(speed=args.speed) as server:
        print(f"# server: {' '.join(server.command[1:])} (pid {server.pid}) at {server.url}")
        admin = Admin(server.url)
        projects = create_projects(admin, DEFAULT_PROJECTS)
        print(
            "# projects: "
            + ", ".join(f"{p.name} ${p.spec.balance} ({p.spec.auth})" for p in projects)
        )
        started = server.sample()
        warm_config = LoadConfig(seconds=3, threads=4, seed=args.seed, faults=False)
        with load_round(server, projects, warm_config) as warm:
            warm_result = warm.run()
        print(
            f"# warm-up: {warm_result.tasks} tasks, invariants "
            f"{'pass' if warm_result.ok else 'FAIL'}"
        )
        admin.post("/reset")
        admin.close()  # its keep-alive connection holds a server thread and an fd
        baseline = quiet_baseline(server)
        print(f"# server at start: {started}; baseline after warm-up: {baseline}")

        peak = Peak(server)
        with load_round(server, projects, config) as run:
            result = run.run()
        peak.stop()
        before_settle = server.sample()
        after, took = settle(server, baseline, 0)  # judged with SLACK below

        print(render_summary(result))
        leaked_threads = after.threads - baseline.threads
        leaked_fds = after.fds - baseline.fds
        flat = leaked_threads <= SLACK and leaked_fds <= SLACK
        print(
            f"server: baseline {baseline}; peak threads {peak.threads}, fds {peak.fds}, "
            f"RSS {peak.rss_kib / 1024:.1f} MiB; right after the run {before_settle}; "
            f"after {took:.1f} s settle {after}"
        )
        print(
            f"  [{'PASS' if flat else 'FAIL'}] no leaked threads or file descriptors "
            f"(threads {leaked_threads:+d}, fds {leaked_fds:+d}; slack {SLACK})"
        )
        ok = result.ok and warm_result.ok and flat
        if not ok:
            server.keep_log = True
            print(f"# server log kept: {server.log_path}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "result": result.to_json(),
                        "warm_up_ok": warm_result.ok,
                        "server": {
                            "baseline": vars(baseline),
                            "after": vars(after),
                            "settle_seconds": took,
                            "peak": {
                                "threads": peak.threads,
                                "fds": peak.fds,
                                "rss_kib": peak.rss_kib,
                            },
                            "slack": SLACK,
                            "flat": flat,
                        },
                        "ok": ok,
                    },
                    indent=2,
                    default=str,
                )
            )
    print(f"# {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
