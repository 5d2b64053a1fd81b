"""One emulated X330 servo: its control table and how it reacts to instructions.

No I/O here: :class:`EmulatedServo` turns decoded instructions into status
payloads; :mod:`.server` does framing, timing and the pty.
"""

from __future__ import annotations

from firmware_bridge.control_table import (
    BAUD_CODES,
    CONTROL_TABLE_SIZE,
    INDIRECT_ADDRESS_START,
    INDIRECT_COUNT,
    INDIRECT_DATA_START,
    RAD_PER_TICK,
    RAD_S_PER_VELOCITY_UNIT,
    Access,
    Area,
    DriveMode,
    OperatingMode,
    Reg,
    model_info,
)
from firmware_bridge.protocol import ErrorNumber

FIRMWARE_VERSION = 52  # >= 46: supports Fast Sync/Bulk Read
PRESENT_VOLTAGE = 50  # 5.0 V: v1's UBEC rail (a backend with a ``supply_v`` attribute overrides it)
_GAIN_REGS = (Reg.POSITION_P_GAIN, Reg.POSITION_I_GAIN, Reg.POSITION_D_GAIN, Reg.PWM_LIMIT, Reg.PWM_SLOPE)
PRESENT_TEMPERATURE = 35

# address -> register, for writes/reads that must cover whole registers.
_REG_AT = {r.address: r for r in Reg}
_COVER = {}
for _r in Reg:
    for _a in range(_r.address, _r.address + _r.size):
        _COVER[_a] = _r
_PRESENT = range(Reg.REALTIME_TICK.address, Reg.PRESENT_TEMPERATURE.address + 1)
_VALID = {
    Reg.BAUD_RATE: set(BAUD_CODES), Reg.OPERATING_MODE: {int(m) for m in OperatingMode},
    Reg.STATUS_RETURN_LEVEL: {0, 1, 2}, Reg.TORQUE_ENABLE: {0, 1}, Reg.LED: {0, 1},
    Reg.DRIVE_MODE: set(range(0, 16)),
}
_RANGE = {
    Reg.ID: (0, 252), Reg.RETURN_DELAY_TIME: (0, 254), Reg.TEMPERATURE_LIMIT: (0, 100),
    Reg.MAX_VOLTAGE_LIMIT: (31, 70), Reg.MIN_VOLTAGE_LIMIT: (31, 70), Reg.PWM_LIMIT: (0, 885),
    Reg.MAX_POSITION_LIMIT: (0, 4095), Reg.MIN_POSITION_LIMIT: (0, 4095),
    Reg.POSITION_P_GAIN: (0, 16383), Reg.POSITION_I_GAIN: (0, 16383), Reg.POSITION_D_GAIN: (0, 16383),
    Reg.VELOCITY_P_GAIN: (0, 16383), Reg.VELOCITY_I_GAIN: (0, 16383),
}


