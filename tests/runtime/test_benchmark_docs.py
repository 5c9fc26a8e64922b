"""``python -m benchmarks --write-docs`` and its charts, without measuring anything: the
table and the chart links land between docs/benchmarks.md's marks and nowhere else, and
each chart is drawn from the rows it is given (its labels carry their values)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import benchmarks.__main__ as bench_main
from benchmarks.common import Row

ROWS = [
    Row(
        "requests",
        "latency: fake, werkzeug threaded = mock-wiro serve",
        13.6,
        "ms",
        median=13.6,
        p99=53.9,
        note="driven by wrk 4.1.0; 8 keep-alive connections",
        extra={"rps_rounds": [540.0, 546.0], "driver": "wrk 4.1.0"},
    ),
    Row(
        "requests",
        "latency: WireMock 3.13.2",
        28.5,
        "ms",
        median=28.5,
        p99=105.0,
        extra={"rps_rounds": [261.0, 269.0], "driver": "wrk 4.1.0"},
    ),
    Row(
        "requests",
        "latency, one connection: fake, werkzeug threaded = mock-wiro serve",
        1.46,
        "ms",
        median=1.46,
        p99=11.0,
        extra={"driver": "wrk 4.1.0"},
    ),
    Row(
        "fanout",
        "p99 delivery lag, 200 subscribers (speed 20)",
        141.0,
        "ms",
        extra={"lag_ms_by_subscribers": [[1, 0.9, 5.5], [10, 1.8, 41.0], [200, 41.0, 141.0]]},
    ),
    Row(
        "memory",
        "RSS, 10,000 completed tasks retained",
        95.0,
        "MiB",
        extra={"samples_kib": [80_000, 85_000, 90_000], "tasks_per_sample": 5000},
    ),
]


def test_write_docs_replaces_only_what_is_between_the_marks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "benchmarks.md"
    shutil.copy(bench_main.DOC, doc)
    monkeypatch.setattr(bench_main, "DOC", doc)
    before = doc.read_text()
    chart = tmp_path / "benchmarks" / "requests-throughput.svg"
    bench_main.write_docs(ROWS, [chart], "`python -m benchmarks --write-docs`, test.")
    after = doc.read_text()
    table_start, table_end = (after.index(m) for m in bench_main.TABLE_MARKS)
    written = after[table_start:table_end]
    assert bench_main.table(ROWS) in written
    assert "driven by wrk 4.1.0" in written  # the notes say which client drove the rows
    assert "![requests-throughput](benchmarks/requests-throughput.svg)" in after
    # everything outside the marks is as it was
    outside = [after[: after.index(bench_main.TABLE_MARKS[0])]]
    assert before.startswith(outside[0])
    tail = after[after.index(bench_main.CHART_MARKS[1]) :]
    assert before.endswith(tail)


def test_each_chart_is_drawn_from_its_rows(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.charts import write_charts

    drawn = {p.stem: p.read_text() for p in write_charts(ROWS, tmp_path, "test run")}
    assert set(drawn) == {"requests-throughput", "requests-latency", "fanout-lag", "memory-rss"}
    assert "543" in drawn["requests-throughput"] and "265" in drawn["requests-throughput"]
    assert "wrk 4.1.0" in drawn["requests-throughput"]
    assert "53.9" in drawn["requests-latency"] and "1.46" in drawn["requests-latency"]
    for text in drawn.values():
        assert "test run" in text and "<dc:date>" not in text
