"""Fixed-rate loop: absolute deadlines, overrun counting, grid phase."""

from __future__ import annotations

import numpy as np

from duck.runtime.loop import RateLoop, set_realtime


class SimulatedTime:
    """A clock that moves only when read (1 us per read, like a spin loop) or slept on,
    with a fixed oversleep like time.sleep's, so the loop's arithmetic is tested exactly."""

    def __init__(self, oversleep_s: float = 0.0003):
        self.now, self.oversleep_s = 100.0, oversleep_s

    def clock(self) -> float:
        self.now += 1e-6
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + self.oversleep_s

    def work(self, seconds: float) -> None:
        self.now += seconds


def test_loop_keeps_period_without_drift() -> None:
    t = SimulatedTime()
    loop = RateLoop(0.01, clock=t.clock, sleep=t.sleep)
    t0 = loop.start()
    rng = np.random.default_rng(0)
    starts = []
    for _ in range(500):
        starts.append(loop.wait()[0])
        t.work(rng.uniform(0.001, 0.008))  # varying cycle work, always inside the period
    # Absolute deadlines: cycle k starts at t0 + k*period whatever the work took, so the
    # error does not accumulate (a relative sleep would drift by the work + oversleep).
    grid = t0 + 0.01 * np.arange(500)
    assert np.max(np.abs(np.array(starts) - grid)) < 1e-4
    assert loop.overruns == 0
    stats = loop.stats()
    assert stats.cycles == 500 and abs(stats.mean_ms - 10.0) < 1e-3


def test_loop_on_the_real_clock_stays_on_its_grid() -> None:
    loop = RateLoop(0.01)
    t0 = loop.start()
    starts = np.array([loop.wait()[0] for _ in range(40)])
    # On a shared machine a cycle can be stalled (and then skipped), but each start still
    # lands on a grid point: the median offset from the nearest one is scheduler jitter.
    offset = (starts - t0) - 0.01 * np.round((starts - t0) / 0.01)
    assert np.median(np.abs(offset)) < 0.001
    assert 0.01 * 38 <= starts[-1] - t0 < 0.01 * 39 + 0.01 * (loop.overruns + 1)


def test_overrun_is_counted_and_grid_phase_kept() -> None:
    t = SimulatedTime()
    loop = RateLoop(0.01, clock=t.clock, sleep=t.sleep)
    t0 = loop.start()
    loop.wait()
    t.work(0.025)  # a stalled cycle: 2.5 periods
    start, overran = loop.wait()
    assert overran and loop.overruns == 1 and loop.consecutive_overruns == 1
    start, overran = loop.wait()
    assert not overran and loop.consecutive_overruns == 0
    # Missed grid points are skipped, not replayed: still on the t0 + k*period grid.
    k = round((start - t0) / 0.01)
    assert k == 3 and abs(start - (t0 + k * 0.01)) < 1e-4


def test_set_realtime_reports_instead_of_raising() -> None:
    notes = set_realtime(None, 10_000)  # no such CPU
    assert notes and "affinity" in notes[0]
