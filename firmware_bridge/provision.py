"""Setup-time helpers: scan, provision one servo, monitor rows.

Not the hot path: these favour clear errors and read-back verification over
speed, and may take seconds (a full scan tries every standard baud).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dynamixel_sdk as sdk

from firmware_bridge.bus import DynamixelBus, _one_line, _PortHandler
from firmware_bridge.control_table import (
    MODEL_BY_NUMBER,
    STANDARD_BAUDS,
    Area,
    OperatingMode,
    Reg,
    baud_code,
    decode_hardware_error,
    velocity_to_rad_s,
    voltage_to_v,
)
from firmware_bridge.errors import BusError, PortOpenError, ServoMissingError, ServoStatusError
from firmware_bridge.read_back import SETTLE_S, check_read_back, read_back
from firmware_bridge.spec import ServoCalibration, ServoSpec


@dataclass(frozen=True)
class Found:
    baud: int
    servo_id: int
    model_number: int
    firmware: int

    @property
    def model(self) -> str:
        info = MODEL_BY_NUMBER.get(self.model_number)
        return info.name if info else f"unknown({self.model_number})"

    @property
    def variant(self) -> str:
        return self.model  # an X330's model number names it exactly

    def matches(self, model: str) -> bool:
        return model == self.model


def scan(port: str, bauds: Iterable[int] = STANDARD_BAUDS) -> list[Found]:
    """Broadcast-ping at each baud; every servo that answers, with model and firmware."""
    found: list[Found] = []
    for baud in bauds:
        handler = _PortHandler(port, latency_ms=1.0, slack_ms=0.5)
        try:
            handler.baudrate = int(baud)
            if not handler.openPort():
                raise PortOpenError(f"cannot open {port} at {baud} baud (unsupported baud)")
        except PortOpenError:
            raise
        except Exception as exc:
            raise PortOpenError(f"cannot open {port}: {_one_line(exc)}") from None
        try:
            replies, _result = sdk.PacketHandler(2.0).broadcastPing(handler)
        finally:
            handler.closePort()
        for servo_id, (model_number, firmware) in sorted(replies.items()):
            found.append(Found(int(baud), servo_id, model_number, firmware))
    return found


@dataclass(frozen=True)
class SetupPlan:
    """Everything ``setup`` writes to one servo (EEPROM and the RAM gains)."""

    spec: ServoSpec  # the target id and model
    baud: int  # the target baud
    min_ticks: int
    max_ticks: int
    position_p_gain: int | None = None
    position_i_gain: int | None = None
    position_d_gain: int | None = None
    return_delay: int = 0

    def eeprom(self) -> list[tuple[Reg, int]]:
        # Drive Mode 0: direction is applied in software by the calibration, so the
        # servo's own direction must be the factory one, not whatever it had.
        return [
            (Reg.RETURN_DELAY_TIME, self.return_delay),
            (Reg.OPERATING_MODE, int(OperatingMode.POSITION)),
            (Reg.DRIVE_MODE, 0),
            (Reg.MIN_POSITION_LIMIT, self.min_ticks),
            (Reg.MAX_POSITION_LIMIT, self.max_ticks),
        ]

    def ram(self) -> list[tuple[Reg, int]]:
        gains = [(Reg.POSITION_P_GAIN, self.position_p_gain), (Reg.POSITION_I_GAIN, self.position_i_gain),
                 (Reg.POSITION_D_GAIN, self.position_d_gain)]
        return [(r, v) for r, v in gains if v is not None]


def limits_to_ticks(lower_rad: float, upper_rad: float, cal: ServoCalibration) -> tuple[int, int]:
    a, b = (int(cal.rad_to_ticks(x)) for x in (lower_rad, upper_rad))
    lo, hi = min(a, b), max(a, b)
    return max(0, lo), min(4095, hi)




def setup_servo(port: str, current_id: int, current_baud: int, plan: SetupPlan,
                torque_off: bool = False) -> dict[Reg, int]:
    """Provision one servo; returns the values read back. Raises BusError on any mismatch.

    The firmware refuses EEPROM writes while torque is on; so does this, with a clear
    error, unless ``torque_off`` (the joint goes limp: the user supports it first)."""
    baud_code(plan.baud)  # validate before touching the servo
    with DynamixelBus(port, current_baud, [ServoSpec(current_id, plan.spec.model)]) as bus:
        bus.ping_all()
        if torque_off:
            bus.write_register(current_id, Reg.TORQUE_ENABLE, 0, check_alert=False)  # EEPROM unlocks
        for reg, value in plan.eeprom() + plan.ram():
            try:
                bus.write_register(current_id, reg, value, check_alert=False)
            except ServoStatusError as exc:
                # The firmware's own refusal: an Access error on a writable EEPROM register
                # means torque is on, and then no EEPROM write of this plan can have landed.
                if reg.area is Area.EEPROM and exc.error_name == "access":
                    raise BusError(f"servo {current_id} has torque on, and its firmware refuses EEPROM writes "
                                   "until it is off. Support the joint, then rerun with --torque-off") from None
                raise
        # ID, then baud last: after it, this connection can no longer reach the servo.
        if plan.spec.servo_id != current_id:
            bus.write_register(current_id, Reg.ID, plan.spec.servo_id, check_alert=False)
        if plan.baud != current_baud:
            try:
                bus.write_register(plan.spec.servo_id, Reg.BAUD_RATE, baud_code(plan.baud), check_alert=False)
            except ServoMissingError:
                # A lost status packet does not mean the write was lost: the servo may already
                # be at the new baud, where a retry at the old one cannot reach it. The
                # verifying connection below decides.
                pass
    # A status packet that came back after its request timed out (the write was then retried)
    # can still be on its way; let it land before the verifying connection, whose first
    # transmission flushes it, or it is taken for the ping's reply.
    time.sleep(SETTLE_S)
    with DynamixelBus(port, plan.baud, [plan.spec]) as bus:
        bus.ping_all()
        sid = plan.spec.servo_id
        wanted = plan.eeprom() + plan.ram() + [(Reg.ID, sid), (Reg.BAUD_RATE, baud_code(plan.baud))]
        got = read_back(bus, sid, wanted)
    check_read_back(sid, wanted, got)
    return got


@dataclass(frozen=True)
class MonitorRow:
    servo_id: int
    position_rad: float
    velocity_rad_s: float
    current_a: float
    voltage_v: float
    temperature_c: int
    torque: bool
    errors: list[str]


# One read per servo of Present Current(126) .. Present Temperature(146).
_MON_START = Reg.PRESENT_CURRENT.address
_MON_LEN = Reg.PRESENT_TEMPERATURE.address + 1 - _MON_START


def monitor_rows(bus: DynamixelBus, servo_ids: Sequence[int] | None = None) -> list[MonitorRow]:
    rows = []
    for sid in servo_ids or bus.ids:
        cal = bus.calibration[sid]
        try:
            b, alert = bus.read_block(sid, Reg.PRESENT_CURRENT, _MON_LEN)
        except BusError:
            rows.append(MonitorRow(sid, float("nan"), float("nan"), float("nan"), float("nan"), -1, False,
                                   ["no-reply"]))
            continue

        def field(reg: Reg, _b: bytes = b) -> int:
            k = reg.address - _MON_START
            return int.from_bytes(_b[k:k + reg.size], "little", signed=reg.signed)

        errs = []
        if alert:
            errs = decode_hardware_error(bus.read_register(sid, Reg.HARDWARE_ERROR_STATUS, check_alert=False))
        torque = bool(bus.read_register(sid, Reg.TORQUE_ENABLE, check_alert=False))
        rows.append(MonitorRow(
            sid,
            float(cal.ticks_to_rad(field(Reg.PRESENT_POSITION))),
            cal.direction * velocity_to_rad_s(field(Reg.PRESENT_VELOCITY)),
            cal.direction * field(Reg.PRESENT_CURRENT) * 1e-3,
            voltage_to_v(field(Reg.PRESENT_INPUT_VOLTAGE)),
            field(Reg.PRESENT_TEMPERATURE),
            torque,
            errs,
        ))
    return rows
