"""``duck doctor --sim``: a robot made of the software servo, set up as ``duck servo setup --all``
would, resting in its home crouch, with a simulated IMU, gamepad and USB latency timer.

``--inject NAME[:SERVO]`` breaks one thing the way users break it (:data:`INJECTIONS`);
each one is meant to make exactly one check fail. The doctor's checks then run
unchanged, through the real dynamixel-sdk on the pty.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from duck.calibration import Calibration
from duck.contract import CONTRACT, RobotContract
from duck.errors import UserError
from duck.runtime.imu import ImuSample

DEFAULT_SERVO = 12  # right_hip_pitch: rests well away from 0 in the home crouch, so a sign error shows

# name -> (what it breaks, the check it must fail)
INJECTIONS = {
    "latency": ("USB latency timer left at 16 ms", "latency"),
    "wrong_baud": ("servos left at the factory 57600 baud", "baud"),
    "wrong_id": ("a servo left at the factory id 1", "servos"),
    "missing_servo": ("a servo that does not answer (loose cable)", "servos"),
    "old_firmware": ("a servo with firmware v45 (no Fast Sync Read)", "servos"),
    "return_delay": ("a servo with the factory return delay 250 (500 us)", "bus_settings"),
    "status_level": ("a servo at status return level 1", "bus_settings"),
    "wrong_mode": ("a servo in extended position mode", "operating_mode"),
    "position_limits": ("a servo with the factory position limits 0..4095", "position_limits"),
    "wrong_gain": ("a servo with Position P Gain 640 (a tool changed it)", "gains"),
    "calibration_sign": ("a calibration whose direction is off by a sign", "calibration"),
    "no_calibration": ("no calibration file", "calibration"),
    "flipped_imu": ("the IMU mounted upside-down, config says upright", "imu"),
    "low_voltage": ("a battery sagged to 3.6 V", "supply"),
    "high_voltage": ("servos on the raw 2S battery, 8.4 V", "supply"),
    "high_temperature": ("a servo at 66 degC", "temperature"),
    "no_gamepad": ("no gamepad (a warning, not a failure)", "gamepad"),
    "torque_on": ("a servo left with torque on (EEPROM locked)", "settings_writable"),
}


@dataclass(frozen=True)
class Injection:
    name: str
    servo_id: int = DEFAULT_SERVO

    @classmethod
    def parse(cls, text: str, contract: RobotContract = CONTRACT) -> Injection:
        name, _, servo = text.partition(":")
        if name not in INJECTIONS:
            raise UserError(f"unknown --inject {name!r}; choose from {', '.join(INJECTIONS)}")
        if not servo:
            return cls(name)
        try:
            sid = int(servo)
        except ValueError:
            by_name = {j.name: j.servo_id for j in contract.joints}
            if servo not in by_name:
                raise UserError(f"--inject {text!r}: {servo!r} is neither a servo id nor a joint name") from None
            sid = by_name[servo]
        if sid not in contract.servo_ids:
            raise UserError(f"--inject {text!r}: servo {sid} is not one of {list(contract.servo_ids)}")
        return cls(name, sid)


class StaticImu:
    """An IMU on a robot held still and upright; ``flipped`` mounts the sensor upside-down."""

    def __init__(self, mount: np.ndarray, flipped: bool) -> None:
        # Upright: gravity is -z in the body frame; a sensor mounted upside-down (180 deg about x) sees +z.
        self._gravity_sensor = np.array([0.0, 0.0, 1.0 if flipped else -1.0])
        self._mount = mount
        self._seq = 0

    def open(self) -> None:
        pass

    def read(self) -> ImuSample:
        self._seq += 1
        return ImuSample(np.zeros(3), self._mount @ self._gravity_sensor, time.perf_counter(), self._seq)

    def close(self) -> None:
        pass


class SimPad:
    name = "open-duck simulated pad"

    def close(self) -> None:
        pass


class SimRig:
    """The software-servo robot for one doctor run. Use as a context manager."""

    def __init__(self, baud: int, injections: list[Injection], contract: RobotContract = CONTRACT) -> None:
        self.baud, self.injections, self.contract = baud, injections, contract
        self._tmp = tempfile.TemporaryDirectory(prefix="duck-doctor-")
        self.tmp = Path(self._tmp.name)
        self.emu: Any = None

    def has(self, name: str) -> Injection | None:
        return next((i for i in self.injections if i.name == name), None)

    def __enter__(self) -> SimRig:
        from duck.servo_profile import SERVO_PROFILE
        from firmware_bridge import ServoCalibration, ServoSpec
        from firmware_bridge.control_table import BAUD_TO_CODE, OperatingMode, Reg
        from firmware_bridge.emulator import Fault, FaultKind, IdealBackend, SoftwareServo
        from firmware_bridge.provision import limits_to_ticks

        specs = [ServoSpec(j.servo_id, j.servo_model) for j in self.contract.joints]
        self.emu = SoftwareServo(specs, IdealBackend(), baud=self.baud, return_delay=0)
        self.port = self.emu.start()
        cal = Calibration.default(self.contract)
        for j in self.contract.joints:  # what `duck servo setup --all` leaves behind
            s = self.emu.servo(j.servo_id)
            lo, hi = limits_to_ticks(j.lower_rad, j.upper_rad, ServoCalibration())
            _write(s, Reg.MIN_POSITION_LIMIT, lo)
            _write(s, Reg.MAX_POSITION_LIMIT, hi)
            gains = SERVO_PROFILE.gains_for(j.servo_model)
            for reg, value in ((Reg.POSITION_P_GAIN, gains.p), (Reg.POSITION_I_GAIN, gains.i),
                               (Reg.POSITION_D_GAIN, gains.d)):
                _write(s, reg, value)
            self.emu.backend.set_position(j.servo_id, j.home_rad)  # resting in the home crouch
        # ---- injections ----------------------------------------------------------------------
        for inj in self.injections:
            s = self.emu.servo(inj.servo_id) if inj.name not in ("wrong_baud",) else None
            if inj.name == "wrong_baud":
                for servo in self.emu.servos:
                    _write(servo, Reg.BAUD_RATE, BAUD_TO_CODE[57_600])
            elif inj.name == "wrong_id":
                _write(s, Reg.ID, 1)
            elif inj.name == "missing_servo":
                self.emu.inject(Fault(FaultKind.MISSING, inj.servo_id))
            elif inj.name == "old_firmware":
                s.table[Reg.FIRMWARE_VERSION.address] = 45
            elif inj.name == "return_delay":
                _write(s, Reg.RETURN_DELAY_TIME, 250)
            elif inj.name == "status_level":
                _write(s, Reg.STATUS_RETURN_LEVEL, 1)
            elif inj.name == "wrong_mode":
                _write(s, Reg.OPERATING_MODE, int(OperatingMode.EXTENDED_POSITION))
            elif inj.name == "position_limits":
                _write(s, Reg.MIN_POSITION_LIMIT, 0)
                _write(s, Reg.MAX_POSITION_LIMIT, 4095)
            elif inj.name == "wrong_gain":
                _write(s, Reg.POSITION_P_GAIN, 640)
            elif inj.name == "low_voltage":
                self.emu.power.sag(3.6)
            elif inj.name == "high_voltage":
                self.emu.power.sag(8.4)
            elif inj.name == "high_temperature":
                self.emu.power.set_temperature(inj.servo_id, 66)
            elif inj.name == "torque_on":
                _write(s, Reg.TORQUE_ENABLE, 1)
        # ---- calibration file, latency sysfs -----------------------------------------------------
        self.calibration: Path | None = None
        if not self.has("no_calibration"):
            data = cal.to_dict()
            flip = self.has("calibration_sign")
            if flip is not None:
                name = next(j.name for j in self.contract.joints if j.servo_id == flip.servo_id)
                data["joints"][name]["direction"] = -1
            self.calibration = self.tmp / "calibration.json"
            self.calibration.write_text(json.dumps(data, indent=2) + "\n")
        device = Path(self.port).resolve().name
        (self.tmp / "sysfs" / device).mkdir(parents=True)
        (self.tmp / "sysfs" / device / "latency_timer").write_text("16\n" if self.has("latency") else "1\n")
        self.sysfs = self.tmp / "sysfs"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.emu is not None:
            self.emu.stop()
        self._tmp.cleanup()

    def open_imu(self, mount: np.ndarray) -> StaticImu:
        return StaticImu(mount, flipped=self.has("flipped_imu") is not None)

    def find_gamepad(self) -> SimPad | None:
        return None if self.has("no_gamepad") else SimPad()


def _write(servo: Any, reg: Any, value: int) -> None:
    """Set a register through the emulated firmware's own write path (its range checks apply)."""
    from firmware_bridge.control_table import to_unsigned

    err = servo.write(reg.address, to_unsigned(value, reg.size).to_bytes(reg.size, "little"))
    if err:
        raise RuntimeError(f"software servo refused {reg.name}={value}: error {err}")
