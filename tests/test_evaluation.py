"""Evaluation metrics on synthetic traces with known answers."""

from __future__ import annotations

import numpy as np

from duck.contract import CONTRACT
from duck.evaluation.suite import KICK_SECTORS, _alive_for, _moving_average, _tracking_rmse, kick_plan


def test_stride_average_removes_within_stride_sway_but_not_a_bias():
    dt = CONTRACT.control_dt_s
    window = int(round(CONTRACT.gait_period_s / dt))
    t = np.arange(500) * dt
    command = np.tile([0.1, 0.0, 0.3], (500, 2, 1))
    sway = 0.05 * np.sin(2 * np.pi * t / CONTRACT.gait_period_s)[:, None, None]
    vel = command + sway * np.array([1.0, 1.0, 4.0])
    vel[:, 1, 0] += 0.02  # env 1 is also 2 cm/s slow on average
    inner = np.zeros((500, 2), dtype=bool)
    inner[window:-window] = True
    lin_inst, yaw_inst = _tracking_rmse(vel, command, inner)
    lin_stride, yaw_stride = _tracking_rmse(_moving_average(vel, window), command, inner)
    assert lin_inst > 0.045 and yaw_inst > 0.1
    # the sway averages out; env 1's bias stays: sqrt(mean over both envs of 0.02^2)
    assert abs(lin_stride - np.sqrt(0.02**2 / 2)) < 1e-3
    assert yaw_stride < 1e-3


def test_window_must_be_alive_throughout():
    alive = np.ones((10, 1), dtype=bool)
    alive[7:] = False
    assert list(_alive_for(alive, 2)[:, 0]) == [True] * 5 + [False] * 5


def test_kick_plan_spreads_directions_and_timings_evenly():
    period = 25
    for seed in range(20):
        angles, offsets = kick_plan(np.random.default_rng(seed), 40, period)
        sectors = np.round(angles / (np.pi / 2)).astype(int) % len(KICK_SECTORS)
        assert np.bincount(sectors, minlength=4).tolist() == [10, 10, 10, 10]
        assert offsets.min() >= 0 and offsets.max() < period
        # every step of the gait period is hit (40 kicks over 25 steps: once or twice each)
        assert set(np.bincount(offsets, minlength=period).tolist()) <= {1, 2}
    # the start direction and the pairing with timings change with the seed
    first, second = kick_plan(np.random.default_rng(0), 40, period), kick_plan(np.random.default_rng(1), 40, period)
    assert not np.allclose(first[0], second[0]) and not np.array_equal(first[1], second[1])
