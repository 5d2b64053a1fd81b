"""The servo law: firmware registers -> duty -> winding voltage -> joint torque.

Scalar helpers (:func:`small_error_stiffness` and friends, :func:`mjcf_actuator`) give the linear
equivalents a MuJoCo ``position`` actuator can carry. :class:`ServoBank` evaluates the full law for a
batch of servos (any leading batch shape) with numpy, per physics substep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from firmware_bridge.servo_model.params import FirmwareGains, ServoParams


def _supply(params: ServoParams, supply_v: float | None) -> float:
    return params.nominal_supply_v if supply_v is None else float(supply_v)


def duty_limit(params: ServoParams, gains: FirmwareGains) -> float:
    """The largest duty the firmware commands: PWM Limit over full scale, capped by the driver."""
    limit = params.pwm_full_scale if gains.pwm_limit is None else gains.pwm_limit
    return min(params.max_duty, limit / params.pwm_full_scale)


def small_error_stiffness(params: ServoParams, gains: FirmwareGains, supply_v: float | None = None) -> float:
    """N m/rad at the output for errors small enough not to saturate the duty (outside backlash):
    kt/R * supply * P * duty_per_p_rad."""
    return params.kt_nm_per_a / params.resistance_ohm * _supply(params, supply_v) * gains.p * params.duty_per_p_rad


def firmware_damping(params: ServoParams, gains: FirmwareGains, supply_v: float | None = None) -> float:
    """N m s/rad from the D term (inside the duty clip)."""
    return params.kt_nm_per_a / params.resistance_ohm * _supply(params, supply_v) * gains.d * params.duty_per_d_rad_s


def torque_limit(params: ServoParams, gains: FirmwareGains, supply_v: float | None = None) -> float:
    """N m at zero speed and the largest duty the gains allow (stall torque under PWM Limit)."""
    return params.kt_nm_per_a / params.resistance_ohm * _supply(params, supply_v) * duty_limit(params, gains)


def joint_damping(params: ServoParams) -> float:
    """N m s/rad that acts whatever the duty: back-EMF kt^2/R plus gear viscous friction."""
    return params.back_emf_damping_nms + params.friction_viscous_nms


@dataclass(frozen=True)
class MjcfActuator:
    """The linear servo in MuJoCo terms: ``position`` actuator kp, kv, forcerange; joint damping,
    frictionloss, armature. Exact for the P and D terms, duty saturation, back-EMF, viscous and
    Coulomb friction; it leaves out PWM Slope, the I term, load-dependent friction and backlash."""

    kp: float
    kv: float
    forcerange: float
    damping: float
    frictionloss: float
    armature: float


def mjcf_actuator(params: ServoParams, gains: FirmwareGains, supply_v: float | None = None) -> MjcfActuator:
    return MjcfActuator(
        kp=small_error_stiffness(params, gains, supply_v),
        kv=firmware_damping(params, gains, supply_v),
        forcerange=torque_limit(params, gains, supply_v),
        damping=joint_damping(params),
        frictionloss=params.friction_coulomb_nm,
        armature=params.armature_kgm2,
    )


class ServoBank:
    """The full servo law for n servos, vectorised: each call is one physics substep for a batch.

    Arrays of shape (n,) hold the per-servo constants; states and inputs have shape (..., n).
    ``coulomb=False`` leaves Coulomb (and load-dependent) friction to the simulator (MuJoCo's
    frictionloss); viscous friction and back-EMF are always in the returned torque unless
    ``damping=False`` (then the simulator's joint damping must carry them).
    """

    def __init__(self, params: Sequence[ServoParams], gains: Sequence[FirmwareGains]) -> None:
        if len(params) != len(gains):
            raise ValueError(f"{len(params)} servo parameter sets but {len(gains)} gain sets")
        self.params = tuple(params)
        self.n = len(self.params)

        def col(fn) -> np.ndarray:
            return np.array([float(fn(p, g)) for p, g in zip(self.params, gains)])

        self.kt = col(lambda p, g: p.kt_nm_per_a)
        self.resistance = col(lambda p, g: p.resistance_ohm)
        self.fc = col(lambda p, g: p.friction_coulomb_nm)
        self.fv = col(lambda p, g: p.friction_viscous_nms)
        self.fl = col(lambda p, g: p.friction_load)
        self.half_backlash = col(lambda p, g: p.backlash_rad / 2.0)
        self.duty_per_p = col(lambda p, g: p.duty_per_p_rad)
        self.duty_per_i = col(lambda p, g: p.duty_per_i_rad_s)
        self.duty_per_d = col(lambda p, g: p.duty_per_d_rad_s)
        self.max_duty = col(lambda p, g: p.max_duty)
        self.pwm_full = col(lambda p, g: p.pwm_full_scale)
        self.slope_unit = col(lambda p, g: p.pwm_slope_v_per_s_per_unit or 0.0)
        self.factory_slope = col(lambda p, g: p.factory_gains.pwm_slope or 0)
        self.set_gains(gains)

    def set_gains(self, gains: Sequence[FirmwareGains]) -> None:
        """New register values (a P-gain write on the bus)."""
        if len(gains) != self.n:
            raise ValueError(f"need {self.n} gain sets, got {len(gains)}")
        self.gains = tuple(gains)
        self.p = np.array([g.p for g in gains], dtype=float)
        self.i = np.array([g.i for g in gains], dtype=float)
        self.d = np.array([g.d for g in gains], dtype=float)
        self.duty_cap = np.array([duty_limit(p, g) for p, g in zip(self.params, gains)])
        slope = np.array([self.factory_slope[k] if g.pwm_slope is None else g.pwm_slope for k, g in enumerate(gains)])
        # Duty rate limit per volt of supply (1/s * V); 0 means no limiter. PWM Slope 0 = off too.
        self.slope_v_per_s = np.where(slope > 0, slope * self.slope_unit, 0.0)
        self._has_slope = bool(np.any(self.slope_v_per_s > 0))
        self._has_backlash = bool(np.any(self.half_backlash > 0))

    def state(self, batch_shape: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
        """Fresh firmware state (duty 0, integrator empty)."""
        shape = batch_shape + (self.n,)
        return {"duty": np.zeros(shape), "integral": np.zeros(shape)}

    def duty(self, goal: np.ndarray, q: np.ndarray, qdot: np.ndarray, supply_v: np.ndarray | float,
             state: dict[str, np.ndarray], dt: float, torque_on: np.ndarray | bool = True) -> np.ndarray:
        """The firmware's duty this substep; updates ``state`` in place."""
        error = goal - q
        if self._has_backlash:  # free play: no restoring command inside the dead band
            error = np.sign(error) * np.maximum(np.abs(error) - self.half_backlash, 0.0)
        state["integral"] += error * dt
        command = (self.p * self.duty_per_p * error + self.i * self.duty_per_i * state["integral"]
                   - self.d * self.duty_per_d * qdot)
        command = np.clip(command, -self.duty_cap, self.duty_cap)
        if self._has_slope:
            step = np.where(self.slope_v_per_s > 0, self.slope_v_per_s * dt / supply_v, np.inf)
            command = np.clip(command, state["duty"] - step, state["duty"] + step)
        command = np.where(torque_on, command, 0.0)
        state["duty"] = command
        state["integral"] = np.where(torque_on, state["integral"], 0.0)
        return command

    def torque(self, goal: np.ndarray, q: np.ndarray, qdot: np.ndarray, supply_v: np.ndarray | float,
               state: dict[str, np.ndarray], dt: float, torque_on: np.ndarray | bool = True,
               coulomb: bool = True, damping: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(joint torque N m, motor current A) for one substep of length ``dt``.

        ``supply_v`` broadcasts against (..., n) (a per-env battery voltage: shape (..., 1)).
        With torque off the driver is open (no current, no back-EMF braking); friction remains.
        ``current`` is always the winding's, back-EMF included.
        """
        duty = self.duty(goal, q, qdot, supply_v, state, dt, torque_on)
        current = np.where(torque_on, (duty * supply_v - self.kt * qdot) / self.resistance, 0.0)
        motor = self.kt * current
        if damping:
            tau = motor - self.fv * qdot
        else:  # the simulator's joint damping carries back-EMF (kt^2/R) and viscous friction
            tau = np.where(torque_on, self.kt * duty * supply_v / self.resistance, 0.0)
        if coulomb:
            # Smooth sign (tanh over 0.01 rad/s): an explicit per-substep model cannot hold
            # sticking exactly; MuJoCo's frictionloss can (use coulomb=False there).
            tau = tau - (self.fc + self.fl * np.abs(motor)) * np.tanh(qdot / 0.01)
        return tau, current

    def stiffness(self, supply_v: float | np.ndarray) -> np.ndarray:
        """Small-error stiffness per servo (N m/rad) at the current gains."""
        return self.kt / self.resistance * supply_v * self.p * self.duty_per_p
