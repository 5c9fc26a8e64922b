"""The fake's clock refuses numbers it cannot keep: non-finite values and overflow."""

from __future__ import annotations

import math

import pytest

from mock_wiro.engine.clock import Clock


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_clock_rejects_non_finite_values(bad: float) -> None:
    clock = Clock(mode="manual", start=1_000.0, monotonic=lambda: 0.0)
    with pytest.raises(ValueError, match="finite"):
        clock.advance(bad)
    with pytest.raises(ValueError, match="finite"):
        clock.set_mode("realtime", speed=bad)
    with pytest.raises(ValueError, match="finite"):
        Clock(mode="manual", speed=bad)
    assert clock.now() == 1_000.0 and clock.mode == "manual" and clock.speed == 1.0


def test_clock_advance_that_would_overflow_is_refused() -> None:
    clock = Clock(mode="manual", start=1_000.0, monotonic=lambda: 0.0)
    clock.advance(1e308)
    with pytest.raises(ValueError, match="overflows"):
        clock.advance(1e308)
    assert math.isfinite(clock.now())
