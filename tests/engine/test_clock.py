"""The fake's clock refuses numbers it cannot keep: non-finite values and overflow."""

from __future__ import annotations

import math

import pytest

from mock_wiro.engine.clock import Clock
from mock_wiro.settings import CLOCK_MAX_TIME


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
    # issue 18 (hole 5): an advance is bounded (CLOCK_MAX_ADVANCE_SECONDS) and never takes
    # fake time past CLOCK_MAX_TIME, so a huge one is refused before it can overflow
    clock = Clock(mode="manual", start=1_000.0, monotonic=lambda: 0.0)
    with pytest.raises(ValueError, match="from 0 to"):
        clock.advance(1e308)
    assert clock.now() == 1_000.0
    clock = Clock(mode="manual", start=CLOCK_MAX_TIME - 10, monotonic=lambda: 0.0)
    with pytest.raises(ValueError, match="past its maximum"):
        clock.advance(11)
    assert clock.advance(10) == CLOCK_MAX_TIME
    assert math.isfinite(clock.now())
