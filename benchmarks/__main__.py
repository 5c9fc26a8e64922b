"""``python -m benchmarks``: run every benchmark, print one table (and optionally JSON);
``--charts DIR`` draws its SVG charts (:mod:`benchmarks.charts`), ``--write-docs``
writes the table, the notes and the charts into docs/benchmarks.md and
docs/benchmarks/ (the only way figures get there), ``--from-json`` redraws from a
saved run without measuring anything."""

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
DOC = HERE.parent / "docs" / "benchmarks.md"
CHART_DIR = DOC.with_suffix("")  # docs/benchmarks/, beside the page that shows them
TABLE_MARKS = (
    "<!-- benchmarks:table (written by python -m benchmarks --write-docs) -->",
    "<!-- /benchmarks:table -->",
)
CHART_MARKS = (
    "<!-- benchmarks:charts (written by python -m benchmarks --write-docs) -->",
    "<!-- /benchmarks:charts -->",
)


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


def notes(rows: list[Row]) -> str:
    """The rows' notes (which client drove them, how many rounds, what was skipped)."""
    return "\n".join(f"- {r.benchmark}, {r.figure}: {r.note}" for r in rows if r.note)


def _replace(text: str, marks: tuple[str, str], body: str) -> str:
    start, end = text.index(marks[0]) + len(marks[0]), text.index(marks[1])
    return text[:start] + "\n" + body.strip("\n") + "\n" + text[end:]


def write_docs(rows: list[Row], charts: list[Path], how: str) -> None:
    """The run's table, notes and chart links into docs/benchmarks.md, between its marks."""
    text = DOC.read_text()
    text = _replace(text, TABLE_MARKS, f"{how}\n\n{table(rows)}\n\nNotes:\n\n{notes(rows)}")
    links = "\n\n".join(
        f"![{path.stem}]({path.relative_to(DOC.parent).as_posix()})" for path in charts
    )
    text = _replace(text, CHART_MARKS, links or "(no charts: matplotlib missing)")
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs, about two minutes")
    parser.add_argument("--only", nargs="*", default=None, help="module names (bench_x or x)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--charts", type=Path, metavar="DIR", help="draw the SVG charts here")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help=f"write the table into {DOC.relative_to(HERE.parent)} and the charts into "
        f"{CHART_DIR.relative_to(HERE.parent)}/",
    )
    parser.add_argument(
        "--from-json", type=Path, metavar="JSON", help="measure nothing: use a --json file's rows"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        rows = [
            Row(**{k: v for k, v in r.items() if k != "ratio"})
            for r in json.loads(args.from_json.read_text())
        ]
        return _publish(args, rows, f"Rows of `{args.from_json.name}`, drawn again.")
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
            if isinstance(got, tuple):  # bench_servers: (rows, its raw results)
                got = got[0]
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        rows.extend(got)
        print(table(got), flush=True)
        print(f"({time.perf_counter() - t0:.1f} s)\n", flush=True)
    elapsed = time.perf_counter() - started
    print(f"# all ({elapsed:.1f} s)")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in rows], indent=2))
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    _publish(args, rows, f"`{command}`, {time.strftime('%Y-%m-%d')}, {elapsed:.0f} s.")
    if failed:
        print(f"# failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _publish(args: argparse.Namespace, rows: list[Row], how: str) -> int:
    """Charts (``--charts``, or docs/benchmarks/ with ``--write-docs``) and the doc."""
    folder = CHART_DIR if args.write_docs else args.charts
    run = "--quick" if args.quick else "full run"
    if args.from_json:
        run = args.from_json.stem
    drawn: list[Path] = []
    if folder is not None:
        from .charts import write_charts

        drawn = write_charts(rows, folder, run)
        for path in drawn:
            print(f"# chart: {path}")
    if args.write_docs:
        write_docs(rows, drawn, how)
        print(f"# wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
