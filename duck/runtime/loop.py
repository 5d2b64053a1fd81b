"""Fixed-rate control loop timing: absolute deadlines, overrun counting, period stats.

Deadlines are ``t0 + k * period`` (never "now + period"), so sleep jitter does not
accumulate into drift. Each wait sleeps until shortly before the deadline and then
spins: ``time.sleep`` alone oversleeps by 50-500 µs on a loaded Linux box, which
would eat the 2 ms period budget; the spin costs a few % of one core.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PeriodStats:
    """Summary of the measured periods (cycle start to next cycle start)."""

    cycles: int
    overruns: int
    mean_ms: float
    p50_error_ms: float
    p99_error_ms: float
    max_error_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


@dataclass
class RateLoop:
    """Hands out cycle start times on a fixed grid of ``period_s``.

    Call :meth:`wait` at the top of every cycle. If a cycle ran past its next
    deadline, that is an overrun: the missed deadlines are skipped (the grid keeps
    its phase) rather than run back-to-back, because late control steps are worse
    than missed ones.
    """

    period_s: float
    spin_s: float = 0.0015
    clock: object = time.perf_counter
    sleep: object = time.sleep  # injectable with the clock, so tests can run the loop on simulated time
    _next: float | None = None
    _last_start: float | None = None
    last_deadline: float = 0.0
    overruns: int = 0
    consecutive_overruns: int = 0
    # Bounded so a long session on a 512 MB Pi does not grow without limit (~1 h at 50 Hz).
    periods: deque[float] = field(default_factory=lambda: deque(maxlen=180_000))

    def start(self) -> float:
        """Anchor the grid at now; the first :meth:`wait` returns immediately."""
        now = self.clock()
        self._next = now
        self._last_start = None
        return now

    def wait(self) -> tuple[float, bool]:
        """Block until the next deadline. Returns (cycle start time, overran)."""
        if self._next is None:
            self.start()
        deadline = self._next
        now = self.clock()
        overran = self._last_start is not None and now > deadline
        if overran and now - deadline >= self.period_s:
            # More than a whole period late: drop the missed grid points (keeping the
            # grid's phase) instead of running them back-to-back with stale data.
            deadline += math.floor((now - deadline) / self.period_s) * self.period_s
        self._sleep_until(deadline)
        start = self.clock()
        self.last_deadline = deadline  # the grid point this cycle was due at (jitter = start - it)
        if overran:
            self.overruns += 1
            self.consecutive_overruns += 1
        else:
            self.consecutive_overruns = 0
        if self._last_start is not None:
            self.periods.append(start - self._last_start)
        self._last_start = start
        self._next = deadline + self.period_s
        return start, overran

    def time_left(self) -> float:
        """Seconds until the next deadline (negative when already late)."""
        return (self._next or self.clock()) - self.clock()

    def _sleep_until(self, deadline: float) -> None:
        coarse = deadline - self.spin_s - self.clock()
        if coarse > 0:
            self.sleep(coarse)
        while self.clock() < deadline:
            pass

    def stats(self, skip: int = 0) -> PeriodStats:
        """Period statistics over all cycles but the first ``skip`` periods."""
        periods = np.asarray(list(self.periods)[skip:], dtype=np.float64)
        if periods.size == 0:
            return PeriodStats(0, self.overruns, 0.0, 0.0, 0.0, 0.0)
        err = np.abs(periods - self.period_s) * 1e3
        return PeriodStats(
            cycles=int(periods.size) + 1,
            overruns=self.overruns,
            mean_ms=float(periods.mean() * 1e3),
            p50_error_ms=float(np.percentile(err, 50)),
            p99_error_ms=float(np.percentile(err, 99)),
            max_error_ms=float(err.max()),
        )


def set_realtime(priority: int | None, cpu: int | None) -> list[str]:
    """Best-effort SCHED_FIFO priority and CPU affinity; returns what could not be applied.

    Failures are not errors: without CAP_SYS_NICE the loop still runs, just with
    more jitter, and the caller logs the returned notes.
    """
    notes: list[str] = []
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except (OSError, AttributeError, ValueError) as exc:
            notes.append(f"CPU affinity {cpu} not applied: {exc}")
    if priority is not None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (OSError, AttributeError, ValueError) as exc:
            notes.append(f"SCHED_FIFO priority {priority} not applied: {exc}")
    return notes
