"""Typed bus errors.

Every failure on the servo bus is one of these, so callers can tell a flaky
wire (retry, mark stale) from a servo that is gone (stop) from a servo that
reports a hardware fault (torque is already off; stop and tell the user).
Messages are one line: the CLI prints ``str(exc)`` as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class BusError(Exception):
    """Base class of everything that can go wrong on the bus."""


class PortOpenError(BusError):
    """The serial port could not be opened (missing device, permissions, bad baud)."""


class BusTimeoutError(BusError):
    """No (complete) status packet arrived within the packet timeout."""


class ServoMissingError(BusTimeoutError):
    """One or more servos did not answer at all. ``ids`` names them."""

    def __init__(self, ids: Sequence[int], detail: str = "") -> None:
        self.ids = tuple(sorted(ids))
        msg = f"servo(s) {list(self.ids)} did not answer"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class CorruptPacketError(BusError):
    """A status packet arrived but was damaged (bad CRC, truncated, wrong ID)."""


class ServoStatusError(BusError):
    """A servo answered with a non-zero error number (instruction, CRC, range, access...)."""

    def __init__(self, servo_id: int, error_name: str) -> None:
        self.servo_id = servo_id
        self.error_name = error_name
        super().__init__(f"servo {servo_id} rejected the instruction: {error_name}")


class ServoHardwareError(BusError):
    """One or more servos raised the alert bit. ``errors`` maps id -> decoded bit names.

    ``state`` optionally carries the data read in the same cycle (it is valid:
    the alert bit does not corrupt the payload), so a caller can still log it.
    """

    def __init__(self, errors: Mapping[int, Sequence[str]], state: object | None = None) -> None:
        self.errors = {int(k): list(v) for k, v in errors.items()}
        self.state = state
        parts = ", ".join(f"{k}: {'+'.join(v) or 'unknown'}" for k, v in sorted(self.errors.items()))
        super().__init__(f"servo hardware error ({parts}); torque is off until reboot")
