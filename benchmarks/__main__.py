"""``python -m benchmarks``: run every benchmark, print one table (and optionally JSON)."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import platform
import sys
import time
import traceback
from pathlib import Path

from .common import Row

HERE = Path(__file__).resolve().parent


def modules() -> list[str]:
    """The benchmark modules, in a stable order."""
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".strip()


def table(rows: list[Row]) -> str:
    head = "| benchmark | figure | value | baseline | ratio | median | p99 | target | met |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        ratio = "-"
        if r.ratio is not None:
            ratio = f"{r.ratio:.2f}x" if r.ratio >= 0.1 else f"1/{1 / r.ratio:,.0f}"
        base = f"{fmt(r.baseline, r.unit)} ({r.baseline_label})" if r.baseline else "-"
        met = {True: "yes", False: "**no**", None: "-"}[r.met]
        lines.append(
            f"| {r.benchmark} | {r.figure} | {fmt(r.value, r.unit)} | {base} | {ratio} | "
            f"{fmt(r.median, r.unit)} | {fmt(r.p99, r.unit)} | {r.target or '-'} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs, under a minute")
    parser.add_argument("--only", nargs="*", default=None, help="module names (bench_x or x)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    wanted = modules()
    if args.only:
        names = {n if n.startswith("bench_") else f"bench_{n}" for n in args.only}
        wanted = [m for m in wanted if m in names]
    rows: list[Row] = []
    failed = []
    started = time.perf_counter()
    print(f"# python -m benchmarks {' '.join(argv or sys.argv[1:])}".rstrip(), flush=True)
    print(f"# {platform.platform()}, Python {platform.python_version()}, ", end="")
    print(f"{__import__('os').cpu_count()} CPUs", flush=True)
    for name in wanted:
        module = importlib.import_module(f"benchmarks.{name}")
        run = getattr(module, "run", None)
        if run is None:
            continue
        t0 = time.perf_counter()
        print(f"## {name} ...", flush=True)
        try:
            got = run(quick=args.quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        rows.extend(got)
        print(table(got), flush=True)
        print(f"({time.perf_counter() - t0:.1f} s)\n", flush=True)
    print(f"# all ({time.perf_counter() - started:.1f} s)")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in rows], indent=2))
    if failed:
        print(f"# failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
