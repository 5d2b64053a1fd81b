"""firmware_bridge: everything that talks to Dynamixel servo firmware.

It knows servo IDs, models and SI units; it knows nothing about joints,
policies or the robot (it never imports :mod:`duck`).

- :mod:`.control_table`: X330 registers as enums, unit conversions, error bits
- :mod:`.protocol`: Protocol 2.0 CRC, byte stuffing, packet build/parse
- :mod:`.bus`: :class:`DynamixelBus`, the per-cycle bus on ``dynamixel_sdk``
- :mod:`.provision`: scan / setup / monitor helpers (not the hot path)
- :mod:`.emulator`: the software servo on a pty
- :mod:`.servo_model`: the servo model, firmware registers -> joint torque, parameter sets per model
"""

from firmware_bridge.errors import (
    BusError,
    BusTimeoutError,
    CorruptPacketError,
    PortOpenError,
    ServoHardwareError,
    ServoMissingError,
    ServoStatusError,
)
from firmware_bridge.spec import BusState, ServoCalibration, ServoSpec


def __getattr__(name: str):
    # The bus pulls in dynamixel_sdk/pyserial; load it only when asked for.
    if name == "DynamixelBus":
        from firmware_bridge.bus import DynamixelBus

        return DynamixelBus
    raise AttributeError(name)


__all__ = [
    "BusError", "BusState", "BusTimeoutError", "CorruptPacketError", "DynamixelBus", "PortOpenError",
    "ServoCalibration", "ServoHardwareError", "ServoMissingError", "ServoSpec", "ServoStatusError",
]
