"""A byte-accurate software Dynamixel bus on a pseudo-terminal (see :mod:`.server`)."""

from firmware_bridge.emulator.backend import IdealBackend, ServoBackend, ThreadedBackend
from firmware_bridge.emulator.faults import Fault, FaultKind
from firmware_bridge.emulator.firmware import EmulatedServo
from firmware_bridge.emulator.server import SoftwareServo

__all__ = ["EmulatedServo", "Fault", "FaultKind", "IdealBackend", "ServoBackend", "SoftwareServo", "ThreadedBackend"]
