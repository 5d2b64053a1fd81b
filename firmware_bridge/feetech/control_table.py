"""STS3215 control table (Feetech "magnetic encoder STS" memory table), as data.

Sources (numbers carried over, text not):
- Feetech memory table, "Magnetic encoder STS servo - memory table analysis"
  (wiki.juxitech.com / wiki.aifitlab.com mirrors of the Feetech document): addresses,
  sizes, access, EEPROM/SRAM areas, baud codes 0..7, Phase and Status bits.
- The official SDK (``scservo_sdk``, ``sms_sts.py``): the same addresses and baud codes.
- Sign-magnitude registers (sign bit 15 for speeds and positions, bit 11 for the
  offset, bit 10 for the load): Feetech memory table; the same bits in LeRobot's
  Feetech tables (an independent reading of the same document).

Every value crossing :mod:`firmware_bridge.feetech` is SI; raw registers stay here.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from firmware_bridge.control_table import Access, Area


class Reg(enum.Enum):
    """STS control table. Value = (address, size, access, area, sign bit or None)."""

    FIRMWARE_MAJOR = (0, 1, Access.R, Area.EEPROM, None)
    FIRMWARE_MINOR = (1, 1, Access.R, Area.EEPROM, None)
    MODEL_NUMBER = (3, 2, Access.R, Area.EEPROM, None)  # servo major (3) + minor (4) version
    ID = (5, 1, Access.RW, Area.EEPROM, None)
    BAUD_RATE = (6, 1, Access.RW, Area.EEPROM, None)
    RETURN_DELAY = (7, 1, Access.RW, Area.EEPROM, None)  # 2 us units
    STATUS_RETURN_LEVEL = (8, 1, Access.RW, Area.EEPROM, None)  # 0: only READ/PING answer
    MIN_ANGLE_LIMIT = (9, 2, Access.RW, Area.EEPROM, None)
    MAX_ANGLE_LIMIT = (11, 2, Access.RW, Area.EEPROM, None)
    MAX_TEMPERATURE = (13, 1, Access.RW, Area.EEPROM, None)
    MAX_VOLTAGE = (14, 1, Access.RW, Area.EEPROM, None)  # 0.1 V
    MIN_VOLTAGE = (15, 1, Access.RW, Area.EEPROM, None)  # 0.1 V
    MAX_TORQUE = (16, 2, Access.RW, Area.EEPROM, None)  # 0.1 % of stall
    PHASE = (18, 1, Access.RW, Area.EEPROM, None)
    UNLOAD_CONDITION = (19, 1, Access.RW, Area.EEPROM, None)  # Status bits that drop torque
    LED_ALARM_CONDITION = (20, 1, Access.RW, Area.EEPROM, None)
    P_COEFFICIENT = (21, 1, Access.RW, Area.EEPROM, None)
    D_COEFFICIENT = (22, 1, Access.RW, Area.EEPROM, None)
    I_COEFFICIENT = (23, 1, Access.RW, Area.EEPROM, None)
    MIN_STARTUP_FORCE = (24, 2, Access.RW, Area.EEPROM, None)
    CW_DEAD_ZONE = (26, 1, Access.RW, Area.EEPROM, None)
    CCW_DEAD_ZONE = (27, 1, Access.RW, Area.EEPROM, None)
    PROTECTION_CURRENT = (28, 2, Access.RW, Area.EEPROM, None)
    ANGULAR_RESOLUTION = (30, 1, Access.RW, Area.EEPROM, None)
    OFFSET = (31, 2, Access.RW, Area.EEPROM, 11)  # "position correction", -2047..2047
    OPERATING_MODE = (33, 1, Access.RW, Area.EEPROM, None)
    PROTECTIVE_TORQUE = (34, 1, Access.RW, Area.EEPROM, None)
    PROTECTION_TIME = (35, 1, Access.RW, Area.EEPROM, None)
    OVERLOAD_TORQUE = (36, 1, Access.RW, Area.EEPROM, None)
    SPEED_P_COEFFICIENT = (37, 1, Access.RW, Area.EEPROM, None)
    OVERCURRENT_TIME = (38, 1, Access.RW, Area.EEPROM, None)
    SPEED_I_COEFFICIENT = (39, 1, Access.RW, Area.EEPROM, None)
    TORQUE_ENABLE = (40, 1, Access.RW, Area.RAM, None)  # 0 off, 1 on, 128: "this is 2048"
    ACCELERATION = (41, 1, Access.RW, Area.RAM, None)
    GOAL_POSITION = (42, 2, Access.RW, Area.RAM, 15)
    GOAL_TIME = (44, 2, Access.RW, Area.RAM, None)
    GOAL_SPEED = (46, 2, Access.RW, Area.RAM, 15)
    TORQUE_LIMIT = (48, 2, Access.RW, Area.RAM, None)
    LOCK = (55, 1, Access.RW, Area.RAM, None)  # 1: EEPROM writes are not saved
    PRESENT_POSITION = (56, 2, Access.R, Area.RAM, 15)
    PRESENT_SPEED = (58, 2, Access.R, Area.RAM, 15)
    PRESENT_LOAD = (60, 2, Access.R, Area.RAM, 10)  # 0.1 % of stall, direction in bit 10
    PRESENT_VOLTAGE = (62, 1, Access.R, Area.RAM, None)
    PRESENT_TEMPERATURE = (63, 1, Access.R, Area.RAM, None)
    ASYNC_WRITE_FLAG = (64, 1, Access.R, Area.RAM, None)  # a REG WRITE waits for ACTION
    STATUS = (65, 1, Access.R, Area.RAM, None)
    MOVING = (66, 1, Access.R, Area.RAM, None)
    PRESENT_CURRENT = (69, 2, Access.R, Area.RAM, None)  # 6.5 mA

    @property
    def address(self) -> int:
        return self.value[0]

    @property
    def size(self) -> int:
        return self.value[1]

    @property
    def access(self) -> Access:
        return self.value[2]

    @property
    def area(self) -> Area:
        return self.value[3]

    @property
    def sign_bit(self) -> int | None:
        return self.value[4]

    def decode(self, raw: int) -> int:
        """Raw register value -> signed integer (sign-magnitude where the register uses it)."""
        return from_sign_magnitude(raw, self.sign_bit) if self.sign_bit is not None else int(raw)

    def encode(self, value: int) -> int:
        """Signed integer -> raw register value; ValueError if it does not fit."""
        if self.sign_bit is not None:
            return to_sign_magnitude(value, self.sign_bit)
        value = int(value)
        if not 0 <= value < 1 << (8 * self.size):
            raise ValueError(f"{self.name} takes 0..{(1 << 8 * self.size) - 1}, got {value}")
        return value


#: First SRAM address: everything below is EEPROM (saved only while Lock is 0).
EEPROM_END = Reg.TORQUE_ENABLE.address
CONTROL_TABLE_SIZE = 87  # up to the factory area (80..86), which we never write

#: The hot-path read block: Present Position(56), Present Speed(58), Present Load(60).
STATE_BLOCK_START = Reg.PRESENT_POSITION.address
STATE_BLOCK_SIZE = Reg.PRESENT_LOAD.address + 2 - STATE_BLOCK_START


def to_sign_magnitude(value: int, sign_bit: int) -> int:
    """``-5`` with sign bit 15 -> ``0x8005``. Raises ValueError if the magnitude does not fit."""
    value = int(value)
    if abs(value) >= 1 << sign_bit:
        raise ValueError(f"{value} does not fit a sign-magnitude field with sign bit {sign_bit}")
    return (1 << sign_bit) | -value if value < 0 else value


def from_sign_magnitude(raw: int, sign_bit: int) -> int:
    """``0x8005`` with sign bit 15 -> ``-5`` (bits above the sign bit are ignored)."""
    magnitude = int(raw) & ((1 << sign_bit) - 1)
    return -magnitude if int(raw) >> sign_bit & 1 else magnitude


class Status(enum.IntFlag):
    """Status (65) and the error byte of every status packet: 0 = fine.

    The error byte carries these same bits (the SDK's ERRBIT_*); Feetech firmware
    has no instruction/range error numbers like Dynamixel's, and no alert bit.
    """

    VOLTAGE = 0x01
    SENSOR = 0x02  # magnetic encoder
    OVERHEATING = 0x04
    OVERCURRENT = 0x08
    OVERLOAD = 0x20


def decode_status(value: int) -> list[str]:
    names = [bit.name.lower() for bit in Status if value & bit]
    unknown = value & ~sum(int(b) for b in Status) & 0xFF
    if unknown:
        names.append(f"unknown_0x{unknown:02x}")
    return names


class OperatingMode(enum.IntEnum):
    POSITION = 0
    SPEED = 1  # wheel
    PWM = 2  # open loop
    STEP = 3


#: Baud Rate (6) code -> bits per second (Feetech memory table; sms_sts.py SMS_STS_*).
BAUD_CODES = {0: 1_000_000, 1: 500_000, 2: 250_000, 3: 128_000, 4: 115_200, 5: 76_800, 6: 57_600, 7: 38_400}
BAUD_TO_CODE = {v: k for k, v in BAUD_CODES.items()}
STANDARD_BAUDS = tuple(BAUD_CODES.values())


def baud_code(baud: int) -> int:
    try:
        return BAUD_TO_CODE[int(baud)]
    except KeyError:
        raise ValueError(f"baud {baud} is not a Feetech STS baud; use one of {list(STANDARD_BAUDS)}") from None


# ---- unit conversions ------------------------------------------------------------------
TICKS_PER_REV = 4096
RAD_PER_TICK = 2.0 * math.pi / TICKS_PER_REV
RAD_S_PER_SPEED_UNIT = RAD_PER_TICK  # speed unit: 1 step/s (0.0146 rpm)
LOAD_PER_UNIT = 1e-3  # Present Load: 0.1 % of stall torque -> fraction
AMP_PER_CURRENT_UNIT = 6.5e-3  # Present Current: 6.5 mA
VOLT_PER_UNIT = 0.1
RETURN_DELAY_S_PER_UNIT = 2e-6
OFFSET_LIMIT = 2047  # |Offset| (sign bit 11)


@dataclass(frozen=True)
class Variant:
    """One STS servo a user may plug in. ``model_number`` is what address 3..4 reports.

    The STS3215 variants share model number 777 (LeRobot's table; FT SCServo Debug
    shows "9.3" at addresses 3..4): the firmware does not report the gear ratio.
    It does carry the voltage class in its factory Max Voltage limit (a 7.4 V servo
    alarms at 12 V, LeRobot #1010), which is how :func:`identify` tells them apart.
    """

    name: str
    model_number: int
    rated_v: float
    gear_ratio: int | None
    stall_torque_nm: float
    source: str
    # Factory Max/Min Voltage limits (0.1 V). Assumed, not read off a real servo: a
    # 7.4 V servo must not alarm on upstream's 8.4 V pack yet alarms at 12 V.
    max_voltage_raw: int = 90
    min_voltage_raw: int = 40

    @property
    def voltage_class(self) -> str:
        return "12V" if self.rated_v > 10 else "7.4V"


_KGCM = 9.80665e-2  # N*m per kg*cm
_FEETECH = "Feetech sales listing (SO-ARM100 parallel-gripper issue #5, 2026-03)"
VARIANTS: dict[str, Variant] = {
    v.name: v for v in (
        Variant("STS3215-C001", 777, 7.4, 345, 19.5 * _KGCM, _FEETECH + "; FACTS.md: upstream v2's servo"),
        Variant("STS3215-C044", 777, 7.4, 191, 22.0 * _KGCM, _FEETECH),
        Variant("STS3215-C046", 777, 7.4, 147, 14.0 * _KGCM, _FEETECH + "; the fast 'HS' choice"),
        Variant("STS3215-C018", 777, 12.0, 345, 30.0 * _KGCM, _FEETECH, max_voltage_raw=140, min_voltage_raw=60),
        Variant("STS3250", 2825, 12.0, None, 50.0 * _KGCM, "LeRobot MODEL_NUMBER_TABLE; Feetech listing (50 kg*cm)",
                max_voltage_raw=140, min_voltage_raw=60),
    )
}
#: The servo model's names for the 1:345 parameter sets (firmware_bridge.servo_model, BAM's
#: identification) name the variant they were identified on.
_ALIASES = {"STS3215": "STS3215-C001", "STS3215-7.4V": "STS3215-C001", "STS3215-12V": "STS3215-C018"}
#: Model names a contract may use: a variant, or one of :data:`_ALIASES`.
MODEL_FAMILY = {**{a: VARIANTS[v].model_number for a, v in _ALIASES.items()},
                **{name: v.model_number for name, v in VARIANTS.items()}}
MODEL_NAMES = {777: "STS3215", 2825: "STS3250"}


def model_number(model: str) -> int:
    try:
        return MODEL_FAMILY[model]
    except KeyError:
        raise ValueError(f"unknown Feetech servo model {model!r}; known: {sorted(MODEL_FAMILY)}") from None


def variant(model: str) -> Variant:
    """The variant a model name stands for ("STS3215" and "STS3215-7.4V" mean the C001 upstream
    uses; "STS3215-12V" the C018)."""
    return VARIANTS[_ALIASES.get(model, model)]


@dataclass(frozen=True)
class Identity:
    """What a scan learns from one servo's registers."""

    model_number: int
    firmware: tuple[int, int]
    max_voltage_raw: int | None = None

    @property
    def model(self) -> str:
        return MODEL_NAMES.get(self.model_number, f"unknown({self.model_number})")

    @property
    def firmware_text(self) -> str:
        return f"{self.firmware[0]}.{self.firmware[1]}"

    @property
    def candidates(self) -> list[Variant]:
        """Variants consistent with what the servo reports (voltage class from Max Voltage)."""
        out = [v for v in VARIANTS.values() if v.model_number == self.model_number]
        if self.max_voltage_raw is not None:
            twelve = self.max_voltage_raw > 120  # above 12 V: the servo takes a 12 V supply
            out = [v for v in out if (v.rated_v > 10) == twelve]
        return out

    @property
    def variant_text(self) -> str:
        c = self.candidates
        if not c:
            return "-"
        if len(c) == 1:
            return c[0].name
        gears = "/".join(f"1:{v.gear_ratio}" for v in c if v.gear_ratio)
        return f"{c[0].voltage_class} class: {' or '.join(v.name for v in c)} (gear {gears} not reported)"


def identify(model_num: int, firmware: tuple[int, int], max_voltage_raw: int | None = None) -> Identity:
    return Identity(int(model_num), (int(firmware[0]), int(firmware[1])), max_voltage_raw)


def defaults(v: Variant) -> dict[Reg, int]:
    """Factory values of a variant, as the software servo starts.

    Documented (Feetech memory table "initial value" column): ID 1, baud code 0
    (1 Mbps), status return level 1, angle limits 0..4095, max temperature 70 C,
    max torque 1000, Lock 1. Upstream (FACTS.md): P 32. LeRobot's SO-100 guide
    reads D 32, I 0 off new servos. The rest are the emulator's choices, marked
    ``assumed``: they only matter to the software servo, never to the bus code.
    """
    documented = {
        Reg.ID: 1, Reg.BAUD_RATE: 0, Reg.STATUS_RETURN_LEVEL: 1, Reg.MIN_ANGLE_LIMIT: 0,
        Reg.MAX_ANGLE_LIMIT: 4095, Reg.MAX_TEMPERATURE: 70, Reg.MAX_TORQUE: 1000, Reg.LOCK: 1,
        Reg.P_COEFFICIENT: 32, Reg.D_COEFFICIENT: 32, Reg.I_COEFFICIENT: 0, Reg.OFFSET: 0,
        Reg.OPERATING_MODE: int(OperatingMode.POSITION), Reg.TORQUE_ENABLE: 0, Reg.TORQUE_LIMIT: 1000,
    }
    assumed = {
        Reg.RETURN_DELAY: 0, Reg.MAX_VOLTAGE: v.max_voltage_raw, Reg.MIN_VOLTAGE: v.min_voltage_raw,
        Reg.UNLOAD_CONDITION: int(Status.VOLTAGE | Status.OVERHEATING | Status.OVERCURRENT | Status.OVERLOAD),
        Reg.LED_ALARM_CONDITION: int(Status.VOLTAGE | Status.OVERHEATING | Status.OVERCURRENT | Status.OVERLOAD),
        Reg.ANGULAR_RESOLUTION: 1, Reg.ACCELERATION: 0, Reg.GOAL_TIME: 0, Reg.GOAL_SPEED: 0,
    }
    return {**assumed, **documented}
