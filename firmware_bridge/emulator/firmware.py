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
    HardwareError,
    OperatingMode,
    Reg,
    model_info,
)
from firmware_bridge.emulator.power import PowerModel
from firmware_bridge.protocol import ErrorNumber

FIRMWARE_VERSION = 52  # >= 46: supports Fast Sync/Bulk Read
# Extended Position Mode: Goal Position -1,048,575 ~ 1,048,575 (e-manual, Goal Position(116)).
EXTENDED_GOAL_RANGE = (-1_048_575, 1_048_575)
# Clear (0x10) parameters for "reset the multi-turn information" (e-manual, Protocol 2.0 Clear).
CLEAR_MULTI_TURN = bytes([0x01, 0x44, 0x58, 0x4C, 0x22])
_GAIN_REGS = (Reg.POSITION_P_GAIN, Reg.POSITION_I_GAIN, Reg.POSITION_D_GAIN, Reg.PWM_LIMIT, Reg.PWM_SLOPE)
REALTIME_TICK_WRAP = 32768  # Realtime Tick counts ms, 0..32767 (e-manual)

# address -> register, for writes/reads that must cover whole registers.
_REG_AT = {r.address: r for r in Reg}
_COVER = {}
for _r in Reg:
    for _a in range(_r.address, _r.address + _r.size):
        _COVER[_a] = _r
_PRESENT = range(Reg.REALTIME_TICK.address, Reg.PRESENT_TEMPERATURE.address + 1)
_PRESENT_SET = set(_PRESENT)
_SUPPLY = set(range(Reg.PRESENT_INPUT_VOLTAGE.address, Reg.PRESENT_TEMPERATURE.address + 1))
_VALID = {
    Reg.BAUD_RATE: set(BAUD_CODES), Reg.OPERATING_MODE: {int(m) for m in OperatingMode},
    Reg.STATUS_RETURN_LEVEL: {0, 1, 2}, Reg.TORQUE_ENABLE: {0, 1}, Reg.LED: {0, 1},
    Reg.DRIVE_MODE: set(range(0, 16)),
}
# Ranges from the X330 control tables (e-manual, XC330-M288-T / XL330-M288-T "Range" column).
# Current Limit's upper end differs by model and comes from ModelInfo.defaults (its factory value).
_RANGE = {
    Reg.ID: (0, 252), Reg.RETURN_DELAY_TIME: (0, 254), Reg.TEMPERATURE_LIMIT: (0, 100),
    Reg.MAX_VOLTAGE_LIMIT: (31, 70), Reg.MIN_VOLTAGE_LIMIT: (31, 70), Reg.PWM_LIMIT: (0, 885),
    Reg.MAX_POSITION_LIMIT: (0, 4095), Reg.MIN_POSITION_LIMIT: (0, 4095),
    Reg.POSITION_P_GAIN: (0, 16383), Reg.POSITION_I_GAIN: (0, 16383), Reg.POSITION_D_GAIN: (0, 16383),
    Reg.VELOCITY_P_GAIN: (0, 16383), Reg.VELOCITY_I_GAIN: (0, 16383),
    Reg.FEEDFORWARD_1ST_GAIN: (0, 16383), Reg.FEEDFORWARD_2ND_GAIN: (0, 16383),
    Reg.HOMING_OFFSET: (-1_044_479, 1_044_479), Reg.MOVING_THRESHOLD: (0, 1023),
    Reg.VELOCITY_LIMIT: (0, 2047), Reg.PROFILE_VELOCITY: (0, 32767),
    # Secondary ID: 0 ~ 252 sets one, 255 (the factory value) switches it off.
    # Bus Watchdog: 0 switches it off, 1 ~ 127 in 20 ms units (255 is the firmware's own error flag).
    # PWM Slope: 1 ~ 255 (0 would never ramp the duty).
    Reg.PWM_SLOPE: (1, 255),
}
_VALID[Reg.SECONDARY_ID] = set(range(0, 253)) | {255}
_VALID[Reg.BUS_WATCHDOG] = set(range(0, 128))
# Goal PWM/Current/Velocity: |goal| <= the matching limit register (Data Limit Error past it).
_GOAL_LIMIT = {Reg.GOAL_PWM: Reg.PWM_LIMIT, Reg.GOAL_CURRENT: Reg.CURRENT_LIMIT, Reg.GOAL_VELOCITY: Reg.VELOCITY_LIMIT}


