"""U2D2 auto-detection by USB VID:PID."""

from __future__ import annotations

import pytest

from duck.errors import UserError
from duck.runtime.port import SerialPortInfo, find_u2d2


def test_finds_the_u2d2() -> None:
    ports = [SerialPortInfo("/dev/ttyAMA0", None, None), SerialPortInfo("/dev/ttyUSB0", 0x0403, 0x6014, "U2D2")]
    assert find_u2d2(ports) == "/dev/ttyUSB0"


def test_no_u2d2_lists_ports_seen() -> None:
    ports = [SerialPortInfo("/dev/ttyAMA0", None, None), SerialPortInfo("/dev/ttyACM0", 0x2341, 0x0043, "Arduino")]
    with pytest.raises(UserError) as err:
        find_u2d2(ports)
    msg = str(err.value)
    assert "/dev/ttyAMA0" in msg and "2341:0043" in msg and "--port" in msg and "\n" not in msg
    with pytest.raises(UserError, match="seen: none"):
        find_u2d2([])
    two = [SerialPortInfo("/dev/ttyUSB0", 0x0403, 0x6014), SerialPortInfo("/dev/ttyUSB1", 0x0403, 0x6014)]
    with pytest.raises(UserError, match="several"):
        find_u2d2(two)
