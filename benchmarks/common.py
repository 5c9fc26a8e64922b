"""What every benchmark shares: the ``Row`` it reports, percentiles, RSS, free ports."""

from __future__ import annotations

import math
import os
import socket
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Row", "free_port", "percentile", "rss_kib", "summary"]


@dataclass
class Row:
    """One figure: ``value`` in ``unit``; against ``baseline`` (same unit) when there is one.

    ``ratio`` is value / baseline (for throughput, higher is better; for times, lower);
    ``target`` says what the issue asks (text), ``met`` whether this run met it.
    """

    benchmark: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    median: float | None = None
    p99: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """value / baseline, when both are known and the baseline is not zero."""
        if self.baseline in (None, 0) or self.baseline is None:
            return None
        return self.value / self.baseline

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict (with its ratio)."""
        return {**asdict(self), "ratio": self.ratio}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), nearest-rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> tuple[float, float]:
    """(median, p99) of ``values``."""
    return (statistics.median(values) if values else math.nan, percentile(values, 99))


def _status_kib(field: str, pid: int | None) -> int:
    with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc status")


def rss_kib(pid: int | None = None) -> int:
    """Resident set size of a process (default: this one), in KiB, from /proc."""
    return _status_kib("VmRSS", pid)


def peak_rss_kib(pid: int | None = None) -> int:
    """Peak resident set size (VmHWM) of a process, in KiB."""
    return _status_kib("VmHWM", pid)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
