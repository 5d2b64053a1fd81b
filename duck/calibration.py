"""Servo calibration: per-joint zero offset and direction, stored as JSON keyed by joint name.

File format (``version`` 1)::

    {"version": 1,
     "joints": {"right_hip_yaw": {"zero_ticks": 2051, "direction": 1}, ...}}

Each joint gives its zero as ``zero_ticks`` (int, 0..4095: the servo reading
when the joint is at 0 rad in the contract's convention) or ``zero_rad``
(float, offset from the servo's 2048-tick centre), and ``direction`` (+1 or
-1: -1 when the servo turns opposite to the contract's positive direction).
Every contract joint must be present; anything else is a one-line
:class:`~duck.errors.UserError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duck.contract import CONTRACT, RobotContract
from duck.errors import UserError

CALIBRATION_VERSION = 1
TICKS_PER_REV = 4096


@dataclass(frozen=True)
class JointCalibration:
    zero_ticks: int = 2048
    direction: int = 1


@dataclass(frozen=True)
class Calibration:
    joints: dict[str, JointCalibration]

    @classmethod
    def default(cls, contract: RobotContract = CONTRACT) -> Calibration:
        return cls({name: JointCalibration() for name in contract.joint_names})

    def to_dict(self) -> dict[str, Any]:
        return {"version": CALIBRATION_VERSION,
                "joints": {n: {"zero_ticks": c.zero_ticks, "direction": c.direction} for n, c in self.joints.items()}}

    def servo_calibrations(self, contract: RobotContract = CONTRACT) -> dict:
        """servo id -> :class:`firmware_bridge.ServoCalibration`, for :class:`firmware_bridge.DynamixelBus`."""
        from firmware_bridge import ServoCalibration

        return {j.servo_id: ServoCalibration(self.joints[j.name].zero_ticks, self.joints[j.name].direction)
                for j in contract.joints}


def _where(path: str | Path | None) -> str:
    return f"calibration {path}" if path else "calibration"


def parse_calibration(data: Any, path: str | Path | None = None, contract: RobotContract = CONTRACT) -> Calibration:
    """Validate decoded JSON against the contract; one-line UserError on any problem."""
    where = _where(path)
    if not isinstance(data, dict) or not isinstance(data.get("joints"), dict):
        raise UserError(f"{where}: expected an object with a \"joints\" object keyed by joint name")
    version = data.get("version", CALIBRATION_VERSION)
    if version != CALIBRATION_VERSION:
        raise UserError(f"{where}: unsupported version {version!r} (this build reads {CALIBRATION_VERSION})")
    joints = data["joints"]
    names = contract.joint_names
    missing = [n for n in names if n not in joints]
    unknown = [n for n in joints if n not in names]
    if unknown:
        raise UserError(f"{where}: unknown joint(s) {unknown}; contract joints are {list(names)}")
    if missing:
        raise UserError(f"{where}: missing joint(s) {missing}")
    out = {}
    for name in names:
        entry = joints[name]
        if not isinstance(entry, dict):
            raise UserError(f"{where}: joint {name!r} must be an object with zero_ticks/zero_rad and direction")
        extra = set(entry) - {"zero_ticks", "zero_rad", "direction"}
        if extra:
            raise UserError(f"{where}: joint {name!r} has unknown key(s) {sorted(extra)}")
        if ("zero_ticks" in entry) == ("zero_rad" in entry):
            raise UserError(f"{where}: joint {name!r} needs exactly one of zero_ticks or zero_rad")
        if "zero_ticks" in entry:
            z = entry["zero_ticks"]
            if isinstance(z, bool) or not isinstance(z, int):
                raise UserError(f"{where}: joint {name!r} zero_ticks must be an integer, got {z!r}")
            zero = z
        else:
            z = entry["zero_rad"]
            if isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z):
                raise UserError(f"{where}: joint {name!r} zero_rad must be a number, got {z!r}")
            zero = int(round(2048 + z * TICKS_PER_REV / (2 * math.pi)))
        if not 0 <= zero < TICKS_PER_REV:
            raise UserError(f"{where}: joint {name!r} zero is {zero} ticks, outside 0..{TICKS_PER_REV - 1}")
        d = entry.get("direction", 1)
        if isinstance(d, bool) or d not in (1, -1):
            raise UserError(f"{where}: joint {name!r} direction must be 1 or -1, got {d!r}")
        out[name] = JointCalibration(int(zero), int(d))
    return Calibration(out)


def load_calibration(path: str | Path, contract: RobotContract = CONTRACT) -> Calibration:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise UserError(f"calibration file {p} does not exist (run `duck servo calibrate`)") from None
    except OSError as exc:
        raise UserError(f"cannot read calibration file {p}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"calibration {p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"calibration {p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return parse_calibration(data, p, contract)


def save_calibration(cal: Calibration, path: str | Path) -> None:
    """Atomically: the previous calibration file survives a failed or interrupted write."""
    from duck.atomic import write_text

    write_text(path, json.dumps(cal.to_dict(), indent=2) + "\n")
