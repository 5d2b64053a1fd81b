"""Servo properties imposed on the sim's actuators: stiffness, supply voltage, backlash.

The one place that knows how a servo-level property maps onto the sim's actuator model, used by
the eval's transfer section (duck/evaluation/transfer.py). Today the actuators are MuJoCo
position servos: torque = kp (target - q), clipped to forcerange = the datasheet stall torque
(mjcf/duck.xml), and the sim has no supply voltage and no backlash. Issue 20 replaces them with
a servo model (firmware law -> DC-motor torque) that carries supply voltage, friction and
backlash as parameters; when it lands, these functions set that model's parameters, and nothing
else in the eval changes.

All functions act on a constructed, reset :class:`~duck.sim.batch.BatchSim` and stay in force
until it is closed (the eval builds one sim per condition).
"""

from __future__ import annotations

import numpy as np

from duck.sim.config import EnvConfig


def _models(sim) -> list:
    """The distinct MjModels of a sim (one shared model without dynamics randomization)."""
    return list({id(m): m for m in sim.models}.values())


def scale_stiffness(sim, factor: float) -> None:
    """Position stiffness x ``factor`` on every servo (a lower P gain, or a tired servo).

    Position actuator: gain kp and bias -kp scale together; the stall torque stays."""
    for m in _models(sim):
        m.actuator_gainprm[:, 0] *= factor
        m.actuator_biasprm[:, 1] *= factor
    sim.kp = sim.kp * factor


def trained_supply_range(cfg: EnvConfig) -> tuple[float, float]:
    """The supply voltage range training randomizes over, as fractions of the nominal supply.

    Before issue 20 the sim has no supply voltage: the stall-torque randomization
    (``dr.torque_limit_scale``) is what stands for a sagging or fresh battery, so its range is
    the trained range. With issue 20's servo model this returns its supply-voltage DR range
    divided by the nominal supply."""
    return cfg.dr.torque_limit_scale


def set_supply_scale(sim, scale: float) -> None:
    """Supply voltage x ``scale`` of nominal.

    DC-motor law: the firmware's duty is P x error, so the winding voltage, hence the torque per
    radian of error, and the stall torque both scale with the supply; back-EMF damping does not
    (kv = 0 in today's model, so there is none to keep)."""
    scale_stiffness(sim, scale)
    for m in _models(sim):
        m.actuator_forcerange[:] *= scale
    sim.torque_limit = sim.torque_limit * scale


def add_backlash(sim, play_rad: float, joints: np.ndarray) -> None:
    """Free play of ``play_rad`` (total) in the gears of contract joints ``joints``.

    A dead zone of half the play on the position error: the servo transmits no torque while its
    output lies within +-play/2 of the setpoint, and pushes with the error beyond it. Evaluated at
    the control rate (the setpoint is held over the physics substeps). Composes with a previous
    hook."""
    half = 0.5 * play_rad
    mask = np.zeros(sim.contract.num_joints, dtype=bool)
    mask[np.asarray(joints)] = True
    previous = sim.ctrl_hook

    def dead_zone(s, ctrl: np.ndarray) -> np.ndarray:
        if previous is not None:
            ctrl = previous(s, ctrl)
        q = s.qpos[:, s.idx.qpos_joints]
        err = ctrl - q
        shrunk = q + np.sign(err) * np.maximum(np.abs(err) - half, 0.0)
        return np.where(mask, shrunk, ctrl)

    sim.ctrl_hook = dead_zone
