"""IMU: frames, mount remap, config validation, BNO055 decoding over a fake transport."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from duck.errors import UserError
from duck.runtime.imu import (
    BNO055_CHIP_ID,
    Bno055,
    ImuError,
    ThreadedImu,
    gravity_from_quat_wxyz,
    imu_config_from_dict,
    load_imu_config,
    parse_mount,
)


def _quat_about(axis: str, angle: float) -> np.ndarray:
    v = {"x": [1, 0, 0], "y": [0, 1, 0], "z": [0, 0, 1]}[axis]
    return np.array([np.cos(angle / 2), *(np.sin(angle / 2) * np.array(v))])


def test_gravity_from_quaternion() -> None:
    assert np.allclose(gravity_from_quat_wxyz([1, 0, 0, 0]), [0, 0, -1])
    # Pitched nose-down by 90° about y: gravity points along body +x... i.e. forward.
    assert np.allclose(gravity_from_quat_wxyz(_quat_about("y", np.pi / 2)), [1, 0, 0], atol=1e-9)
    assert np.allclose(gravity_from_quat_wxyz(_quat_about("x", np.pi / 2)), [0, -1, 0], atol=1e-9)
    with pytest.raises(ImuError):
        gravity_from_quat_wxyz([0, 0, 0, 0])


def test_mount_parsing() -> None:
    assert np.array_equal(parse_mount("x,y,z"), np.eye(3))
    upside_down = parse_mount("x,-y,-z")  # rolled 180° about x
    assert np.allclose(upside_down @ [0, 0, 1], [0, 0, -1])
    for bad in ("x,y", "x,x,z", "x,y,-z", "a,b,c"):
        with pytest.raises(ValueError):
            parse_mount(bad)


def test_config_validation_is_one_line_user_error(tmp_path) -> None:
    cfg = imu_config_from_dict({"imu": {"mount": "-y,x,z", "address": "0x29", "interface": "uart"}})
    assert cfg.address == 0x29 and cfg.interface == "uart"
    assert np.allclose(cfg.mount_matrix @ [1, 0, 0], [0, 1, 0])
    for bad in ({"mount": "x,y,-z"}, {"adress": 0x28}, {"address": 0x30}, {"interface": "spi"}, {"rate_hz": 5}):
        with pytest.raises(UserError) as err:
            imu_config_from_dict(bad)
        assert "\n" not in str(err.value)
    path = tmp_path / "imu.yaml"
    path.write_text("imu:\n  mount: [x, y\n")
    with pytest.raises(UserError, match="bad IMU config"):
        load_imu_config(path)
    with pytest.raises(UserError, match="not found"):
        load_imu_config(tmp_path / "missing.yaml")


class FakeBno:
    """Register-level fake: chip id, mode writes, and a gyro..quaternion burst."""

    def __init__(self, gyro_lsb=(900, 0, -450), quat=(1.0, 0.0, 0.0, 0.0), chip=BNO055_CHIP_ID) -> None:
        self.writes: list[tuple[int, int]] = []
        self.chip = chip
        self.burst = bytearray(20)
        struct.pack_into("<3h", self.burst, 0, *gyro_lsb)
        struct.pack_into("<4h", self.burst, 12, *(int(q * 16384) for q in quat))
        self.fail = False

    def read(self, reg: int, length: int) -> bytes:
        if self.fail:
            raise ImuError("I2C read failed")
        return bytes([self.chip]) if reg == 0x00 else bytes(self.burst[:length])

    def write(self, reg: int, value: int) -> None:
        self.writes.append((reg, value))

    def close(self) -> None:
        pass


def test_bno055_decodes_and_remaps() -> None:
    fake = FakeBno()
    imu = Bno055(imu_config_from_dict({"mount": "x,-y,-z"}), transport=fake)
    imu.open()
    assert (0x3D, 0x08) in fake.writes  # IMU fusion mode, no magnetometer
    s = imu.read()
    assert np.allclose(s.gyro, [1.0, 0.0, 0.5])  # sensor z -0.5 rad/s -> body z +0.5
    assert np.allclose(s.gravity, [0, 0, 1])  # upright sensor mounted upside-down
    with pytest.raises(ImuError, match="not a BNO055"):
        Bno055(imu_config_from_dict({}), transport=FakeBno(chip=0x12)).open()


def test_threaded_imu_goes_stale_on_errors() -> None:
    fake = FakeBno()
    imu = ThreadedImu(Bno055(imu_config_from_dict({}), transport=fake), rate_hz=200)
    imu.open()
    try:
        time.sleep(0.05)
        fresh = imu.read()
        assert time.perf_counter() - fresh.stamp < 0.03
        fake.fail = True
        time.sleep(0.1)
        stale = imu.read()  # last good sample, ageing: the safety watchdog trips on its stamp
        assert time.perf_counter() - stale.stamp > 0.08
        assert imu.last_error
    finally:
        imu.close()
