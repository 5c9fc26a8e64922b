"""A short round of the crash campaign (``python -m benchmarks.crash``): a durable
``mock-wiro serve`` raced by a load generator and ``kill -9``'d at random moments; after
each restart, everything the clients were told is still so."""

from __future__ import annotations

from benchmarks.crash import campaign, render


def test_kill_9_under_load_loses_nothing_acknowledged() -> None:
    result = campaign(rounds=2, seconds=1.0, workers=4, seed=7)
    assert result.ok, render(result)
    assert len(result.rounds) == 2
    assert result.acknowledged.get("run", 0) > 0 and result.uploads > 0, render(result)