class EmulatedServo:
    def __init__(self, servo_id: int, model: str, baud_code: int, return_delay: int, backend,
                 power: PowerModel | None = None) -> None:
        self.info = model_info(model)
        self.backend = backend
        self.power = power or PowerModel()
        self.turn_offset = 0  # ticks the Clear instruction took off Present Position (whole turns)
        self.last_current_a = 0.0  # what the supply model sums: the current at the last refresh
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
    def _sign(self) -> float:
        return -1.0 if self.table[Reg.DRIVE_MODE.address] & DriveMode.REVERSE else 1.0

    def _frame_ticks(self) -> int:
        """Present Position = actual position + Homing Offset (e-manual, Homing Offset(20)),
        less the whole turns a Clear instruction removed."""
        return 2048 + self.get(Reg.HOMING_OFFSET) - self.turn_offset

    def refresh(self, supply: bool = False) -> None:
        """Copy the backend's present values into the table (unless stuck). ``supply``: also
        the input voltage and temperature (they need every servo's current: only when read)."""
        if self.stuck:
            return
        pos, vel, cur = self.backend.read(self._bid())
        self.last_current_a = cur if self.torque_on else 0.0
        sign = self._sign()
        self._set(Reg.PRESENT_POSITION, int(round(self._frame_ticks() + sign * pos / RAD_PER_TICK)))
        self._set(Reg.PRESENT_VELOCITY, int(round(sign * vel / RAD_S_PER_VELOCITY_UNIT)))
        self._set(Reg.PRESENT_CURRENT, int(round(sign * cur / self.info.amp_per_current_unit)))
        self._set(Reg.REALTIME_TICK, int(self.backend.clock_s() * 1000.0) % REALTIME_TICK_WRAP)
        duty_of = getattr(self.backend, "pwm_duty", None)
        if duty_of is not None:
            self._set(Reg.PRESENT_PWM, int(round(sign * duty_of(self._bid()) * 885)))
        self._set(Reg.HARDWARE_ERROR_STATUS, self.hardware_error)
        # Moving(122): 1 while |velocity| exceeds Moving Threshold(24) (e-manual).
        self._set(Reg.MOVING, int(abs(vel) / RAD_S_PER_VELOCITY_UNIT > self.get(Reg.MOVING_THRESHOLD)))
        if supply:
            volts = self.power.voltage_v()
            celsius = self.power.temperature_c(self._bid(), self.last_current_a)
            self._set(Reg.PRESENT_INPUT_VOLTAGE, int(round(volts * 10)))
            self._set(Reg.PRESENT_TEMPERATURE, max(0, min(255, int(round(celsius)))))
            self._supply_protection()

    def _supply_protection(self) -> None:
        """Hardware Error Status bits for input voltage and overheating (e-manual, Shutdown(63)):
        the bit is set whenever the condition holds; torque drops only if Shutdown selects it."""
        bits = 0
        volts10 = self.get(Reg.PRESENT_INPUT_VOLTAGE)
        if not self.get(Reg.MIN_VOLTAGE_LIMIT) <= volts10 <= self.get(Reg.MAX_VOLTAGE_LIMIT):
            bits |= HardwareError.INPUT_VOLTAGE
        if self.get(Reg.PRESENT_TEMPERATURE) > self.get(Reg.TEMPERATURE_LIMIT):
            bits |= HardwareError.OVERHEATING
        if bits & self.get(Reg.SHUTDOWN):
            self.set_hardware_error(bits & self.get(Reg.SHUTDOWN))

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
        wanted = set(range(address, address + length))
        indirect = {INDIRECT_DATA_START + k: self._indirect_target(k) for k in range(INDIRECT_COUNT)
                    if INDIRECT_DATA_START + k in wanted}
        wanted |= set(indirect.values())
        if wanted & _PRESENT_SET:
            self.refresh(supply=bool(wanted & _SUPPLY))
        self._set(Reg.HARDWARE_ERROR_STATUS, self.hardware_error)
        self._set(Reg.REGISTERED_INSTRUCTION, int(self.registered is not None))
        out = bytearray(self.table[address:address + length])
        for data_addr, target in indirect.items():
            # Indirect Data k reads the byte at Indirect Address k (e-manual, Indirect Address).
            out[data_addr - address] = self.table[target]
        return ErrorNumber.NONE, bytes(out)

    def _indirect_target(self, k: int) -> int:
        a = INDIRECT_ADDRESS_START + 2 * k
        return int.from_bytes(self.table[a:a + 2], "little")

    def _resolve_indirect(self, address: int, data: bytes) -> list[tuple[int, bytes]] | None:
        """Split a write into (address, bytes) runs with Indirect Data redirected to the
        addresses its entries name; None if the write touches no Indirect Data."""
        end = address + len(data)
        if end <= INDIRECT_DATA_START or address >= INDIRECT_DATA_START + INDIRECT_COUNT:
            return None
        bytes_at: list[tuple[int, int]] = []
        for a in range(address, end):
            k = a - INDIRECT_DATA_START
            target = self._indirect_target(k) if 0 <= k < INDIRECT_COUNT else a
            bytes_at.append((target, data[a - address]))
        runs: list[tuple[int, bytearray]] = []
        for target, byte in bytes_at:
            if runs and runs[-1][0] + len(runs[-1][1]) == target:
                runs[-1][1].append(byte)
            else:
                runs.append((target, bytearray([byte])))
        return [(a, bytes(b)) for a, b in runs]

    def check_write(self, address: int, data: bytes) -> int:
        """Error number a write of ``data`` at ``address`` would get (0: fine)."""
        end = address + len(data)
        if not data or end > CONTROL_TABLE_SIZE:
            return ErrorNumber.ACCESS
        runs = self._resolve_indirect(address, data)
        if runs is not None:
            for run_address, run_data in runs:
                err = self.check_write(run_address, run_data)
                if err:
                    return err
            return ErrorNumber.NONE
        a = address
        while a < end:
            if INDIRECT_ADDRESS_START <= a < INDIRECT_DATA_START:
                # Indirect Address entries: 2 bytes each, written whole, naming 64 ~ 227.
                if (a - INDIRECT_ADDRESS_START) % 2 or a + 2 > end:
                    return ErrorNumber.DATA_LENGTH
                if not Reg.TORQUE_ENABLE.address <= int.from_bytes(data[a - address:a - address + 2], "little") \
                        < CONTROL_TABLE_SIZE:
                    return ErrorNumber.DATA_RANGE
                if self.torque_on:
                    # Like EEPROM, only with torque off (ROBOTIS SDK indirect-address examples: "Indirect
                    # address would not accessible when the torque is already enabled").
                    return ErrorNumber.ACCESS
                a += 2
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
            if reg is Reg.CURRENT_LIMIT and not 0 <= value <= self.info.defaults[Reg.CURRENT_LIMIT]:
                return ErrorNumber.DATA_RANGE
            if reg is Reg.PROFILE_ACCELERATION:
                # Velocity-based profile: 0 ~ 32,767; time-based (Drive Mode bit 2): 0 ~ 32,737 ms.
                top = 32737 if self.table[Reg.DRIVE_MODE.address] & DriveMode.TIME_BASED_PROFILE else 32767
                if not 0 <= value <= top:
                    return ErrorNumber.DATA_RANGE
            if reg in _GOAL_LIMIT and abs(value) > self.get(_GOAL_LIMIT[reg]):
                return ErrorNumber.DATA_LIMIT
            if reg is Reg.GOAL_POSITION:
                if self.get(Reg.OPERATING_MODE) == OperatingMode.EXTENDED_POSITION:
                    if not EXTENDED_GOAL_RANGE[0] <= value <= EXTENDED_GOAL_RANGE[1]:
                        return ErrorNumber.DATA_LIMIT
                elif not self.get(Reg.MIN_POSITION_LIMIT) <= value <= self.get(Reg.MAX_POSITION_LIMIT):
                    return ErrorNumber.DATA_LIMIT
            if reg is Reg.TORQUE_ENABLE and value and self.hardware_error:
                return ErrorNumber.RESULT_FAIL  # cannot re-enable before a reboot
            a += reg.size
        return ErrorNumber.NONE

    def write(self, address: int, data: bytes) -> int:
        err = self.check_write(address, data)
        if err:
            return err
        runs = self._resolve_indirect(address, data)
        if runs is not None:
            for run_address, run_data in runs:
                self.write(run_address, run_data)
            return ErrorNumber.NONE
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
        if touched & {Reg.GOAL_POSITION, Reg.TORQUE_ENABLE, Reg.DRIVE_MODE, Reg.HOMING_OFFSET}:
            self._send_goal()
        if touched & set(_GAIN_REGS):
            self._push_gains()
        return ErrorNumber.NONE

    def _send_goal(self) -> None:
        # Goal Position is in Present Position's frame (Homing Offset and cleared turns included).
        goal_ticks = self.get(Reg.GOAL_POSITION) - self._frame_ticks()
        self.backend.set_goal(self._bid(), self._sign() * goal_ticks * RAD_PER_TICK)

    def clear(self, params: bytes) -> int:
        """Clear (0x10), multi-turn option: Present Position back into one turn, 0 ~ 4,095.

        Only while the servo is not moving (e-manual, Protocol 2.0 Clear); the parameters
        must be the documented 0x01 'D' 'X' 'L' '"'.
        """
        if bytes(params) != CLEAR_MULTI_TURN:
            return ErrorNumber.DATA_RANGE
        self.refresh()
        if self.get(Reg.MOVING):
            return ErrorNumber.RESULT_FAIL
        present = self.get(Reg.PRESENT_POSITION)
        turns = (present // 4096) * 4096
        self.turn_offset += turns
        self._set(Reg.GOAL_POSITION, self.get(Reg.GOAL_POSITION) - turns)
        self.refresh()
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
        self.turn_offset = 0

    def faults_cleared(self) -> None:
        """An injected fault went away: X-series firmware keeps the error latched until REBOOT."""
