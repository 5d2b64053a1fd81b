"""The sim's actuators are the servo model (option (a) of issue 20: MJCF parameters derived from it).

Per joint, :func:`firmware_bridge.servo_model.mjcf_actuator` maps the servo law at the profile's gains
and a supply voltage onto MuJoCo: ``position`` kp (P term), kv (D term), forcerange (stall torque
under PWM Limit), joint damping (back-EMF kt^2/R + viscous gear friction), frictionloss (Coulomb)
and armature. That mapping is exact for everything but PWM Slope, the I term, load-dependent
friction and backlash (benchmarks/servo_model_ab.py measures what those change).

``mjcf/duck.xml``'s ``xc330``/``xl330`` default classes are generated from here
(``python -m duck.sim.actuators --write``) and ``tests/test_actuators.py`` checks they agree, so
no number is typed twice. Domain randomization (:func:`servo_arrays` with scales) goes through the
same law, per env.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from duck.contract import CONTRACT, RobotContract
from duck.servo_profile import SERVO_PROFILE, RobotServoProfile
from firmware_bridge.servo_model import FirmwareGains, ServoParams, duty_limit, mjcf_actuator

# MJCF default class per servo model (the class names in mjcf/duck.xml).
MJCF_CLASS = {"XC330-M288-T": "xc330", "XL330-M288-T": "xl330"}


@dataclass(frozen=True)
class JointServos:
    """The servo law's constants per joint (contract order), for vectorised MJCF parameters."""

    params: tuple[ServoParams, ...]
    gains: tuple[FirmwareGains, ...]
    kt: np.ndarray
    resistance: np.ndarray
    duty_per_rad: np.ndarray  # P * duty_per_p_rad
    duty_per_rad_s: np.ndarray  # D * duty_per_d_rad_s
    duty_cap: np.ndarray
    coulomb: np.ndarray
    viscous: np.ndarray
    armature: np.ndarray

    @staticmethod
    def build(contract: RobotContract = CONTRACT, profile: RobotServoProfile = SERVO_PROFILE,
              overrides: Mapping[str, ServoParams] | None = None,
              gains: tuple[FirmwareGains, ...] | None = None) -> JointServos:
        models = [j.servo_model for j in contract.joints]
        params = profile.joint_params(models, overrides)
        gains = gains if gains is not None else profile.joint_gains(models)
        return JointServos(
            params=params, gains=gains,
            kt=np.array([p.kt_nm_per_a for p in params]),
            resistance=np.array([p.resistance_ohm for p in params]),
            duty_per_rad=np.array([g.p * p.duty_per_p_rad for p, g in zip(params, gains)]),
            duty_per_rad_s=np.array([g.d * p.duty_per_d_rad_s for p, g in zip(params, gains)]),
            duty_cap=np.array([duty_limit(p, g) for p, g in zip(params, gains)]),
            coulomb=np.array([p.friction_coulomb_nm for p in params]),
            viscous=np.array([p.friction_viscous_nms for p in params]),
            armature=np.array([p.armature_kgm2 for p in params]),
        )

    def arrays(self, supply_v: float | np.ndarray, kt_scale: float | np.ndarray = 1.0,
               resistance_scale: float | np.ndarray = 1.0, error_gain_scale: float | np.ndarray = 1.0,
               coulomb_scale: float | np.ndarray = 1.0, viscous_scale: float | np.ndarray = 1.0,
               armature_scale: float | np.ndarray = 1.0) -> dict[str, np.ndarray]:
        """MuJoCo parameters per joint (kp, kv, forcerange, damping, frictionloss, armature) at a
        supply and with the given scales (broadcast per joint): the law of
        :func:`firmware_bridge.servo_model.mjcf_actuator`, vectorised."""
        kt = self.kt * kt_scale
        r = self.resistance * resistance_scale
        volts_to_torque = kt / r * supply_v
        return {
            "kp": volts_to_torque * self.duty_per_rad * error_gain_scale,
            "kv": volts_to_torque * self.duty_per_rad_s * error_gain_scale,
            "forcerange": volts_to_torque * self.duty_cap,
            "damping": kt * kt / r + self.viscous * viscous_scale,
            "frictionloss": self.coulomb * coulomb_scale,
            "armature": self.armature * armature_scale,
        }


def write_actuators(model: mujoco.MjModel, dofs: np.ndarray, arrays: dict[str, np.ndarray],
                    actuators: np.ndarray | None = None) -> None:
    """Write per-joint arrays into ``model`` (actuators in contract order unless given)."""
    act = np.arange(len(dofs)) if actuators is None else actuators
    kp, kv = arrays["kp"], arrays["kv"]
    model.actuator_gainprm[act, 0] = kp
    model.actuator_biasprm[act, 1] = -kp
    model.actuator_biasprm[act, 2] = -kv
    model.actuator_forcerange[act, 0] = -arrays["forcerange"]
    model.actuator_forcerange[act, 1] = arrays["forcerange"]
    model.dof_damping[dofs] = arrays["damping"]
    model.dof_frictionloss[dofs] = arrays["frictionloss"]
    model.dof_armature[dofs] = arrays["armature"]


# ---- the MJCF default classes ----------------------------------------------------------------
def _g(x: float) -> str:
    return f"{x:.4g}"


def mjcf_class_lines(profile: RobotServoProfile = SERVO_PROFILE) -> dict[str, tuple[str, str]]:
    """class name -> (joint line, position line) at the profile's gains and nominal supply."""
    out = {}
    for model, cls in MJCF_CLASS.items():
        from firmware_bridge.servo_model import servo_params

        a = mjcf_actuator(servo_params(model), profile.gains_for(model), profile.nominal_supply_v)
        out[cls] = (
            f'<joint damping="{_g(a.damping)}" frictionloss="{_g(a.frictionloss)}" armature="{_g(a.armature)}"/>',
            f'<position kp="{_g(a.kp)}" kv="{_g(a.kv)}" forcerange="{_g(-a.forcerange)} {_g(a.forcerange)}" '
            f'inheritrange="1"/>',
        )
    return out


_CLASS_BLOCK = re.compile(
    r'(<default class="(?P<cls>xc330|xl330)">\s*)<joint [^>]*/>(\s*)<position [^>]*/>', re.S)


def regenerate(xml_text: str, profile: RobotServoProfile = SERVO_PROFILE) -> str:
    lines = mjcf_class_lines(profile)

    def sub(m: re.Match) -> str:
        joint, position = lines[m.group("cls")]
        return f"{m.group(1)}{joint}{m.group(3)}{position}"

    text, n = _CLASS_BLOCK.subn(sub, xml_text)
    if n != len(MJCF_CLASS):
        raise ValueError(f"found {n} of the {len(MJCF_CLASS)} servo default classes in the MJCF")
    return text


def main(argv: list[str] | None = None) -> int:
    from duck.paths import ROBOT_XML

    parser = argparse.ArgumentParser(description="(re)generate the servo default classes of mjcf/duck.xml")
    parser.add_argument("--write", action="store_true", help="rewrite the file (default: print the diff state)")
    args = parser.parse_args(argv)
    path = Path(ROBOT_XML)
    old = path.read_text()
    new = regenerate(old)
    if args.write and new != old:
        path.write_text(new)
    print(f"{path}: {'up to date' if new == old else ('rewritten' if args.write else 'OUT OF DATE (use --write)')}")
    return 0 if (new == old or args.write) else 1


if __name__ == "__main__":
    raise SystemExit(main())
