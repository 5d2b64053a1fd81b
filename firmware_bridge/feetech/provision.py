"""Feetech setup-time helpers: scan, provision one servo, offset calibration, monitor rows.

Same API as :mod:`firmware_bridge.provision` (Dynamixel), so ``duck servo`` picks
the module from the family table and holds no vendor ``if``. Not the hot path:
clear errors and read-back verification over speed.

EEPROM rules on an STS (see :mod:`firmware_bridge.emulator.feetech_firmware`): a
write to EEPROM is live at once but saved only while Lock is 0. Every EEPROM
write here is *unlock, write, read back, lock*. The firmware accepts EEPROM
writes with torque on (an X330 refuses them); setup refuses anyway, because a
new offset or angle limit under torque makes the joint jump.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import scservo_sdk as sdk

from firmware_bridge.errors import BusError, PortOpenError, ServoMissingError
from firmware_bridge.feetech.bus import FeetechBus, _one_line, _PortHandler
from firmware_bridge.feetech.control_table import (
    AMP_PER_CURRENT_UNIT,
    LOAD_PER_UNIT,
    OFFSET_LIMIT,
    RAD_S_PER_SPEED_UNIT,
    STANDARD_BAUDS,
    VOLT_PER_UNIT,
    Identity,
    OperatingMode,
    Reg,
    baud_code,
    decode_status,
    identify,
    model_number,
    variant,
)
from firmware_bridge.read_back import SETTLE_S, check_read_back, read_back
from firmware_bridge.spec import ServoCalibration, ServoSpec

SCAN_IDS = range(0, 254)
#: Setup-time deadline slack: finding and verifying every servo matters more here than
#: speed (a USB adapter on a busy Pi can be a few ms late); the hot path keeps 0.5 ms.
#: A scan tries 254 IDs per baud, so it waits less per ID than setup does.
SCAN_SLACK_MS = 3.0
SCAN_ATTEMPTS = 2  # a reply lost to noise (or a busy host) must not hide a servo
PROVISION_SLACK_MS = 10.0


@dataclass(frozen=True)
class Found:
    baud: int
    servo_id: int
    identity: Identity

    @property
    def model(self) -> str:
        return self.identity.model

    @property
    def firmware(self) -> str:
        return self.identity.firmware_text

    @property
    def variant(self) -> str:
        return self.identity.variant_text

    def matches(self, model: str) -> bool:
        """Whether this servo can be the contract's ``model`` (same model number and voltage class)."""
        return model_number(model) == self.identity.model_number and \
            variant(model).name in {v.name for v in self.identity.candidates}


def scan(port: str, bauds: Iterable[int] = STANDARD_BAUDS, ids: Iterable[int] = SCAN_IDS) -> list[Found]:
    """Every servo that answers, at each baud: model number, firmware, voltage class.

    The SDK has no broadcast ping (and on a real bus every servo would answer at
    once), so each ID is read in turn; a missing ID costs ~5 ms at 1 Mbps (1 ms
    latency timer x 2 + :data:`SCAN_SLACK_MS`, tried :data:`SCAN_ATTEMPTS` times), ~2.6 s
    per baud for all 254.
    """
    found: list[Found] = []
    ids = list(ids)
    for baud in bauds:
        handler = _PortHandler(port, latency_ms=1.0, slack_ms=SCAN_SLACK_MS)
        try:
            handler.baudrate = int(baud)
            if not handler.openPort():
                raise PortOpenError(f"cannot open {port} at {baud} baud (unsupported baud)")
        except PortOpenError:
            raise
        except Exception as exc:
            raise PortOpenError(f"cannot open {port}: {_one_line(exc)}") from None
        try:
            ph = sdk.protocol_packet_handler(handler, 0)
            for servo_id in ids:
                head = _read(ph, servo_id, Reg.FIRMWARE_MAJOR.address, 5)
                if head is None:
                    continue
                volts = _read(ph, servo_id, Reg.MAX_VOLTAGE.address, 1)
                found.append(Found(int(baud), servo_id, identify(
                    head[3] | head[4] << 8, (head[0], head[1]), volts[0] if volts else None)))
        finally:
            handler.closePort()
    return found


