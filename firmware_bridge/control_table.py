"""Control tables of the servos on the Open Duck Mini, as data.

Source: ROBOTIS e-manual, XC330-M288-T and XL330-M288-T control tables
(emanual.robotis.com/docs/en/dxl/x/xc330-m288/ and .../xl330-m288/). Both
models share one layout (the X330 family); they differ in model number and in
some defaults (current limit, velocity limit, gains), kept in :data:`MODELS`.

Registers are an enum (:class:`Reg`); each member carries its address, size,
access and area. Unit conversions turn raw register values into SI units so
nothing outside this package sees ticks or 0.229 rpm units.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field


class Access(enum.Enum):
    R = "R"
    RW = "RW"


class Area(enum.Enum):
    EEPROM = "EEPROM"  # persistent; writable only while torque is off
    RAM = "RAM"


class Reg(enum.Enum):
    """X330 control table. Value = (address, size in bytes, access, area)."""

    MODEL_NUMBER = (0, 2, Access.R, Area.EEPROM)
    MODEL_INFORMATION = (2, 4, Access.R, Area.EEPROM)
    FIRMWARE_VERSION = (6, 1, Access.R, Area.EEPROM)
    ID = (7, 1, Access.RW, Area.EEPROM)
    BAUD_RATE = (8, 1, Access.RW, Area.EEPROM)
    RETURN_DELAY_TIME = (9, 1, Access.RW, Area.EEPROM)
    DRIVE_MODE = (10, 1, Access.RW, Area.EEPROM)
    OPERATING_MODE = (11, 1, Access.RW, Area.EEPROM)
    SECONDARY_ID = (12, 1, Access.RW, Area.EEPROM)
    PROTOCOL_TYPE = (13, 1, Access.RW, Area.EEPROM)
    HOMING_OFFSET = (20, 4, Access.RW, Area.EEPROM)
    MOVING_THRESHOLD = (24, 4, Access.RW, Area.EEPROM)
    TEMPERATURE_LIMIT = (31, 1, Access.RW, Area.EEPROM)
    MAX_VOLTAGE_LIMIT = (32, 2, Access.RW, Area.EEPROM)
    MIN_VOLTAGE_LIMIT = (34, 2, Access.RW, Area.EEPROM)
    PWM_LIMIT = (36, 2, Access.RW, Area.EEPROM)
    CURRENT_LIMIT = (38, 2, Access.RW, Area.EEPROM)
    VELOCITY_LIMIT = (44, 4, Access.RW, Area.EEPROM)
    MAX_POSITION_LIMIT = (48, 4, Access.RW, Area.EEPROM)
    MIN_POSITION_LIMIT = (52, 4, Access.RW, Area.EEPROM)
    STARTUP_CONFIGURATION = (60, 1, Access.RW, Area.EEPROM)
    PWM_SLOPE = (62, 1, Access.RW, Area.EEPROM)
    SHUTDOWN = (63, 1, Access.RW, Area.EEPROM)
    TORQUE_ENABLE = (64, 1, Access.RW, Area.RAM)
    LED = (65, 1, Access.RW, Area.RAM)
    STATUS_RETURN_LEVEL = (68, 1, Access.RW, Area.RAM)
    REGISTERED_INSTRUCTION = (69, 1, Access.R, Area.RAM)
    HARDWARE_ERROR_STATUS = (70, 1, Access.R, Area.RAM)
    VELOCITY_I_GAIN = (76, 2, Access.RW, Area.RAM)
    VELOCITY_P_GAIN = (78, 2, Access.RW, Area.RAM)
    POSITION_D_GAIN = (80, 2, Access.RW, Area.RAM)
    POSITION_I_GAIN = (82, 2, Access.RW, Area.RAM)
    POSITION_P_GAIN = (84, 2, Access.RW, Area.RAM)
    FEEDFORWARD_2ND_GAIN = (88, 2, Access.RW, Area.RAM)
    FEEDFORWARD_1ST_GAIN = (90, 2, Access.RW, Area.RAM)
    BUS_WATCHDOG = (98, 1, Access.RW, Area.RAM)
    GOAL_PWM = (100, 2, Access.RW, Area.RAM)
    GOAL_CURRENT = (102, 2, Access.RW, Area.RAM)
    GOAL_VELOCITY = (104, 4, Access.RW, Area.RAM)
    PROFILE_ACCELERATION = (108, 4, Access.RW, Area.RAM)
    PROFILE_VELOCITY = (112, 4, Access.RW, Area.RAM)
    GOAL_POSITION = (116, 4, Access.RW, Area.RAM)
    REALTIME_TICK = (120, 2, Access.R, Area.RAM)
    MOVING = (122, 1, Access.R, Area.RAM)
    MOVING_STATUS = (123, 1, Access.R, Area.RAM)
    PRESENT_PWM = (124, 2, Access.R, Area.RAM)
    PRESENT_CURRENT = (126, 2, Access.R, Area.RAM)
    PRESENT_VELOCITY = (128, 4, Access.R, Area.RAM)
    PRESENT_POSITION = (132, 4, Access.R, Area.RAM)
    VELOCITY_TRAJECTORY = (136, 4, Access.R, Area.RAM)
    POSITION_TRAJECTORY = (140, 4, Access.R, Area.RAM)
    PRESENT_INPUT_VOLTAGE = (144, 2, Access.R, Area.RAM)
    PRESENT_TEMPERATURE = (146, 1, Access.R, Area.RAM)
    BACKUP_READY = (147, 1, Access.R, Area.RAM)

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
    def signed(self) -> bool:
        # Two's-complement registers (the rest are unsigned).
        return self in _SIGNED


_SIGNED = {
    Reg.HOMING_OFFSET, Reg.GOAL_PWM, Reg.GOAL_CURRENT, Reg.GOAL_VELOCITY, Reg.PRESENT_PWM,
    Reg.PRESENT_CURRENT, Reg.PRESENT_VELOCITY, Reg.PRESENT_POSITION, Reg.VELOCITY_TRAJECTORY,
    Reg.POSITION_TRAJECTORY,
}

#: Indirect Address 1..20 (2 bytes each) and Indirect Data 1..20 (1 byte each).
INDIRECT_ADDRESS_START = 168
INDIRECT_DATA_START = 208
INDIRECT_COUNT = 20
CONTROL_TABLE_SIZE = 228

#: The hot-path read block: Present Current(126) .. Present Position(132), 10 bytes,
#: contiguous, so one (Fast) Sync Read returns current, velocity and position.
STATE_BLOCK_START = Reg.PRESENT_CURRENT.address
STATE_BLOCK_SIZE = Reg.PRESENT_POSITION.address + 4 - STATE_BLOCK_START


def by_address(address: int) -> Reg | None:
    for reg in Reg:
        if reg.address == address:
            return reg
    return None


class OperatingMode(enum.IntEnum):
    CURRENT = 0
    VELOCITY = 1
    POSITION = 3
    EXTENDED_POSITION = 4
    CURRENT_BASED_POSITION = 5
    PWM = 16


class DriveMode(enum.IntFlag):
    REVERSE = 0x01  # bit 0: reverse the direction of rotation
    TIME_BASED_PROFILE = 0x04  # bit 2
    TORQUE_ON_BY_GOAL_UPDATE = 0x08  # bit 3


class HardwareError(enum.IntFlag):
    """Hardware Error Status (70) bits. Any of them turns torque off (Shutdown register)."""

    INPUT_VOLTAGE = 0x01
    OVERHEATING = 0x04
    MOTOR_ENCODER = 0x08
    ELECTRICAL_SHOCK = 0x10
    OVERLOAD = 0x20


def decode_hardware_error(value: int) -> list[str]:
    """Names of the set bits, e.g. ``0x24 -> ['overheating', 'overload']``."""
    names = [bit.name.lower() for bit in HardwareError if value & bit]
    unknown = value & ~sum(int(b) for b in HardwareError) & 0xFF
    if unknown:
        names.append(f"unknown_0x{unknown:02x}")
    return names


#: Baud Rate (8) register value <-> bits per second.
BAUD_CODES = {0: 9_600, 1: 57_600, 2: 115_200, 3: 1_000_000, 4: 2_000_000, 5: 3_000_000, 6: 4_000_000}
BAUD_TO_CODE = {v: k for k, v in BAUD_CODES.items()}
STANDARD_BAUDS = tuple(BAUD_CODES.values())


def baud_code(baud: int) -> int:
    try:
        return BAUD_TO_CODE[int(baud)]
    except KeyError:
        raise ValueError(f"baud {baud} is not a Dynamixel X baud; use one of {list(STANDARD_BAUDS)}") from None


# ---- unit conversions ------------------------------------------------------------------
TICKS_PER_REV = 4096
RAD_PER_TICK = 2.0 * math.pi / TICKS_PER_REV
RPM_PER_VELOCITY_UNIT = 0.229  # Present/Goal Velocity unit
RAD_S_PER_VELOCITY_UNIT = RPM_PER_VELOCITY_UNIT * 2.0 * math.pi / 60.0
VOLT_PER_UNIT = 0.1  # Present Input Voltage, voltage limits
RETURN_DELAY_S_PER_UNIT = 2e-6  # Return Delay Time: 2 us per unit


def velocity_to_rad_s(raw: int | float) -> float:
    return raw * RAD_S_PER_VELOCITY_UNIT


def rad_s_to_velocity(rad_s: float) -> int:
    return int(round(rad_s / RAD_S_PER_VELOCITY_UNIT))


def voltage_to_v(raw: int) -> float:
    return raw * VOLT_PER_UNIT


@dataclass(frozen=True)
class ModelInfo:
    """What differs between the two servo models."""

    name: str
    model_number: int
    amp_per_current_unit: float  # Present Current unit (1.0 mA on both)
    min_fast_sync_firmware: int  # Fast Sync/Bulk Read: X330 firmware v46 or above (e-manual)
    defaults: dict[Reg, int] = field(default_factory=dict)

    def current_to_a(self, raw: int | float) -> float:
        return raw * self.amp_per_current_unit


def _x330_defaults(**overrides: int) -> dict[Reg, int]:
    base = {
        Reg.ID: 1, Reg.BAUD_RATE: 1, Reg.RETURN_DELAY_TIME: 250, Reg.DRIVE_MODE: 0,
        Reg.OPERATING_MODE: int(OperatingMode.POSITION), Reg.SECONDARY_ID: 255, Reg.PROTOCOL_TYPE: 2,
        Reg.HOMING_OFFSET: 0, Reg.MOVING_THRESHOLD: 10, Reg.TEMPERATURE_LIMIT: 70, Reg.MAX_VOLTAGE_LIMIT: 70,
        Reg.MIN_VOLTAGE_LIMIT: 35, Reg.PWM_LIMIT: 885, Reg.MAX_POSITION_LIMIT: 4095, Reg.MIN_POSITION_LIMIT: 0,
        Reg.STARTUP_CONFIGURATION: 0, Reg.PWM_SLOPE: 140, Reg.TORQUE_ENABLE: 0, Reg.LED: 0,
        Reg.STATUS_RETURN_LEVEL: 2, Reg.VELOCITY_I_GAIN: 1600, Reg.POSITION_I_GAIN: 0,
        Reg.FEEDFORWARD_2ND_GAIN: 0, Reg.FEEDFORWARD_1ST_GAIN: 0, Reg.BUS_WATCHDOG: 0,
        Reg.PROFILE_ACCELERATION: 0, Reg.PROFILE_VELOCITY: 0,
    }
    base.update({Reg[k]: v for k, v in overrides.items()})
    return base


MODELS: dict[str, ModelInfo] = {
    "XC330-M288-T": ModelInfo(
        "XC330-M288-T", 1240, 1e-3, 46,
        _x330_defaults(CURRENT_LIMIT=2352, VELOCITY_LIMIT=350, SHUTDOWN=52, VELOCITY_P_GAIN=50,
                       POSITION_D_GAIN=500, POSITION_P_GAIN=1100),
    ),
    "XL330-M288-T": ModelInfo(
        "XL330-M288-T", 1200, 1e-3, 46,
        _x330_defaults(CURRENT_LIMIT=1750, VELOCITY_LIMIT=445, SHUTDOWN=53, VELOCITY_P_GAIN=180,
                       POSITION_D_GAIN=0, POSITION_P_GAIN=400),
    ),
}
MODEL_BY_NUMBER = {m.model_number: m for m in MODELS.values()}


def model_info(model: str) -> ModelInfo:
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(f"unknown servo model {model!r}; known: {sorted(MODELS)}") from None


def to_unsigned(value: int, size: int) -> int:
    return int(value) & ((1 << (8 * size)) - 1)


def to_signed(value: int, size: int) -> int:
    bits = 8 * size
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value
