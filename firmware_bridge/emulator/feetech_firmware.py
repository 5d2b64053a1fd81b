"""One emulated Feetech STS3215: its memory table and how it reacts to instructions.

No I/O here (:mod:`.feetech_server` does framing, timing and the pty). What it
models, and where it differs from the X330 next door (:mod:`.firmware`):

- EEPROM (addresses < 40) is written live whatever the torque, but is *saved*
  only while Lock (55) is 0; :meth:`power_cycle` reloads the saved copy. The
  firmware does not refuse EEPROM writes with torque on (a Dynamixel does).
- Present Position = encoder - Offset (31, sign-magnitude bit 11), wrapped to
  0..4095; Goal Position is in the same frame, so a written offset shows in the
  present position at once, as on the real servo.
- Torque Enable 1 drives to whatever Goal Position holds (no "hold here" as on
  an X330); at power-up Goal = Present. Writing 128 makes "here" 2048 by
  setting the offset.
- A hardware fault sets Status (65) bits, which every status packet carries
  as its error byte; bits in Unload Condition (19) drop torque. The bits clear
  when the condition does: there is no REBOOT instruction and no latch.
- Bad checksums, unknown instructions and broadcast reads get no reply at all.
"""

from __future__ import annotations

from firmware_bridge.emulator.backend import ServoBackend
from firmware_bridge.feetech.control_table import (
    AMP_PER_CURRENT_UNIT,
    BAUD_CODES,
    CONTROL_TABLE_SIZE,
    EEPROM_END,
    OFFSET_LIMIT,
    RAD_PER_TICK,
    RAD_S_PER_SPEED_UNIT,
    TICKS_PER_REV,
    Access,
    Reg,
    defaults,
    to_sign_magnitude,
    variant,
)

FIRMWARE_VERSION = (3, 10)  # what LeRobot requires (LeRobot #1010: 3.9 fails, 3.10 works)
PRESENT_VOLTAGE = 74  # 7.4 V, a 2S pack (a backend with a ``supply_v`` attribute overrides it)
PRESENT_TEMPERATURE = 35
#: Stall current the emulator maps Present Load against (assumed, emulator only).
STALL_CURRENT_A = 2.7

_COVER: dict[int, Reg] = {}
for _r in Reg:
    for _a in range(_r.address, _r.address + _r.size):
        _COVER[_a] = _r
_PRESENT = range(Reg.PRESENT_POSITION.address, Reg.PRESENT_CURRENT.address + 2)