def _read(ph, servo_id: int, address: int, length: int) -> bytes | None:
    """``length`` bytes, or None if the servo did not answer in :data:`SCAN_ATTEMPTS` tries."""
    for _ in range(SCAN_ATTEMPTS):
        data, result, _ = ph.readTxRx(servo_id, address, length)
        if result == sdk.COMM_SUCCESS and len(data) == length:
            return bytes(data)
    return None


@dataclass(frozen=True)
class SetupPlan:
    """Everything ``setup`` writes to one servo. Same fields as the Dynamixel plan."""

    spec: ServoSpec
    baud: int
    min_ticks: int
    max_ticks: int
    position_p_gain: int | None = None
    position_i_gain: int | None = None
    position_d_gain: int | None = None
    return_delay: int = 0

    def eeprom(self) -> list[tuple[Reg, int]]:
        gains = [(Reg.P_COEFFICIENT, self.position_p_gain), (Reg.I_COEFFICIENT, self.position_i_gain),
                 (Reg.D_COEFFICIENT, self.position_d_gain)]
        return [
            (Reg.RETURN_DELAY, self.return_delay),
            (Reg.STATUS_RETURN_LEVEL, 1),  # answer writes too: every write is confirmed
            (Reg.OPERATING_MODE, int(OperatingMode.POSITION)),
            (Reg.MIN_ANGLE_LIMIT, self.min_ticks),
            (Reg.MAX_ANGLE_LIMIT, self.max_ticks),
        ] + [(r, v) for r, v in gains if v is not None]  # the STS keeps its gains in EEPROM

    def ram(self) -> list[tuple[Reg, int]]:
        return []


def limits_to_ticks(lower_rad: float, upper_rad: float, cal: ServoCalibration) -> tuple[int, int]:
    a, b = (int(cal.rad_to_ticks(x)) for x in (lower_rad, upper_rad))
    return max(0, min(a, b)), min(4095, max(a, b))




def refuse_if_torque_on(bus: FeetechBus, servo_id: int, what: str) -> None:
    if bus.read_register(servo_id, Reg.TORQUE_ENABLE, check_alert=False):
        raise BusError(f"servo {servo_id} has torque on; {what} writes EEPROM, and a new offset or limit under "
                       "torque makes the joint jump. Support the joint, then rerun with --torque-off")


def write_eeprom(bus: FeetechBus, servo_id: int, items: Sequence[tuple[Reg, int]]) -> None:
    """Unlock, write each register, read each back, lock. BusError naming any mismatch."""
    bus.write_register(servo_id, Reg.LOCK, 0, check_alert=False)
    try:
        for reg, value in items:
            bus.write_register(servo_id, reg, value, check_alert=False)
        got = read_back(bus, servo_id, items)
    finally:
        bus.write_register(servo_id, Reg.LOCK, 1, check_alert=False)
    check_read_back(servo_id, items, got)


def setup_servo(port: str, current_id: int, current_baud: int, plan: SetupPlan,
                torque_off: bool = False) -> dict[Reg, int]:
    """Provision one servo; returns the values read back over a fresh connection at the
    target id and baud. Refused while torque is on unless ``torque_off``."""
    baud_code(plan.baud)  # validate before touching the servo
    sid = plan.spec.servo_id
    with FeetechBus(port, current_baud, [ServoSpec(current_id, plan.spec.model)], slack_ms=PROVISION_SLACK_MS) as bus:
        bus.ping_all()
        if torque_off:
            bus.write_register(current_id, Reg.TORQUE_ENABLE, 0, check_alert=False)
        refuse_if_torque_on(bus, current_id, "setup")
        write_eeprom(bus, current_id, plan.eeprom())
        # ID, then baud last: after it, this connection can no longer reach the servo.
        if sid != current_id:
            _write_id(bus, current_id, sid)
        if plan.baud != current_baud:
            bus.write_register(sid, Reg.LOCK, 0, check_alert=False)
            try:
                bus.write_register(sid, Reg.BAUD_RATE, baud_code(plan.baud), check_alert=False)
            except ServoMissingError:
                pass  # it may already be at the new baud; the verifying connection decides
    time.sleep(SETTLE_S)
    with FeetechBus(port, plan.baud, [plan.spec], slack_ms=PROVISION_SLACK_MS) as bus:
        bus.ping_all()
        if plan.baud != current_baud:
            bus.write_register(sid, Reg.LOCK, 1, check_alert=False)
        wanted = plan.eeprom() + [(Reg.ID, sid), (Reg.BAUD_RATE, baud_code(plan.baud)), (Reg.LOCK, 1)]
        got = read_back(bus, sid, wanted)
    check_read_back(sid, wanted, got)
    return got


