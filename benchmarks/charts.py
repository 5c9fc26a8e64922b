"""SVG charts of one ``python -m benchmarks`` run, drawn from its rows (no figure is
typed here): requests per second and per server CPU-second against each peer, request
latency (median and p99, eight connections and one), fan-out lag against the number of
subscribers, memory against retained tasks, lifecycle latency.

matplotlib is optional (the ``charts`` extra: ``pip install -e '.[charts]'``); without
it, :func:`write_charts` says so and draws nothing. Each chart is written only when the
run has the rows it needs (``--only`` runs draw fewer). The SVGs are reproducible: no
date in their metadata, a fixed hash salt for their ids.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import Row

__all__ = ["CHARTS", "write_charts"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.hashsalt": "mock-wiro-benchmarks",
            "svg.fonttype": "none",  # text stays text: small files, searchable
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    _plt().close(fig)
    return path


def _driver(rows: list[Row]) -> str:
    found = {str(r.extra.get("driver")) for r in rows if r.extra.get("driver")}
    return ", ".join(sorted(found))


def _requests(rows: list[Row], prefix: str) -> list[Row]:
    return [r for r in rows if r.benchmark == "requests" and r.figure.startswith(prefix)]


def _hbars(path: Path, names: list[str], values: list[float], xlabel: str, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.2))
    bars = ax.barh(names, values, color=["#4c72b0" if "fake" in n else "#999999" for n in names])
    ax.invert_yaxis()
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3)
    ax.set_xlabel(xlabel)
    ax.set_title(title, loc="left")
    ax.margins(x=0.15)
    return _save(fig, path)


def throughput(rows: list[Row], folder: Path, run: str) -> Path | None:
    """Requests per second of every target, eight keep-alive connections."""
    found = _requests(rows, "latency: ")
    if not found:
        return None
    names = [r.figure.removeprefix("latency: ") for r in found]
    values = [statistics.median(r.extra["rps_rounds"]) for r in found]
    title = f"Signed Task/Detail, requests/s, 8 connections\n{_driver(found)}; {run}"
    return _hbars(folder / "requests-throughput.svg", names, values, "requests/s", title)


def cpu(rows: list[Row], folder: Path, run: str) -> Path | None:
    """Requests per CPU-second of each target's own processes."""
    found = _requests(rows, "requests per server CPU-second: ")
    if not found:
        return None
    names = [r.figure.split(": ", 1)[1] for r in found]
    title = f"Requests per CPU-second of the server's own processes\n{run}"
    return _hbars(folder / "requests-cpu.svg", names, [r.value for r in found], "req/CPU-s", title)


def latency(rows: list[Row], folder: Path, run: str) -> Path | None:
    """Median and p99 latency per target: eight connections, and one."""
    busy = {r.figure.removeprefix("latency: "): r for r in _requests(rows, "latency: ")}
    single = {
        r.figure.removeprefix("latency, one connection: "): r
        for r in _requests(rows, "latency, one connection: ")
    }
    if not busy:
        return None
    plt = _plt()
    names = list(busy)
    fig, ax = plt.subplots(figsize=(7.5, 0.7 * len(names) + 1.4))
    series = [
        ("median, 8 connections", [busy[n].median or 0 for n in names], "#4c72b0"),
        ("p99, 8 connections", [busy[n].p99 or 0 for n in names], "#a1c9f4"),
        (
            "median, 1 connection",
            [single[n].median or 0 if n in single else 0 for n in names],
            "#dd8452",
        ),
    ]
    height = 0.8 / len(series)
    for i, (label, values, colour) in enumerate(series):
        at = [k + (i - 1) * height for k in range(len(names))]
        bars = ax.barh(at, values, height=height, label=label, color=colour)
        ax.bar_label(bars, labels=[f"{v:.3g}" if v else "" for v in values], padding=2, fontsize=7)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ms (log scale), send to last byte")
    ax.set_title(f"Task/Detail latency\n{_driver(list(busy.values()))}; {run}", loc="left")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 - 0.4 / len(names)),
        ncol=3,
        fontsize=7,
        frameon=False,
    )
    return _save(fig, folder / "requests-latency.svg")


def fanout(rows: list[Row], folder: Path, run: str) -> Path | None:
    """Socket delivery lag (median, p99) against the number of subscribers."""
    row = next((r for r in rows if r.extra.get("lag_ms_by_subscribers")), None)
    if row is None:
        return None
    points = sorted(row.extra["lag_ms_by_subscribers"])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    counts = [p[0] for p in points]
    ax.plot(counts, [p[1] for p in points], "o-", label="median")
    ax.plot(counts, [p[2] for p in points], "s--", label="p99")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers (one task each, all at once)")
    ax.set_ylabel("delivery lag, ms (log)")
    ax.set_title(f"Socket fan-out: delivery lag against subscribers\n{run}", loc="left")
    ax.legend()
    return _save(fig, folder / "fanout-lag.svg")


def memory(rows: list[Row], folder: Path, run: str) -> Path | None:
    """The fake's RSS as completed tasks accumulate."""
    row = next((r for r in rows if r.extra.get("samples_kib")), None)
    if row is None or not row.extra.get("tasks_per_sample"):
        return None
    step = row.extra["tasks_per_sample"]
    samples = row.extra["samples_kib"]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.plot([i * step for i in range(len(samples))], [k / 1024 for k in samples], "-")
    ax.set_xlabel("completed tasks retained")
    ax.set_ylabel("RSS, MiB")
    ax.set_ylim(bottom=0)
    ax.set_title(f"The fake's RSS against completed tasks retained\n{run}", loc="left")
    return _save(fig, folder / "memory-rss.svg")


def lifecycle(rows: list[Row], folder: Path, run: str) -> Path | None:
    """Instant Run -> task_postprocess_end on the socket: median and p99 per set-up."""
    found = [r for r in rows if r.benchmark == "lifecycle" and r.median and r.p99]
    if not found:
        return None
    plt = _plt()
    names = [r.figure.split(": ", 1)[-1] for r in found]
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(names) + 1.2))
    at = range(len(names))
    ax.barh([k - 0.2 for k in at], [r.median or 0 for r in found], height=0.4, label="median")
    ax.barh([k + 0.2 for k in at], [r.p99 or 0 for r in found], height=0.4, label="p99")
    ax.set_yticks(list(at), names)
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.set_title(f"Instant task, Run to its last socket frame\n{run}", loc="left")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.15 - 0.4 / len(names)),
        ncol=2,
        fontsize=7,
        frameon=False,
    )
    return _save(fig, folder / "lifecycle-latency.svg")


CHARTS: dict[str, Callable[[list[Row], Path, str], Path | None]] = {
    "requests-throughput": throughput,
    "requests-cpu": cpu,
    "requests-latency": latency,
    "fanout-lag": fanout,
    "memory-rss": memory,
    "lifecycle-latency": lifecycle,
}
"""Each chart's file stem and the function that draws it from the rows."""


def write_charts(rows: list[Row], folder: Path, run: str) -> list[Path]:
    """Draw every chart the rows allow into ``folder`` (``run`` names the run in the
    titles, e.g. ``full run`` or ``--quick``); the paths written."""
    try:
        _plt()
    except ImportError:
        print("charts: matplotlib is not installed (pip install -e '.[charts]'): none drawn")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return [path for draw in CHARTS.values() if (path := draw(rows, folder, run)) is not None]