class EmulatedSTS:
    def __init__(self, servo_id: int, model: str, baud_code: int, return_delay: int,
                 backend: ServoBackend) -> None:
        self.variant = variant(model)
        self.backend = backend
        self.boot_id = servo_id  # the backend knows the servo by this id, even if ID is rewritten
        self.status_bits = 0
        self.stuck = False
        self.registered: tuple[int, bytes] | None = None
        self.table = bytearray(CONTROL_TABLE_SIZE)
        self._set(Reg.FIRMWARE_MAJOR, FIRMWARE_VERSION[0])
        self._set(Reg.FIRMWARE_MINOR, FIRMWARE_VERSION[1])
        self._set(Reg.MODEL_NUMBER, self.variant.model_number)
        for reg, value in defaults(self.variant).items():
            self._set(reg, reg.encode(value))
        self._set(Reg.ID, servo_id)
        self._set(Reg.BAUD_RATE, baud_code)
        self._set(Reg.RETURN_DELAY, return_delay)
        self.flash = bytes(self.table[:EEPROM_END])  # what survives a power cycle
        self._power_on()

    # ---- table access ---------------------------------------------------------------
    def raw(self, reg: Reg) -> int:
        return int.from_bytes(self.table[reg.address:reg.address + reg.size], "little")

    def get(self, reg: Reg) -> int:
        return reg.decode(self.raw(reg))

    def _set(self, reg: Reg, raw: int) -> None:
        self.table[reg.address:reg.address + reg.size] = (int(raw) & ((1 << 8 * reg.size) - 1)).to_bytes(
            reg.size, "little")

    @property
    def servo_id(self) -> int:
        return self.table[Reg.ID.address]

    @property
    def baud(self) -> int:
        return BAUD_CODES.get(self.table[Reg.BAUD_RATE.address], 0)

    @property
    def return_delay_s(self) -> float:
        return self.table[Reg.RETURN_DELAY.address] * 2e-6

    @property
    def status_return_level(self) -> int:
        return self.table[Reg.STATUS_RETURN_LEVEL.address]

    @property
    def torque_on(self) -> bool:
        return self.table[Reg.TORQUE_ENABLE.address] == 1

    @property
    def error_byte(self) -> int:
        return self.status_bits

    # ---- encoder frame <-> register frame --------------------------------------------
    def _encoder_ticks(self) -> float:
        pos, _, _ = self.backend.read(self.boot_id)
        return 2048 + pos / RAD_PER_TICK

    def _push_goal(self) -> None:
        encoder_goal = self.get(Reg.GOAL_POSITION) + self.get(Reg.OFFSET)
        self.backend.set_goal(self.boot_id, (encoder_goal - 2048) * RAD_PER_TICK)

    def _power_on(self) -> None:
        """SRAM to defaults, EEPROM from flash, torque off, Goal = Present."""
        self.table[:EEPROM_END] = self.flash
        for reg, value in defaults(self.variant).items():
            if reg.address >= EEPROM_END:
                self._set(reg, reg.encode(value))
        self.backend.set_torque(self.boot_id, False)
        self.refresh()
        self._set(Reg.GOAL_POSITION, self.raw(Reg.PRESENT_POSITION))
        self.registered = None

    def power_cycle(self) -> None:
        """Switch the servo off and on: unsaved EEPROM writes are lost."""
        self._power_on()

    # ---- sensors --------------------------------------------------------------------
    def refresh(self) -> None:
        """Copy the backend's present values into the table (unless stuck)."""
        if self.stuck:
            return
        pos, vel, cur = self.backend.read(self.boot_id)
        present = round(2048 + pos / RAD_PER_TICK - self.get(Reg.OFFSET)) % TICKS_PER_REV
        speed = max(-32767, min(32767, round(vel / RAD_S_PER_SPEED_UNIT)))
        load = max(-1000, min(1000, round(1000 * cur / STALL_CURRENT_A))) if self.torque_on else 0
        self._set(Reg.PRESENT_POSITION, present)
        self._set(Reg.PRESENT_SPEED, to_sign_magnitude(speed, 15))
        self._set(Reg.PRESENT_LOAD, to_sign_magnitude(load, 10))
        self._set(Reg.PRESENT_CURRENT, min(32767, round(abs(cur) / AMP_PER_CURRENT_UNIT)))
        supply = getattr(self.backend, "supply_v", None)  # the servo model's emulated battery
        self._set(Reg.PRESENT_VOLTAGE, PRESENT_VOLTAGE if supply is None else int(round(supply * 10)))
        self._set(Reg.PRESENT_TEMPERATURE, PRESENT_TEMPERATURE)
        self._set(Reg.STATUS, self.status_bits)
        self._set(Reg.MOVING, int(abs(vel) > 0.02))
        self._set(Reg.ASYNC_WRITE_FLAG, int(self.registered is not None))

    def set_hardware_error(self, bits: int) -> None:
        """A fault condition: Status bits set; those in Unload Condition drop torque."""
        self.status_bits |= bits
        if bits & self.raw(Reg.UNLOAD_CONDITION):
            self._set(Reg.TORQUE_ENABLE, 0)
            self.backend.set_torque(self.boot_id, False)
        self._set(Reg.STATUS, self.status_bits)

    def faults_cleared(self) -> None:
        self.status_bits = 0
        self._set(Reg.STATUS, 0)

    # ---- instructions ---------------------------------------------------------------
    def read(self, address: int, length: int) -> bytes:
        if any(a in _PRESENT for a in range(address, address + length)):
            self.refresh()
        self._set(Reg.STATUS, self.status_bits)
        self._set(Reg.ASYNC_WRITE_FLAG, int(self.registered is not None))
        # Past the end of the table the firmware returns zeros (factory area not modelled).
        return bytes(self.table[address:address + length]).ljust(length, b"\0")

    def write(self, address: int, data: bytes) -> None:
        """Apply a write. Read-only bytes are skipped; partial multi-byte writes land
        byte by byte, as the firmware's flat memory does."""
        touched: set[Reg] = set()
        for k, byte in enumerate(data):
            a = address + k
            reg = _COVER.get(a)
            if reg is None or reg.access is Access.R:
                continue
            self.table[a] = byte
            touched.add(reg)
        if Reg.OFFSET in touched:
            offset = self.get(Reg.OFFSET)
            if abs(offset) > OFFSET_LIMIT:  # the firmware keeps it in range
                self._set(Reg.OFFSET, to_sign_magnitude(max(-OFFSET_LIMIT, min(OFFSET_LIMIT, offset)), 11))
        if Reg.TORQUE_ENABLE in touched:
            self._torque_written(self.table[Reg.TORQUE_ENABLE.address])
        if touched & {Reg.GOAL_POSITION, Reg.OFFSET, Reg.TORQUE_ENABLE}:
            self._push_goal()
        if Reg.P_COEFFICIENT in touched:
            self.backend.set_p_gain(self.boot_id, self.raw(Reg.P_COEFFICIENT))
        if any(r.address < EEPROM_END for r in touched) and self.raw(Reg.LOCK) == 0:
            self.flash = bytes(self.table[:EEPROM_END])

    def _torque_written(self, value: int) -> None:
        if value == 128:  # "the present position is 2048": offset = encoder - 2048
            encoder = round(self._encoder_ticks()) % TICKS_PER_REV
            offset = max(-OFFSET_LIMIT, min(OFFSET_LIMIT, encoder - 2048))
            self._set(Reg.OFFSET, to_sign_magnitude(offset, 11))
            self._set(Reg.TORQUE_ENABLE, 0)
            self.backend.set_torque(self.boot_id, False)
            self.refresh()
            self._set(Reg.GOAL_POSITION, self.raw(Reg.PRESENT_POSITION))
            if self.raw(Reg.LOCK) == 0:
                self.flash = bytes(self.table[:EEPROM_END])
            return
        on = value == 1 and not (self.status_bits & self.raw(Reg.UNLOAD_CONDITION))
        self._set(Reg.TORQUE_ENABLE, int(on))
        self.backend.set_torque(self.boot_id, on)

    def reg_write(self, address: int, data: bytes) -> None:
        self.registered = (address, bytes(data))

    def action(self) -> None:
        if self.registered is not None:
            address, data = self.registered
            self.registered = None
            self.write(address, data)
