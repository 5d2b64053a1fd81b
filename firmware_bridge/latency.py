"""USB-serial latency timer check (Linux).

FTDI adapters (the U2D2 is one) hold received bytes for up to the latency
timer, 16 ms by default, before handing them to the host. Every status packet
then costs up to 16 ms. The fix is 1 ms, through sysfs or a udev rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SYSFS = Path("/sys/bus/usb-serial/devices")
UDEV_RULE = 'ACTION=="add", SUBSYSTEM=="usb-serial", DRIVER=="ftdi_sio", ATTR{latency_timer}="1"'


@dataclass(frozen=True)
class LatencyCheck:
    port: str
    device: str  # e.g. "ttyUSB0"
    latency_ms: int | None  # None: not a USB-serial device (pty, ACM, not Linux)

    @property
    def ok(self) -> bool:
        return self.latency_ms is None or self.latency_ms <= 1

    def fix(self) -> str:
        """The exact commands that set it to 1 ms, now and on every plug-in."""
        return (
            f"echo 1 | sudo tee {SYSFS}/{self.device}/latency_timer  "
            f"(permanent: add the udev rule '{UDEV_RULE}' to /etc/udev/rules.d/99-dynamixel.rules)"
        )

    def warning(self) -> str | None:
        if self.ok:
            return None
        return (f"{self.port}: USB latency timer is {self.latency_ms} ms (should be 1 ms); "
                f"every servo reply waits that long. Fix: {self.fix()}")


def check_latency_timer(port: str, sysfs: Path = SYSFS) -> LatencyCheck:
    """Read the latency timer of the USB-serial device behind ``port`` (follows symlinks)."""
    device = os.path.basename(os.path.realpath(port))
    path = Path(sysfs) / device / "latency_timer"
    try:
        value: int | None = int(path.read_text().strip())
    except (OSError, ValueError):
        value = None
    return LatencyCheck(port=port, device=device, latency_ms=value)
