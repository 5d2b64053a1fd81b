"""Find the U2D2 (FTDI FT232H, USB 0403:6014) serial port when ``--port`` is omitted."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from duck.errors import UserError

U2D2_VID_PID = (0x0403, 0x6014)


@dataclass(frozen=True)
class SerialPortInfo:
    device: str
    vid: int | None
    pid: int | None
    description: str = ""

    def label(self) -> str:
        ids = f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid is not None else "no USB id"
        return f"{self.device} ({ids}{', ' + self.description if self.description else ''})"


def list_serial_ports() -> list[SerialPortInfo]:
    """All serial ports pyserial can see."""
    try:
        from serial.tools import list_ports
    except ImportError:
        raise UserError("pyserial is not installed: pip install 'open-duck[robot]'") from None
    return [SerialPortInfo(p.device, p.vid, p.pid, p.description or "") for p in list_ports.comports()]


def find_u2d2(ports: Iterable[SerialPortInfo] | None = None,
              lister: Callable[[], list[SerialPortInfo]] = list_serial_ports) -> str:
    """The one U2D2 port; a :class:`UserError` listing what was seen if there is none or several."""
    seen = list(ports) if ports is not None else lister()
    matches = [p for p in seen if (p.vid, p.pid) == U2D2_VID_PID]
    if len(matches) == 1:
        return matches[0].device
    listing = "; ".join(p.label() for p in seen) or "none"
    if not matches:
        raise UserError(f"no U2D2 (USB 0403:6014) found; serial ports seen: {listing}. Plug it in or pass --port")
    raise UserError(f"several U2D2 adapters found ({listing}); choose one with --port")
