"""The robot's servo profile: the firmware gains and the supply-voltage range a policy is trained for.

The contract (:mod:`duck.contract`) says which servo model drives each joint; this profile says what
the firmware of each servo model is told (:class:`~firmware_bridge.servo_model.FirmwareGains`) and the
supply the policy may run on. Training uses it (the sim's actuators are the servo model at these
gains, :mod:`duck.sim.actuators`; domain randomization draws the supply from ``supply_range_v``),
``duck export`` writes it into the ONNX metadata, ``duck run`` writes exactly these gains after the
start-up ramp and refuses a supply outside the range, ``duck servo setup`` writes them by default.

Why these gains (open_duck_mini_v1): the shipped policy was trained with a MuJoCo kp of
2.54 N m/rad on every joint. XC330 P 475 gives 2.54 N m/rad at 5.0 V (the e-manual's KPP = P/128),
XL330 P 1700 gives 2.59 N m/rad (BAM's divisor 256). D 0 (the policy never saw a D term). The
factory gains would be 5.89 N m/rad (XC330 P 1100, plus D 500) and 0.61 N m/rad (XL330 P 400), which
is what `duck run` used to restore: 2.3x and 0.24x what the policy learned on.

Imports: the standard library and :mod:`firmware_bridge.servo_model` only (numpy; runtime-safe).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from firmware_bridge.servo_model import FirmwareGains, ServoParams, servo_params


class ServoProfileError(ValueError):
    """Servo profile data that does not fit (one line)."""


@dataclass(frozen=True)
class RobotServoProfile:
    name: str = "open_duck_mini_v1"
    # Firmware gains per servo model (register units), written after the start-up ramp.
    gains: Mapping[str, FirmwareGains] = field(default_factory=lambda: {
        "XC330-M288-T": FirmwareGains(p=475, i=0, d=0),
        "XL330-M288-T": FirmwareGains(p=1700, i=0, d=0),
    })
    # The supply (Present Input Voltage, V) the policy is trained for. v1: a 5 V UBEC feeds the U2D2
    # hub; 4.5 V covers its sag at peak current (13 servos can draw > 20 A at stall); 5.3 V its
    # tolerance. A 2S pack wired straight to the bus (7-8.4 V) is refused.
    supply_range_v: tuple[float, float] = (4.5, 5.3)
    nominal_supply_v: float = 5.0

    def __post_init__(self) -> None:
        lo, hi = self.supply_range_v
        if not 0 < lo <= self.nominal_supply_v <= hi:
            raise ServoProfileError(f"servo profile {self.name}: need 0 < min <= nominal <= max supply, "
                                    f"got {self.supply_range_v} around {self.nominal_supply_v}")

    def gains_for(self, servo_model: str) -> FirmwareGains:
        try:
            return self.gains[servo_model]
        except KeyError:
            raise ServoProfileError(f"servo profile {self.name} has no gains for {servo_model!r} "
                                    f"(it has {sorted(self.gains)})") from None

    def joint_gains(self, servo_models: list[str] | tuple[str, ...]) -> tuple[FirmwareGains, ...]:
        return tuple(self.gains_for(m) for m in servo_models)

    def joint_params(self, servo_models: list[str] | tuple[str, ...],
                     overrides: Mapping[str, ServoParams] | None = None) -> tuple[ServoParams, ...]:
        """Servo parameters per joint: the catalog's, or an identified set per servo model."""
        overrides = overrides or {}
        return tuple(overrides.get(m) or servo_params(m) for m in servo_models)

    def supply_ok(self, volts: float) -> bool:
        lo, hi = self.supply_range_v
        return lo - 1e-9 <= volts <= hi + 1e-9

    # ---- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "gains": {m: g.to_dict() for m, g in sorted(self.gains.items())},
                "supply_range_v": list(self.supply_range_v), "nominal_supply_v": self.nominal_supply_v}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RobotServoProfile:
        try:
            unknown = set(data) - {"name", "gains", "supply_range_v", "nominal_supply_v"}
            if unknown:
                raise ServoProfileError(f"unknown servo profile keys {sorted(unknown)}")
            return cls(name=str(data["name"]),
                       gains={m: FirmwareGains.from_dict(g) for m, g in dict(data["gains"]).items()},
                       supply_range_v=(float(data["supply_range_v"][0]), float(data["supply_range_v"][1])),
                       nominal_supply_v=float(data["nominal_supply_v"]))
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            if isinstance(exc, ServoProfileError):
                raise
            raise ServoProfileError(f"servo profile data is malformed: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> RobotServoProfile:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ServoProfileError(f"servo profile JSON is not valid JSON: {exc}") from None


SERVO_PROFILE = RobotServoProfile()

# ONNX metadata key (duck export writes it; duck run reads it).
META_SERVO_PROFILE = "duck.servo_profile_json"


def policy_servo_profile(metadata: Mapping[str, str]) -> tuple[RobotServoProfile, str | None]:
    """The servo profile a policy was trained for, from its ONNX metadata, and a note when the
    policy predates the key (then the installed profile, which reproduces the old MJCF's kp 2.54)."""
    text = metadata.get(META_SERVO_PROFILE)
    if text is None:
        return SERVO_PROFILE, (f"the policy carries no servo profile (exported before it existed); "
                               f"using the installed {SERVO_PROFILE.name} {SERVO_PROFILE.fingerprint}")
    return RobotServoProfile.from_json(text), None
