"""The process's one clock: wall time for what is stored, monotonic time for intervals.

Built once at the composition root (``runtime.compose``) and passed down, so that every
decision can be tested with a clock the test controls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Clock:
    wall: Callable[[], float] = time.time  # epoch seconds: poll times, leases, next attempts
    monotonic: Callable[[], float] = time.monotonic  # deadlines and breaker timers: never jumps


SYSTEM_CLOCK = Clock()
