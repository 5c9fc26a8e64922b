"""The fake's clock: the one source of every timestamp and every stage's timing.

Three modes:

- ``realtime``: fake time runs ``speed`` times faster than the wall clock, so a
  task whose stage table says 50 s finishes in 50 / speed wall seconds, while
  its timestamps still read like a real task's.
- ``manual``: fake time stands still until :meth:`Clock.advance` is called
  (from Python or the control endpoint). Tests use this.
- ``instant``: fake time follows the wall clock and every stage takes no time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from ..settings import ClockMode

__all__ = ["Clock"]


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
        self._base_fake = time.time() if start is None else float(start)
        self._base_mono = monotonic()
        self._mode: ClockMode = "realtime"
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
            return self._base_fake + (self._monotonic() - self._base_mono) * self._rate()

    def set_mode(self, mode: ClockMode, speed: float | None = None) -> None:
        """Switch mode (and speed) without jumping: fake time continues from now."""
        if mode not in ("realtime", "manual", "instant"):
            raise ValueError(f"clock mode must be realtime, manual or instant, not {mode!r}")
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"clock speed must be a finite number > 0, not {speed!r}")
        with self._lock:
            mono = self._monotonic()
            self._base_fake += (mono - self._base_mono) * self._rate()
            self._base_mono = mono
            self._mode = mode
            if speed is not None:
                self._speed = float(speed)

    def advance(self, seconds: float) -> float:
        """Move fake time forward by ``seconds`` (any mode); returns the new time."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(
                f"can only advance by a finite, non-negative number of seconds, not {seconds}"
            )
        with self._lock:
            if not math.isfinite(self._base_fake + seconds):
                raise ValueError(f"advancing by {seconds} seconds overflows the clock")
            self._base_fake += seconds
        return self.now()

    def wall_seconds_until(self, fake_time: float) -> float | None:
        """Wall seconds until ``fake_time`` comes by itself; None if it never will."""
        with self._lock:
            rate = self._rate()
            now = self._base_fake + (self._monotonic() - self._base_mono) * rate
        if fake_time <= now:
            return 0.0
        return None if rate == 0 else (fake_time - now) / rate
