"""Fixed-rate loop: absolute deadlines, overrun counting, grid phase."""

from __future__ import annotations

import time

import numpy as np

from duck.runtime.loop import RateLoop, set_realtime


def test_loop_keeps_period_without_drift() -> None:
    loop = RateLoop(0.01)
    t0 = loop.start()
    starts = [loop.wait()[0] for _ in range(40)]
    # Absolute deadlines: cycle k starts at t0 + k*period, whatever the jitter.
    grid = t0 + 0.01 * np.arange(40)
    assert np.max(np.abs(np.array(starts) - grid)) < 0.004
    assert loop.overruns == 0
    assert loop.stats().cycles == 40


def test_overrun_is_counted_and_grid_phase_kept() -> None:
    loop = RateLoop(0.01)
    t0 = loop.start()
    loop.wait()
    time.sleep(0.025)  # a stalled cycle: 2.5 periods
    start, overran = loop.wait()
    assert overran and loop.overruns == 1 and loop.consecutive_overruns == 1
    start, overran = loop.wait()
    assert not overran and loop.consecutive_overruns == 0
    # Missed grid points are skipped, not replayed: still on the t0 + k*period grid.
    k = round((start - t0) / 0.01)
    assert abs(start - (t0 + k * 0.01)) < 0.003


def test_set_realtime_reports_instead_of_raising() -> None:
    notes = set_realtime(None, 10_000)  # no such CPU
    assert notes and "affinity" in notes[0]