def _write_id(bus: FeetechBus, current_id: int, new_id: int) -> None:
    """Unlock at the old id, write ID (the reply comes from the old id), lock at the new one."""
    bus.write_register(current_id, Reg.LOCK, 0, check_alert=False)
    bus.write_register(current_id, Reg.ID, new_id, check_alert=False)
    bus.write_register(new_id, Reg.LOCK, 1, check_alert=False)


def offset_for_zero(present_ticks: int, current_offset: int, zero_ticks: int = 2048) -> int:
    """The Offset that makes the servo read ``zero_ticks`` where it now reads ``present_ticks``
    (Present = encoder - Offset). ValueError when it exceeds the register's +-2047."""
    offset = current_offset + (present_ticks - zero_ticks)
    offset = (offset + 2048) % 4096 - 2048  # the shorter way round
    if abs(offset) > OFFSET_LIMIT:
        raise ValueError(f"offset {offset} is outside the servo's +-{OFFSET_LIMIT} ticks")
    return offset


def calibrate_offset(bus: FeetechBus, servo_id: int) -> tuple[int, int]:
    """Write the Offset that makes the present position read 2048, into EEPROM (unlock,
    write, read back, lock). Moves nothing: torque must already be off. Returns
    (offset written, present position read back)."""
    refuse_if_torque_on(bus, servo_id, "calibration")
    present = bus.read_register(servo_id, Reg.PRESENT_POSITION, check_alert=False)
    offset = offset_for_zero(present, bus.read_register(servo_id, Reg.OFFSET, check_alert=False))
    write_eeprom(bus, servo_id, [(Reg.OFFSET, offset)])
    after = bus.read_register(servo_id, Reg.PRESENT_POSITION, check_alert=False)
    if abs(after - 2048) > 2:
        raise BusError(f"servo {servo_id}: after writing offset {offset} it reads {after}, not 2048")
    return offset, after


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
    load: float = float("nan")


# One read per servo: Present Position(56) .. Present Current(69..70).
_MON_START = Reg.PRESENT_POSITION.address
_MON_LEN = Reg.PRESENT_CURRENT.address + 2 - _MON_START


def monitor_rows(bus: FeetechBus, servo_ids: Sequence[int] | None = None) -> list[MonitorRow]:
    rows = []
    for sid in servo_ids or bus.ids:
        cal = bus.calibration[sid]
        try:
            b = bus.read_raw(sid, _MON_START, _MON_LEN)
            torque = bool(bus.read_register(sid, Reg.TORQUE_ENABLE, check_alert=False))
        except BusError:
            rows.append(MonitorRow(sid, float("nan"), float("nan"), float("nan"), float("nan"), -1, False,
                                   ["no-reply"]))
            continue

        def field(reg: Reg, _b: bytes = b) -> int:
            k = reg.address - _MON_START
            return reg.decode(int.from_bytes(_b[k:k + reg.size], "little"))

        rows.append(MonitorRow(
            sid,
            float(cal.ticks_to_rad(field(Reg.PRESENT_POSITION))),
            cal.direction * field(Reg.PRESENT_SPEED) * RAD_S_PER_SPEED_UNIT,
            field(Reg.PRESENT_CURRENT) * AMP_PER_CURRENT_UNIT,
            field(Reg.PRESENT_VOLTAGE) * VOLT_PER_UNIT,
            field(Reg.PRESENT_TEMPERATURE),
            torque,
            decode_status(field(Reg.STATUS)),
            cal.direction * field(Reg.PRESENT_LOAD) * LOAD_PER_UNIT,
        ))
    return rows
