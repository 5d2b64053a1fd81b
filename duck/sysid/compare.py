"""``duck sysid compare``: replay a run's joint targets in sim and measure how well the sim tracks.

ToddlerBot's sim-to-real check. The run log (``duck run --log``) holds, per
control cycle, the targets the runtime wrote and the joint positions it read.
The replay starts the software servo's MuJoCo model (:class:`~duck.sim.servo_backend.MujocoServoBackend`:
the same servo model, gains and passive terms) from the log's first state
(joint positions, trunk tilt from the logged gravity direction, trunk position
where the sim logged it, the supply voltage the runtime read), writes the same
gains when the run wrote them (start-up ramp, then the servo profile's), applies
each cycle's targets for as long as the run did, and compares the joint
positions at every cycle. A per-joint RMSE near the servos' resolution says the
model is the robot; a large one names the joints where it is not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from duck.contract import CONTRACT
from duck.runtime.safety import Mode
from duck.runtime.telemetry import load_log
from duck.servo_profile import SERVO_PROFILE, RobotServoProfile
from duck.sim.servo_backend import MujocoServoBackend, load_servo_overrides
from firmware_bridge.servo_model import FirmwareGains

from .plots import plot_compare

_DRIVEN = (Mode.STARTUP, Mode.READY, Mode.RUNNING, Mode.PAUSED, Mode.HOLD, Mode.STOPPING)


def _quat_from_gravity(g: np.ndarray) -> np.ndarray:
    """World orientation (w, x, y, z), zero yaw, whose body frame sees gravity along unit ``g``."""
    g = np.asarray(g, dtype=np.float64)
    g = g / np.linalg.norm(g)
    # body-frame "down" g must map to world down (0, 0, -1): rotate g onto -z
    target = np.array([0.0, 0.0, -1.0])
    axis = np.cross(g, target)
    s, c = np.linalg.norm(axis), float(np.dot(g, target))
    if s < 1e-9:
        return np.array([1.0, 0.0, 0.0, 0.0]) if c > 0 else np.array([0.0, 1.0, 0.0, 0.0])
    angle = math.atan2(s, c)
    axis = axis / s
    return np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * axis])


def _event_value(events: list[dict], kind: str) -> tuple[int, str] | None:
    for e in events:
        if e["kind"] == kind:
            return int(e["cycle"]), str(e.get("detail", ""))
    return None


def compare_run(run_log: str | Path, profiles: Sequence[str | Path] = (), supply_v: float | None = None,
                plot: str | Path | None = None) -> dict[str, Any]:
    """Per-joint tracking RMSE (rad and deg) of the sim replay against ``run_log``; writes ``plot``."""
    run_log = Path(run_log)
    try:
        log = load_log(run_log)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    cyc = log.cycles
    if len(log) == 0:
        raise ValueError(f"{run_log} has no control cycles (the run stopped before its loop started)")
    for key in ("t", "targets", "joint_pos", "mode"):
        if key not in cyc:
            raise ValueError(f"{run_log} has no {key!r} column; is it a `duck run --log` log?")
    names = list(log.meta.get("joint_names", CONTRACT.joint_names))
    if names != list(CONTRACT.joint_names):
        raise ValueError(f"{run_log} was recorded with joints {names}, not this contract's")
    profile = SERVO_PROFILE
    if "servo_profile" in log.meta:
        profile = RobotServoProfile.from_dict(log.meta["servo_profile"])
    if supply_v is None:
        supply = _event_value(log.events, "supply")
        m = re.match(r"([\d.]+)-([\d.]+) V", supply[1]) if supply else None
        supply_v = 0.5 * (float(m.group(1)) + float(m.group(2))) if m else profile.nominal_supply_v

    t = np.asarray(cyc["t"], dtype=np.float64)
    target = np.asarray(cyc["targets"], dtype=np.float64)
    measured = np.asarray(cyc["joint_pos"], dtype=np.float64)
    mode = np.asarray(cyc["mode"])
    driven = np.isin(mode, [int(m) for m in _DRIVEN]) & np.all(np.isfinite(target), axis=1)
    valid = driven & np.all(np.isfinite(measured), axis=1)
    if valid.sum() < 2:
        raise ValueError(f"{run_log} has fewer than two cycles with torque on and a good read")
    k0 = int(np.argmax(valid))

    backend = MujocoServoBackend(supply_v=supply_v, overrides=load_servo_overrides([str(p) for p in profiles]),
                                 profile=profile)
    model, data = backend.model, backend.data
    ids = [j.servo_id for j in CONTRACT.joints]
    if "sim_base_pos" in cyc and np.all(np.isfinite(cyc["sim_base_pos"][k0])):
        data.qpos[0:3] = cyc["sim_base_pos"][k0]
    if "gravity" in cyc and np.all(np.isfinite(cyc["gravity"][k0])):
        data.qpos[3:7] = _quat_from_gravity(cyc["gravity"][k0])
    data.qvel[:] = 0.0
    for sid, q in zip(ids, measured[k0]):  # the model's joints are the contract's joint angles
        backend.set_position(sid, float(q))
    mujoco.mj_forward(model, data)

    def positions() -> np.ndarray:
        return np.array([backend.read(sid)[0] for sid in ids])

    torque_event = _event_value(log.events, "torque")
    gains_event = _event_value(log.events, "gains")
    ramp = {int(a): int(b) for a, b in re.findall(r"(\d+): (\d+)", torque_event[1])} if torque_event else {}
    full = {j.servo_id: profile.gains_for(j.servo_model) for j in CONTRACT.joints}

    def write_gains(gains: dict[int, FirmwareGains | int]) -> None:
        for sid in ids:
            g = gains.get(sid, full[sid])
            g = FirmwareGains(**{**full[sid].to_dict(), "p": g}) if isinstance(g, int) else g
            backend.set_gains(sid, g.p, g.i, g.d, g.pwm_limit, g.pwm_slope)

    gains_from = gains_event[0] if gains_event else None
    write_gains(ramp if ramp and (gains_from is None or k0 < gains_from) else full)
    for sid in ids:
        backend.set_torque(sid, True)

    dt = model.opt.timestep
    simulated = np.full_like(measured, np.nan)
    simulated[k0] = positions()
    steps_done = 0
    for k in range(k0, len(t) - 1):
        if gains_from is not None and k == gains_from:
            write_gains(full)
        for sid, goal in zip(ids, target[k] if driven[k] else simulated[k]):
            backend.set_goal(sid, float(goal))
        steps_to = int(round((t[k + 1] - t[k0]) / dt))
        backend.step(max(0, steps_to - steps_done))
        steps_done = max(steps_done, steps_to)
        simulated[k + 1] = positions()

    rows = valid.copy()
    rows[k0] = False
    err = simulated[rows] - measured[rows]
    rmse = np.sqrt(np.mean(err**2, axis=0))
    rmse_all = float(np.sqrt(np.mean(err**2)))
    plot = Path(plot) if plot is not None else run_log.with_name(run_log.stem + "_compare.png")
    plot_compare(plot, t[rows] - t[k0], names, target[rows], measured[rows], simulated[rows], rmse,
                 f"{run_log.name}: sim replay vs log, all joints RMSE {math.degrees(rmse_all):.2f} deg "
                 f"(supply {supply_v:.2f} V)")
    return {
        "run_log": str(run_log), "cycles": int(rows.sum()), "seconds": float(t[rows][-1] - t[k0]),
        "supply_v": supply_v, "profiles": [str(p) for p in profiles],
        "rmse_deg": {n: math.degrees(float(r)) for n, r in zip(names, rmse)},
        "rmse_all_deg": math.degrees(rmse_all), "plot": str(plot),
    }
