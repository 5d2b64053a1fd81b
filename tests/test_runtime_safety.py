"""Safety monitor thresholds and priorities."""

from __future__ import annotations

import numpy as np

from duck.runtime.safety import REACTIONS, SafetyConfig, SafetyMonitor, tilt_rad

UP = np.array([0.0, 0.0, -1.0])
OK = dict(estop=False, servo_error=None, servo_ok=True, servo_detail="", imu_age_s=0.01, gravity=UP,
          action_finite=True, consecutive_overruns=0, gamepad_lost_s=0.0, check_fall=True)


def test_tilt() -> None:
    assert tilt_rad(UP) == 0.0
    assert np.isclose(tilt_rad([1.0, 0.0, 0.0]), np.pi / 2)


def test_fall_needs_n_cycles() -> None:
    m = SafetyMonitor(SafetyConfig(fall_cycles=3))
    tilted = {**OK, "gravity": np.array([1.0, 0.0, -0.2])}
    assert m.check(**tilted) is None and m.check(**tilted) is None
    fault = m.check(**tilted)
    assert fault is not None and fault.kind == "fall" and fault.reaction == "torque_off"
    m2 = SafetyMonitor(SafetyConfig(fall_cycles=3))
    m2.check(**tilted), m2.check(**tilted), m2.check(**OK)
    assert m2.check(**tilted) is None  # the count restarts after an upright cycle


def test_watchdogs_and_priorities() -> None:
    m = SafetyMonitor(SafetyConfig(servo_stale_cycles=3))
    bad = {**OK, "servo_ok": False, "servo_detail": "timeout"}
    assert m.check(**bad) is None and m.check(**bad) is None
    assert m.check(**bad).kind == "servo_stale"
    assert SafetyMonitor().check(**{**OK, "imu_age_s": 0.5}).kind == "imu_stale"
    assert SafetyMonitor().check(**{**OK, "action_finite": False}).kind == "nan_action"
    assert SafetyMonitor().check(**{**OK, "consecutive_overruns": 5}).kind == "overrun_burst"
    assert SafetyMonitor().check(**{**OK, "gamepad_lost_s": 0.5}) is None  # grace: zero command only
    assert SafetyMonitor().check(**{**OK, "gamepad_lost_s": 1.5}).kind == "gamepad_lost"
    everything = {**OK, "estop": True, "servo_error": "overload", "action_finite": False, "imu_age_s": 1.0}
    assert SafetyMonitor().check(**everything).kind == "estop"
    assert SafetyMonitor().check(**{**everything, "estop": False}).kind == "servo_error"


def test_every_fault_has_a_distinct_documented_exit() -> None:
    codes = {kind: code for kind, (_, code) in REACTIONS.items()}
    assert all(c not in (0, 1, 2) for c in codes.values())