class EmulatedServo:
    def __init__(self, servo_id: int, model: str, baud_code: int, return_delay: int, backend) -> None:
        self.info = model_info(model)
        self.backend = backend
        self.table = bytearray(CONTROL_TABLE_SIZE)
        self.hardware_error = 0
        self.registered: tuple[int, bytes] | None = None
        self.stuck = False
        self.boot_id = servo_id  # the backend knows the servo by this id, even if ID is rewritten
        self._factory(keep_id=False, keep_baud=False)
        self._set(Reg.ID, servo_id)
        self._set(Reg.BAUD_RATE, baud_code)
        self._set(Reg.RETURN_DELAY_TIME, return_delay)

    # ---- table access ---------------------------------------------------------------
    def get(self, reg: Reg) -> int:
        return int.from_bytes(self.table[reg.address:reg.address + reg.size], "little", signed=reg.signed)

    def _set(self, reg: Reg, value: int) -> None:
        self.table[reg.address:reg.address + reg.size] = (int(value) & ((1 << 8 * reg.size) - 1)).to_bytes(
            reg.size, "little")

    @property
    def servo_id(self) -> int:
        return self.table[Reg.ID.address]

    @property
    def baud(self) -> int:
        return BAUD_CODES[self.table[Reg.BAUD_RATE.address]]

    @property
    def return_delay_s(self) -> float:
        return self.table[Reg.RETURN_DELAY_TIME.address] * 2e-6

    @property
    def status_return_level(self) -> int:
        return self.table[Reg.STATUS_RETURN_LEVEL.address]

    @property
    def torque_on(self) -> bool:
        return bool(self.table[Reg.TORQUE_ENABLE.address])

    @property
    def error_byte(self) -> int:
        return 0x80 if self.hardware_error else 0

    def _factory(self, keep_id: bool, keep_baud: bool) -> None:
        keep = {r: self.get(r) for r, k in ((Reg.ID, keep_id), (Reg.BAUD_RATE, keep_baud)) if k}
        self.table[:] = bytes(CONTROL_TABLE_SIZE)
        self._set(Reg.MODEL_NUMBER, self.info.model_number)
        self._set(Reg.FIRMWARE_VERSION, FIRMWARE_VERSION)
        for reg, value in self.info.defaults.items():
            self._set(reg, value)
        for k in range(INDIRECT_COUNT):
            self.table[INDIRECT_ADDRESS_START + 2 * k:INDIRECT_ADDRESS_START + 2 * k + 2] = \
                (INDIRECT_DATA_START + k).to_bytes(2, "little")
        self._set(Reg.GOAL_POSITION, 2048)
        for reg, value in keep.items():
            self._set(reg, value)
        self.backend.set_torque(self._bid(), False)
        self._push_gains()

    def _push_gains(self) -> None:
        self.backend.set_gains(self._bid(), self.get(Reg.POSITION_P_GAIN), self.get(Reg.POSITION_I_GAIN),
                               self.get(Reg.POSITION_D_GAIN), self.get(Reg.PWM_LIMIT), self.get(Reg.PWM_SLOPE))

    def _bid(self) -> int:
        return self.boot_id

    # ---- sensors --------------------------------------------------------------------
    def refresh(self) -> None:
        """Copy the backend's present values into the table (unless stuck)."""
        if self.stuck:
            return
        pos, vel, cur = self.backend.read(self._bid())
        sign = -1.0 if self.table[Reg.DRIVE_MODE.address] & DriveMode.REVERSE else 1.0
        self._set(Reg.PRESENT_POSITION, int(round(2048 + sign * pos / RAD_PER_TICK)))
        self._set(Reg.PRESENT_VELOCITY, int(round(sign * vel / RAD_S_PER_VELOCITY_UNIT)))
        self._set(Reg.PRESENT_CURRENT, int(round(sign * cur / self.info.amp_per_current_unit)))
        supply = getattr(self.backend, "supply_v", None)
        self._set(Reg.PRESENT_INPUT_VOLTAGE, PRESENT_VOLTAGE if supply is None else int(round(supply * 10)))
        duty_of = getattr(self.backend, "pwm_duty", None)
        if duty_of is not None:
            self._set(Reg.PRESENT_PWM, int(round(sign * duty_of(self._bid()) * 885)))
        self._set(Reg.PRESENT_TEMPERATURE, PRESENT_TEMPERATURE)
        self._set(Reg.HARDWARE_ERROR_STATUS, self.hardware_error)
        self._set(Reg.MOVING, int(abs(vel) > 0.02))

    def set_hardware_error(self, bits: int) -> None:
        """Like the firmware's Shutdown: the error latches and torque drops."""
        self.hardware_error |= bits
        self._set(Reg.HARDWARE_ERROR_STATUS, self.hardware_error)
        self._set(Reg.TORQUE_ENABLE, 0)
        self.backend.set_torque(self._bid(), False)

    # ---- instructions ---------------------------------------------------------------
    def read(self, address: int, length: int) -> tuple[int, bytes]:
        if length < 1 or address + length > CONTROL_TABLE_SIZE:
            return ErrorNumber.ACCESS, b""
        if any(a in _PRESENT for a in range(address, address + length)):
            self.refresh()
        self._set(Reg.HARDWARE_ERROR_STATUS, self.hardware_error)
        self._set(Reg.REGISTERED_INSTRUCTION, int(self.registered is not None))
        return ErrorNumber.NONE, bytes(self.table[address:address + length])

    def check_write(self, address: int, data: bytes) -> int:
        """Error number a write of ``data`` at ``address`` would get (0: fine)."""
        end = address + len(data)
        if not data or end > CONTROL_TABLE_SIZE:
            return ErrorNumber.ACCESS
        a = address
        while a < end:
            if INDIRECT_ADDRESS_START <= a < INDIRECT_DATA_START + INDIRECT_COUNT:
                a += 1
                continue
            reg = _COVER.get(a)
            if reg is None or reg.access is Access.R:
                return ErrorNumber.ACCESS
            if reg.address != a or reg.address + reg.size > end:
                return ErrorNumber.DATA_LENGTH  # a register must be written whole
            if reg.area is Area.EEPROM and self.torque_on:
                return ErrorNumber.ACCESS  # EEPROM is locked while torque is on
            value = int.from_bytes(data[a - address:a - address + reg.size], "little", signed=reg.signed)
            if reg in _VALID and value not in _VALID[reg]:
                return ErrorNumber.DATA_RANGE
            if reg in _RANGE and not _RANGE[reg][0] <= value <= _RANGE[reg][1]:
                return ErrorNumber.DATA_RANGE
            if reg is Reg.GOAL_POSITION and not (
                    self.get(Reg.MIN_POSITION_LIMIT) <= value <= self.get(Reg.MAX_POSITION_LIMIT)):
                return ErrorNumber.DATA_LIMIT
            if reg is Reg.TORQUE_ENABLE and value and self.hardware_error:
                return ErrorNumber.RESULT_FAIL  # cannot re-enable before a reboot
            a += reg.size
        return ErrorNumber.NONE

    def write(self, address: int, data: bytes) -> int:
        err = self.check_write(address, data)
        if err:
            return err
        self.table[address:address + len(data)] = data
        touched = {_COVER.get(a) for a in range(address, address + len(data))}
        if Reg.TORQUE_ENABLE in touched:
            if self.torque_on:
                # Like X-series firmware: enabling torque sets Goal Position to Present
                # Position, so the servo holds where it is instead of jumping.
                self.refresh()
                self._set(Reg.GOAL_POSITION, self.get(Reg.PRESENT_POSITION))
                self.backend.set_torque(self._bid(), True)
            else:
                self.backend.set_torque(self._bid(), False)
        if Reg.GOAL_POSITION in touched or Reg.TORQUE_ENABLE in touched or Reg.DRIVE_MODE in touched:
            sign = -1.0 if self.table[Reg.DRIVE_MODE.address] & DriveMode.REVERSE else 1.0
            self.backend.set_goal(self._bid(), sign * (self.get(Reg.GOAL_POSITION) - 2048) * RAD_PER_TICK)
        if touched & set(_GAIN_REGS):
            self._push_gains()
        return ErrorNumber.NONE

    def reg_write(self, address: int, data: bytes) -> int:
        err = self.check_write(address, data)
        if not err:
            self.registered = (address, bytes(data))
        return err

    def action(self) -> int:
        if self.registered is None:
            return ErrorNumber.INSTRUCTION  # Action without Reg Write
        address, data = self.registered
        self.registered = None
        return self.write(address, data)

    def factory_reset(self, option: int) -> int:
        if option not in (0x01, 0x02, 0xFF):
            return ErrorNumber.DATA_RANGE
        if self.torque_on:
            return ErrorNumber.ACCESS
        self._factory(keep_id=option in (0x01, 0x02), keep_baud=option == 0x02)
        self.registered = None
        return ErrorNumber.NONE

    def reboot(self) -> None:
        """RAM back to defaults, hardware error cleared, torque off; EEPROM kept."""
        eeprom = bytes(self.table[:Reg.TORQUE_ENABLE.address])
        self._factory(keep_id=True, keep_baud=True)
        self.table[:Reg.TORQUE_ENABLE.address] = eeprom
        self._push_gains()  # PWM Limit and Slope live in EEPROM
        self.hardware_error = 0
        self.registered = None

    def faults_cleared(self) -> None:
        """An injected fault went away: X-series firmware keeps the error latched until REBOOT."""
