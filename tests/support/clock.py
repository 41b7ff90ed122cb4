"""Frozen time for tests whose steps must be exact (time-machine)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

#: Frozen tests start here: 15 s into a 30-second TOTP time step, so one step
#: either side is unambiguous.
CLOCK_START = datetime(2025, 6, 2, 9, 0, 15, tzinfo=UTC).timestamp()


class Clock:
    """Frozen time that moves only when told (time-machine, ``tick=False``)."""

    def __init__(self, time_machine, start: float = CLOCK_START):
        self._tm = time_machine
        self._tm.move_to(start, tick=False)

    def now(self) -> float:
        """The frozen time, in seconds since the epoch."""
        return time.time()

    def shift(self, seconds: float) -> None:
        """Move the frozen time by ``seconds``."""
        self._tm.shift(seconds)
