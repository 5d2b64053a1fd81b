"""Servo properties imposed on the sim's actuators: stiffness, supply voltage, backlash.

The one place that knows how a servo-level property maps onto the sim's actuator model, used by
the eval's transfer section (duck/evaluation/transfer.py). Today the actuators are MuJoCo
position servos: torque = kp (target - q) - kv qdot, clipped to forcerange = the stall torque,
generated from issue 20's servo model (``firmware_bridge.servo_model``, duck/sim/actuators.py:
option (a), the linear MJCF mapping); the sim has no backlash of its own. In the servo model
kp = kt/R V P gP, kv = kt/R V D gD and the torque limit = kt/R V duty_max all scale with the
supply V, kp alone with the P gain ("stiffness-equivalent x1.4 is duty_per_p_rad x 1.4"),
and joint damping (back-EMF and viscous friction) with neither. So they stay right for its
linear MJCF mapping (``mjcf_actuator``). If the sim runs the full law instead (``ServoBank``
per substep), these functions set its parameters: stiffness -> ``duty_per_p_rad``, supply ->
the ``supply_v`` it is stepped with, backlash -> ``backlash_rad``; nothing else in the eval
changes.

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
    """The supply voltage range training randomizes over (``dr.supply_v``, the servo profile's
    trained range), as fractions of the profile's nominal supply."""
    from duck.servo_profile import SERVO_PROFILE

    lo, hi = cfg.dr.supply_v
    return lo / SERVO_PROFILE.nominal_supply_v, hi / SERVO_PROFILE.nominal_supply_v


def set_supply_scale(sim, scale: float) -> None:
    """Supply voltage x ``scale`` of nominal.

    DC-motor law: the firmware's duty is P x error - D x qdot, so the winding voltage, hence the
    torque per radian of error (kp), the D term's damping (kv) and the stall torque all scale with
    the supply; back-EMF and friction damping (the joints' damping) do not."""
    scale_stiffness(sim, scale)
    for m in _models(sim):
        m.actuator_biasprm[:, 2] *= scale  # -kv
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
