"""The fake's clock: the one source of every timestamp and every stage's timing.

Three modes:

- ``realtime``: fake time runs ``speed`` times faster than the wall clock, so a
  task whose stage table says 50 s finishes in 50 / speed wall seconds, while
  its timestamps still read like a real task's.
- ``manual``: fake time stands still until :meth:`Clock.advance` is called
  (from Python or the control endpoint). Tests use this.
- ``instant``: fake time follows the wall clock and every stage takes no time.

Every number it takes is bounded [A] (``settings.py``): a speed from ``CLOCK_MIN_SPEED``
to ``CLOCK_MAX_SPEED``, a start from 0 to ``CLOCK_MAX_TIME``, an advance of at most
``CLOCK_MAX_ADVANCE_SECONDS`` that keeps fake time at or before ``CLOCK_MAX_TIME``; and
fake time never reads past ``CLOCK_MAX_TIME`` (a running clock stops there), so it is
always a finite number every timestamp can hold.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from ..settings import (
    CLOCK_MAX_ADVANCE_SECONDS,
    CLOCK_MAX_SPEED,
    CLOCK_MAX_TIME,
    CLOCK_MIN_SPEED,
    ClockMode,
)

__all__ = ["Clock", "check_speed"]


def check_speed(speed: float) -> float:
    """``speed`` as a float if it is a finite number in the documented range, else a
    ValueError naming the range."""
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValueError(f"clock speed must be a number, not {speed!r}")
    if not (math.isfinite(speed) and CLOCK_MIN_SPEED <= speed <= CLOCK_MAX_SPEED):
        raise ValueError(
            f"clock speed must be a finite number from {CLOCK_MIN_SPEED:g} to "
            f"{CLOCK_MAX_SPEED:g}, not {speed!r}"
        )
    return float(speed)


class Clock:
    """A controllable clock, in fake Unix seconds. Thread-safe."""

    def __init__(
        self,
        mode: ClockMode = "realtime",
        speed: float = 1.0,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._monotonic = monotonic
        base = time.time() if start is None else start
        if not (math.isfinite(base) and 0 <= base <= CLOCK_MAX_TIME):
            raise ValueError(
                f"clock start must be a finite time from 0 to {CLOCK_MAX_TIME:.0f}, not {start!r}"
            )
        self._base_fake = float(base)
        self._base_mono = monotonic()
        self._mode: ClockMode = "manual"  # still until set_mode: it starts at ``start``
        self._speed = 1.0
        self.set_mode(mode, speed)

    @property
    def mode(self) -> ClockMode:
        """The current mode."""
        return self._mode

    @property
    def speed(self) -> float:
        """How many fake seconds pass per wall second in realtime mode."""
        return self._speed

    @property
    def stage_scale(self) -> float:
        """Multiplier applied to the stage table's durations: 0 in instant mode."""
        return 0.0 if self._mode == "instant" else 1.0

    def _rate(self) -> float:
        return {"realtime": self._speed, "manual": 0.0, "instant": 1.0}[self._mode]

    def now(self) -> float:
        """The fake time, in Unix seconds."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        now = self._base_fake + (self._monotonic() - self._base_mono) * self._rate()
        return now if now <= CLOCK_MAX_TIME else CLOCK_MAX_TIME  # never past it (nor NaN)

    def set_mode(self, mode: ClockMode, speed: float | None = None) -> None:
        """Switch mode (and speed) without jumping: fake time continues from now."""
        if mode not in ("realtime", "manual", "instant"):
            raise ValueError(f"clock mode must be realtime, manual or instant, not {mode!r}")
        checked = None if speed is None else check_speed(speed)
        with self._lock:
            self._base_fake = self._now_locked()
            self._base_mono = self._monotonic()
            self._mode = mode
            if checked is not None:
                self._speed = checked

    def advance(self, seconds: float) -> float:
        """Move fake time forward by ``seconds`` (any mode); returns the new time."""
        if not (math.isfinite(seconds) and 0 <= seconds <= CLOCK_MAX_ADVANCE_SECONDS):
            raise ValueError(
                "can only advance by a finite number of seconds from 0 to "
                f"{CLOCK_MAX_ADVANCE_SECONDS:.0f} (ten years), not {seconds}"
            )
        with self._lock:
            now = self._now_locked()
            if now + seconds > CLOCK_MAX_TIME:
                raise ValueError(
                    f"advancing by {seconds} seconds would take fake time past its maximum "
                    f"{CLOCK_MAX_TIME:.0f} (9999-12-31T23:59:59Z)"
                )
            self._base_fake = now + seconds
            self._base_mono = self._monotonic()
        return self.now()

    def set_time(self, fake_time: float) -> None:
        """Put the fake time at ``fake_time`` (forward or back: a snapshot loaded)."""
        if not (math.isfinite(fake_time) and 0 <= fake_time <= CLOCK_MAX_TIME):
            raise ValueError(
                f"fake time must be a finite time from 0 to {CLOCK_MAX_TIME:.0f}, not {fake_time!r}"
            )
        with self._lock:
            self._base_fake = float(fake_time)
            self._base_mono = self._monotonic()

    def wall_seconds_until(self, fake_time: float) -> float | None:
        """Wall seconds until ``fake_time`` comes by itself; None if it never will."""
        if not fake_time <= CLOCK_MAX_TIME:  # past the clock's end (or NaN): never
            return None
        with self._lock:
            rate = self._rate()
            now = self._now_locked()
        if fake_time <= now:
            return 0.0
        return None if rate == 0 else (fake_time - now) / rate
