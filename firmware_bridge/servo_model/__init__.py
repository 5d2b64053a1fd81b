"""One servo model, from firmware registers to joint torque.

Shared by the simulator (``duck.sim``), the software servo (``duck.sim.servo_backend``), the runtime
(gains and supply range it writes and checks) and system identification (``duck sysid``). It knows
servo models and SI units, not joints (it never imports :mod:`duck`).

The law (Rhoban BAM's voltage-controlled servo, arXiv 2410.08650, with the Dynamixel X firmware's
gain scaling)::

    e     = goal - q                      (rad; minus +-backlash/2 of free play)
    duty  = clip(P*gP*e + I*gI*int(e) - D*gD*qdot, +-min(max_duty, PWM_Limit/full_scale))
            then rate-limited by PWM Slope (X330: slope * 1.977 V/s, divided by the supply)
    V     = duty * supply_v
    i     = (V - kt*qdot) / R
    tau   = kt*i - fv*qdot - (fc + fl*|kt*i|)*sign(qdot)

Parameters (:class:`ServoParams`, frozen; ``sources[name]`` gives each value's provenance):
``kt_nm_per_a``, ``resistance_ohm``, ``armature_kgm2``, ``friction_coulomb_nm``,
``friction_viscous_nms``, ``friction_load``, ``backlash_rad``, ``duty_per_p_rad`` (gP),
``duty_per_i_rad_s`` (gI), ``duty_per_d_rad_s`` (gD), ``pwm_full_scale``, ``max_duty``,
``pwm_slope_v_per_s_per_unit``, ``factory_gains``, ``nominal_supply_v``, ``rated_supply_v``,
``max_temperature_c``. Register values: :class:`FirmwareGains` (p, i, d, feedforward_1st/2nd,
pwm_limit, pwm_slope).

Parameter sets (:data:`SERVO_MODELS`, :func:`servo_params`): ``XC330-M288-T``, ``XL330-M288-T``,
``STS3215-7.4V``, ``STS3215-12V``.

Use::

    from firmware_bridge.servo_model import FirmwareGains, ServoBank, servo_params, small_error_stiffness

    xc = servo_params("XC330-M288-T")
    small_error_stiffness(xc, FirmwareGains(p=475), supply_v=5.0)      # -> 2.54 N m/rad
    mjcf_actuator(xc, FirmwareGains(p=475))                           # kp, kv, forcerange, damping, ...

    # a batch: 13 servos, 64 envs, one physics substep of 4 ms
    bank = ServoBank([xc] * 10 + [xl] * 3, [legs_gains] * 10 + [head_gains] * 3)
    state = bank.state((64,))
    tau, current = bank.torque(goal, q, qdot, supply_v[:, None], state, dt=0.004)   # each (64, 13)
    bank.set_gains(new_gains)                                          # a P-gain write

Overrides (identified values, hypotheticals)::

    xc2 = xc.with_overrides(source="sysid 2026-12-07", friction_coulomb_nm=0.06)
    save_profile("xc330_identified.json", xc2, extra={"fit": {...}})   # atomic
    params, data = load_profile("xc330_identified.json")                # catalog + overrides

Only the tunable physical values (:data:`TUNABLE`) are stored in a profile; the firmware facts come
from the catalog. A "stiffness-equivalent x1.4" is ``duty_per_p_rad`` x 1.4 (BAM's error-gain ratio).
"""

from firmware_bridge.servo_model.catalog import SERVO_MODELS, servo_params
from firmware_bridge.servo_model.law import (
    MjcfActuator,
    ServoBank,
    duty_limit,
    firmware_damping,
    joint_damping,
    mjcf_actuator,
    small_error_stiffness,
    torque_limit,
)
from firmware_bridge.servo_model.params import TICKS_PER_RAD, TUNABLE, FirmwareGains, ServoParams
from firmware_bridge.servo_model.profile import (
    ProfileError,
    load_profile,
    params_from_profile,
    profile_dict,
    save_profile,
)

__all__ = [
    "SERVO_MODELS", "TICKS_PER_RAD", "TUNABLE", "FirmwareGains", "MjcfActuator", "ProfileError", "ServoBank",
    "ServoParams", "duty_limit", "firmware_damping", "joint_damping", "load_profile", "mjcf_actuator",
    "params_from_profile", "profile_dict", "save_profile", "servo_params", "small_error_stiffness", "torque_limit",
]
