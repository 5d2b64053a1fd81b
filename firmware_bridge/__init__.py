"""firmware_bridge: everything that talks to servo firmware (Dynamixel and Feetech).

It knows servo IDs, models and SI units; it knows nothing about joints,
policies or the robot (it never imports :mod:`duck`).

- :mod:`.families`: model -> family (bus class, software servo, SDK) as data; :func:`make_bus`
- :mod:`.control_table`: X330 registers as enums, unit conversions, error bits
- :mod:`.protocol`: Protocol 2.0 CRC, byte stuffing, packet build/parse
- :mod:`.bus`: :class:`DynamixelBus`, the per-cycle bus on ``dynamixel_sdk``
- :mod:`.provision`: scan / setup / monitor helpers (not the hot path)
- :mod:`.feetech`: the Feetech STS family: control table, protocol, :class:`FeetechBus`, provisioning
- :mod:`.emulator`: the software servos (both families) on a pty
- :mod:`.servo_model`: the servo model, firmware registers -> joint torque, parameter sets per model

A bare ``import firmware_bridge`` loads neither vendor SDK; opening a bus does.
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
from firmware_bridge.families import family_of, make_bus
from firmware_bridge.spec import BusState, ServoCalibration, ServoSpec


def __getattr__(name: str):
    # The buses pull in their vendor SDK and pyserial; load them only when asked for.
    if name == "DynamixelBus":
        from firmware_bridge.bus import DynamixelBus

        return DynamixelBus
    if name == "FeetechBus":
        from firmware_bridge.feetech.bus import FeetechBus

        return FeetechBus
    raise AttributeError(name)


__all__ = [
    "BusError", "BusState", "BusTimeoutError", "CorruptPacketError", "DynamixelBus", "FeetechBus", "PortOpenError",
    "ServoCalibration", "ServoHardwareError", "ServoMissingError", "ServoSpec", "ServoStatusError",
    "family_of", "make_bus",
]
