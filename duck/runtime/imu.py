"""IMU interface, mounting remap and the BNO055 driver (I²C via smbus2, UART optional).

The runtime only sees :class:`ImuSample` in the *body* frame (x forward, y left,
z up): gyro in rad/s and the unit gravity direction ``R_world_to_body @ [0,0,-1]``
(``[0,0,-1]`` when upright). The sensor-to-body mounting rotation comes from the
config (``mount: "x,-y,-z"`` means body x = sensor x, body y = -sensor y, ...),
so an IMU mounted upside-down is a config line, not a code change.

The BNO055 is read in a background thread (:class:`ThreadedImu`): one I²C burst
costs ~0.5-1 ms and clock stretching on the Pi can stall it, which must not
delay a control cycle. The loop takes the latest sample and the safety watchdog
checks its age.
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from duck.errors import UserError
from duck.validation import check_number


class ImuError(RuntimeError):
    """The IMU could not be read (bus error, wrong chip, timeout)."""


class ImuConfigError(UserError):
    """The IMU configuration is invalid."""


@dataclass(frozen=True)
class ImuSample:
    """One IMU reading in the body frame."""

    gyro: np.ndarray  # rad/s
    gravity: np.ndarray  # unit vector
    stamp: float  # time.perf_counter() when it was read
    seq: int  # increments with every new reading; frozen seq = stale sensor


class Imu(Protocol):
    """What the runtime needs from an IMU (real BNO055 or the sim-in-the-loop one)."""

    def open(self) -> None: ...

    def read(self) -> ImuSample:
        """Latest sample; raises :class:`ImuError` if none is available."""
        ...

    def close(self) -> None: ...


# ---- frames -------------------------------------------------------------------------

def gravity_from_quat_wxyz(q: Any) -> np.ndarray:
    """Unit gravity direction in the frame whose world orientation is ``q`` (w, x, y, z)."""
    w, x, y, z = (float(v) for v in q)
    n = w * w + x * x + y * y + z * z
    if not np.isfinite(n) or n < 1e-6:
        raise ImuError(f"invalid orientation quaternion {q}")
    s = 2.0 / n
    # -(R^T e_z) = minus the third row of the rotation matrix.
    g = -np.array([s * (x * z - w * y), s * (y * z + w * x), 1.0 - s * (x * x + y * y)])
    return g / np.linalg.norm(g)


def parse_mount(text: str) -> np.ndarray:
    """``"x,-y,-z"`` -> 3x3 rotation mapping sensor-frame vectors to the body frame."""
    parts = [p.strip().lower() for p in str(text).split(",")]
    if len(parts) != 3:
        raise ValueError(f"mount {text!r} must name 3 axes, e.g. 'x,y,z' or '-y,x,z'")
    m = np.zeros((3, 3))
    for row, part in enumerate(parts):
        sign = -1.0 if part.startswith("-") else 1.0
        axis = part.lstrip("+-")
        if axis not in ("x", "y", "z"):
            raise ValueError(f"mount {text!r}: {part!r} is not one of x, y, z with an optional sign")
        m[row, "xyz".index(axis)] = sign
    if sorted(np.abs(m).argmax(axis=1)) != [0, 1, 2]:
        raise ValueError(f"mount {text!r} must use each of x, y, z exactly once")
    if np.linalg.det(m) < 0:
        # A mirror is not a physical mounting; it is almost always a typo'd sign.
        raise ValueError(f"mount {text!r} is a reflection, not a rotation; flip one more sign")
    return m


# ---- config -------------------------------------------------------------------------

@dataclass(frozen=True)
class ImuConfig:
    """IMU settings; see docs/deploy_pi.md for the file format."""

    driver: str = "bno055"
    interface: str = "i2c"  # or "uart"
    i2c_bus: int = 1
    address: int = 0x28
    uart_port: str = "/dev/serial0"
    mode: str = "imu"  # "imu" (gyro+accel fusion, no magnetometer) or "ndof"
    mount: str = "x,y,z"
    rate_hz: float = 100.0
    mount_matrix: np.ndarray = field(default_factory=lambda: np.eye(3), compare=False)


_INT_KEYS = ("i2c_bus", "address")
_CHOICES = {"driver": ("bno055",), "interface": ("i2c", "uart"), "mode": ("imu", "ndof")}


def imu_config_from_dict(data: Any, source: str = "IMU config") -> ImuConfig:
    """Validate a mapping into :class:`ImuConfig`; any problem is one :class:`ImuConfigError` line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ImuConfigError(f"bad IMU config {source}: expected a mapping, got {type(data).__name__}")
    data = dict(data.get("imu", data)) if isinstance(data.get("imu"), dict) else dict(data)
    known = {f for f in ImuConfig.__dataclass_fields__ if f != "mount_matrix"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ImuConfigError(f"bad IMU config {source}: unknown keys {unknown}; known keys {sorted(known)}")
    try:
        for key in _INT_KEYS:
            if key in data:
                value = data[key]
                if isinstance(value, str):
                    try:
                        value = int(value, 0)
                    except ValueError:
                        raise ValueError(f"{key}: expected an integer, got {value!r}") from None
                # an integer, not 1.5, True or .inf
                data[key] = check_number(key, value, 0, 255, integer=True, error=ValueError)
        if "rate_hz" in data:
            data["rate_hz"] = float(check_number("rate_hz", data["rate_hz"], 10.0, 400.0, error=ValueError))
        for key, choices in _CHOICES.items():
            if key in data and data[key] not in choices:
                raise ValueError(f"{key} {data[key]!r} is not one of {list(choices)}")
        if "address" in data and data["address"] not in (0x28, 0x29):
            raise ValueError(f"address {data['address']:#x} is not a BNO055 address (0x28 or 0x29)")
        matrix = parse_mount(data.get("mount", "x,y,z"))
    except (TypeError, ValueError) as exc:
        raise ImuConfigError(f"bad IMU config {source}: {exc}") from None
    return ImuConfig(**data, mount_matrix=matrix)


def load_imu_config(path: str | Path | None) -> ImuConfig:
    """Read a YAML/JSON IMU config file (``None`` = defaults)."""
    if path is None:
        return imu_config_from_dict({})
    path = Path(path)
    if not path.is_file():
        raise ImuConfigError(f"IMU config not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImuConfigError(f"cannot read IMU config {path}: {exc}") from None
    try:
        import yaml  # YAML is a superset of JSON, so one parser reads both.

        data = yaml.safe_load(text)
    except ImportError:
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImuConfigError(f"bad IMU config {path}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError without importing yaml at module level
        raise ImuConfigError(f"bad IMU config {path}: {str(exc).splitlines()[0]}") from None
    return imu_config_from_dict(data, str(path))


# ---- BNO055 -------------------------------------------------------------------------

class Reg:
    """BNO055 page-0 registers used here (BNO055 datasheet, section 4.2)."""

    CHIP_ID = 0x00
    ACC_DATA = 0x08
    GYR_DATA = 0x14
    QUA_DATA = 0x20
    SYS_STATUS = 0x39
    UNIT_SEL = 0x3B
    OPR_MODE = 0x3D
    PWR_MODE = 0x3E
    SYS_TRIGGER = 0x3F
    PAGE_ID = 0x07


BNO055_CHIP_ID = 0xA0
MODE_CONFIG, MODE_IMU, MODE_NDOF = 0x00, 0x08, 0x0C
GYRO_LSB_PER_RAD_S = 900.0  # with UNIT_SEL gyro in rps
QUAT_LSB = 16384.0


class Transport(Protocol):
    def read(self, reg: int, length: int) -> bytes: ...

    def write(self, reg: int, value: int) -> None: ...

    def close(self) -> None: ...


class I2cTransport:
    """Register access over Linux I²C (smbus2)."""

    def __init__(self, bus: int, address: int) -> None:
        try:
            from smbus2 import SMBus
        except ImportError:
            raise ImuError("smbus2 is not installed: pip install 'open-duck[robot]'") from None
        try:
            self._bus = SMBus(bus)
        except OSError as exc:
            raise ImuError(f"cannot open /dev/i2c-{bus}: {exc.strerror}; enable I2C in raspi-config") from None
        self._address = address

    def read(self, reg: int, length: int) -> bytes:
        try:
            return bytes(self._bus.read_i2c_block_data(self._address, reg, length))
        except OSError as exc:
            raise ImuError(f"I2C read of {length} bytes at {reg:#04x} failed: {exc.strerror}") from None

    def write(self, reg: int, value: int) -> None:
        try:
            self._bus.write_byte_data(self._address, reg, value)
        except OSError as exc:
            raise ImuError(f"I2C write at {reg:#04x} failed: {exc.strerror}") from None

    def close(self) -> None:
        self._bus.close()


class UartTransport:
    """The BNO055's UART register protocol (PS1=1): 0xAA start, 0xBB data, 0xEE status."""

    def __init__(self, port: str, baud: int = 115200, timeout_s: float = 0.05) -> None:
        import serial

        try:
            self._serial = serial.Serial(port, baud, timeout=timeout_s)
        except serial.SerialException as exc:
            raise ImuError(f"cannot open IMU UART {port}: {exc}") from None

    def read(self, reg: int, length: int) -> bytes:
        self._serial.reset_input_buffer()
        self._serial.write(bytes([0xAA, 0x01, reg, length]))
        head = self._serial.read(2)
        if len(head) == 2 and head[0] == 0xBB and head[1] == length:
            data = self._serial.read(length)
            if len(data) == length:
                return data
        raise ImuError(f"UART read at {reg:#04x} failed (reply {head.hex() or 'none'})")

    def write(self, reg: int, value: int) -> None:
        self._serial.reset_input_buffer()
        self._serial.write(bytes([0xAA, 0x00, reg, 1, value]))
        ack = self._serial.read(2)
        if ack != b"\xee\x01":
            raise ImuError(f"UART write at {reg:#04x} not acknowledged (reply {ack.hex() or 'none'})")

    def close(self) -> None:
        self._serial.close()


class Bno055:
    """Blocking BNO055 driver: gyro + fusion quaternion, remapped to the body frame."""

    def __init__(self, config: ImuConfig, transport: Transport | None = None) -> None:
        self.config = config
        self._transport = transport
        self._seq = 0

    def open(self) -> None:
        if self._transport is None:
            if self.config.interface == "i2c":
                self._transport = I2cTransport(self.config.i2c_bus, self.config.address)
            else:
                self._transport = UartTransport(self.config.uart_port)
        t = self._transport
        chip = t.read(Reg.CHIP_ID, 1)[0]
        if chip != BNO055_CHIP_ID:
            raise ImuError(f"device at {self.config.address:#x} is not a BNO055 (chip id {chip:#x})")
        t.write(Reg.OPR_MODE, MODE_CONFIG)
        time.sleep(0.025)  # datasheet: 19 ms to enter CONFIG mode
        t.write(Reg.PAGE_ID, 0)
        t.write(Reg.PWR_MODE, 0x00)  # normal power
        t.write(Reg.UNIT_SEL, 0x06)  # gyro rad/s, Euler rad, accel m/s²
        t.write(Reg.OPR_MODE, MODE_IMU if self.config.mode == "imu" else MODE_NDOF)
        time.sleep(0.01)  # datasheet: 7 ms to leave CONFIG mode

    def read(self) -> ImuSample:
        if self._transport is None:
            raise ImuError("IMU not opened")
        # One burst from GYR_DATA through QUA_DATA (20 bytes) keeps gyro and attitude coherent.
        raw = self._transport.read(Reg.GYR_DATA, 20)
        gx, gy, gz = struct.unpack_from("<3h", raw, 0)
        qw, qx, qy, qz = struct.unpack_from("<4h", raw, Reg.QUA_DATA - Reg.GYR_DATA)
        gyro_sensor = np.array([gx, gy, gz], dtype=np.float64) / GYRO_LSB_PER_RAD_S
        quat = np.array([qw, qx, qy, qz], dtype=np.float64) / QUAT_LSB
        m = self.config.mount_matrix
        self._seq += 1
        return ImuSample(m @ gyro_sensor, m @ gravity_from_quat_wxyz(quat), time.perf_counter(), self._seq)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class ThreadedImu:
    """Polls a blocking IMU in a daemon thread; :meth:`read` returns the latest sample.

    A failed poll keeps the previous sample, so its ``stamp`` ages and the safety
    watchdog trips on staleness instead of the loop blocking on I²C.
    """

    def __init__(self, inner: Any, rate_hz: float = 100.0) -> None:
        self._inner = inner
        self._period = 1.0 / rate_hz
        self._latest: ImuSample | None = None
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        self._inner.open()
        self._latest = self._inner.read()
        self._thread = threading.Thread(target=self._run, name="imu", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_t = time.perf_counter()
        while not self._stop.is_set():
            try:
                self._latest = self._inner.read()
                self._error = None
            except ImuError as exc:
                self._error = str(exc)
            next_t += self._period
            self._stop.wait(max(0.0, next_t - time.perf_counter()))

    def read(self) -> ImuSample:
        if self._latest is None:
            raise ImuError(self._error or "no IMU sample yet")
        return self._latest

    @property
    def last_error(self) -> str | None:
        return self._error

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._inner.close()


def open_imu(config: ImuConfig) -> ThreadedImu:
    """The real robot's IMU as configured (not yet opened)."""
    return ThreadedImu(Bno055(config), config.rate_hz)
