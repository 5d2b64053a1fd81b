"""The parameter types of the servo model: what a servo is (:class:`ServoParams`) and what its
firmware is told (:class:`FirmwareGains`). SI units at the output shaft; gains in register units."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

TICKS_PER_RAD = 4096 / (2.0 * math.pi)  # X330 and STS3215 both: 4096 ticks per turn


@dataclass(frozen=True)
class FirmwareGains:
    """The firmware position controller's registers, in register units.

    ``pwm_limit=None`` means the model's full scale (no extra limit); ``pwm_slope=None`` means the
    servo model's factory slope (or none, for servos without the register). The feedforward gains act
    on the Profile Velocity/Acceleration trajectory, which is flat with profiles off (Profile Velocity 0,
    how the runtime drives the servos), so the law leaves them out. The firmware's own loop rate is not
    modelled: the law is evaluated once per physics substep (4 ms in the env and the software servo)."""

    p: int
    i: int = 0
    d: int = 0
    feedforward_1st: int = 0
    feedforward_2nd: int = 0
    pwm_limit: int | None = None
    pwm_slope: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"firmware gain {f.name} must be a non-negative integer, got {value!r}")

    def to_dict(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FirmwareGains:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown firmware gain keys {sorted(unknown)}")
        return cls(**data)


# Fields of ServoParams that are physical numbers an identification may override.
TUNABLE = (
    "kt_nm_per_a", "resistance_ohm", "armature_kgm2", "friction_coulomb_nm", "friction_viscous_nms",
    "friction_load", "backlash_rad", "duty_per_p_rad", "duty_per_i_rad_s", "duty_per_d_rad_s", "max_duty",
    "pwm_slope_v_per_s_per_unit",
)


@dataclass(frozen=True)
class ServoParams:
    """One servo model: DC motor and gearbox at the output shaft, plus its firmware's gain law.

    Motor (the DC-motor law with the gear ratio folded in, as in Rhoban BAM):
    winding voltage ``V = duty * supply_v``; current ``i = (V - kt * omega) / R``; torque ``kt * i``.
    So stall torque at a supply is ``kt * supply * max_duty / R`` and no-load speed ``supply / kt``
    (less what friction takes).

    Firmware (position mode): ``duty = P*duty_per_p_rad*e + I*duty_per_i_rad_s*int(e) -
    D*duty_per_d_rad_s*omega``, clipped at ``min(max_duty, pwm_limit/pwm_full_scale)`` and, where the
    servo has a PWM Slope register, rate-limited to ``slope * pwm_slope_v_per_s_per_unit / supply``
    per second. ``e`` is goal minus present position in rad, after the backlash dead band.
    """

    model: str
    kt_nm_per_a: float  # torque constant = back-EMF constant (V s/rad), output shaft
    resistance_ohm: float  # winding (plus driver) resistance
    armature_kgm2: float  # reflected rotor inertia at the output
    friction_coulomb_nm: float  # gear Coulomb friction
    friction_viscous_nms: float  # gear viscous friction (back-EMF damping is separate: kt^2 / R)
    duty_per_p_rad: float  # duty cycle per (P register unit * rad of error)
    duty_per_i_rad_s: float  # duty per (I unit * rad s of integrated error)
    duty_per_d_rad_s: float  # duty per (D unit * rad/s of error rate)
    pwm_full_scale: int  # register value of 100 % duty (PWM Limit / Goal PWM units)
    max_duty: float  # the driver's duty ceiling
    pwm_slope_v_per_s_per_unit: float | None  # PWM Slope register unit; None: the servo has none
    factory_gains: FirmwareGains
    nominal_supply_v: float
    rated_supply_v: tuple[float, float]
    max_temperature_c: float  # factory Temperature Limit (shutdown)
    friction_load: float = 0.0  # extra Coulomb friction per N m of motor torque (BAM's load-dependent term)
    backlash_rad: float = 0.0  # total gear free play (dead band +- backlash/2 on the error)
    sources: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("kt_nm_per_a", "resistance_ohm", "duty_per_p_rad", "max_duty", "nominal_supply_v"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{self.model}: {name} must be positive, got {getattr(self, name)}")
        for name in ("armature_kgm2", "friction_coulomb_nm", "friction_viscous_nms", "friction_load",
                     "backlash_rad", "duty_per_i_rad_s", "duty_per_d_rad_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{self.model}: {name} must be >= 0, got {getattr(self, name)}")
        if self.max_duty > 1.0:
            raise ValueError(f"{self.model}: max_duty must be <= 1, got {self.max_duty}")

    # ---- derived, SI ----------------------------------------------------------------------
    def stall_torque_nm(self, supply_v: float | None = None) -> float:
        """Torque at zero speed and full duty."""
        v = self.nominal_supply_v if supply_v is None else supply_v
        return self.kt_nm_per_a * v * self.max_duty / self.resistance_ohm

    def no_load_speed_rad_s(self, supply_v: float | None = None) -> float:
        """Speed at full duty where the motor torque equals the gear friction."""
        v = self.nominal_supply_v if supply_v is None else supply_v
        kt, r = self.kt_nm_per_a, self.resistance_ohm
        # kt/R (V*max_duty - kt w) = fc + fv w
        drive = kt * v * self.max_duty / r - self.friction_coulomb_nm
        return max(0.0, drive / (kt * kt / r + self.friction_viscous_nms))

    @property
    def back_emf_damping_nms(self) -> float:
        return self.kt_nm_per_a ** 2 / self.resistance_ohm

    def with_overrides(self, source: str = "override", **values: float) -> ServoParams:
        """A copy with some physical values replaced (identified or hypothetical); ``source`` is
        recorded as their provenance."""
        unknown = set(values) - set(TUNABLE)
        if unknown:
            raise ValueError(f"not tunable servo parameters: {sorted(unknown)}; tunable: {list(TUNABLE)}")
        sources = dict(self.sources)
        sources.update({k: source for k in values})
        return replace(self, sources=sources, **{k: float(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, FirmwareGains):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServoParams:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown servo parameter keys {sorted(unknown)}")
        data = dict(data)
        data["factory_gains"] = FirmwareGains.from_dict(data["factory_gains"])
        data["rated_supply_v"] = tuple(data["rated_supply_v"])
        return cls(**data)
