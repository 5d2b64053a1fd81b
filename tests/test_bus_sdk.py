"""The real dynamixel_sdk, and DynamixelBus on top of it, against the software servo's pty."""

from __future__ import annotations

import time

import dynamixel_sdk as sdk
import numpy as np
import pytest
from servo_fixtures import IDS, specs

from firmware_bridge import DynamixelBus, ServoCalibration, ServoStatusError
from firmware_bridge.control_table import Reg
from firmware_bridge.emulator import IdealBackend, SoftwareServo

BAUD = 1_000_000


@pytest.fixture(scope="module")
def emu():
    with SoftwareServo(specs(), IdealBackend(tau_s=0.01), baud=BAUD) as e:
        yield e


@pytest.fixture()
def port(emu):
    handler = sdk.PortHandler(emu.path)
    handler.baudrate = BAUD
    assert handler.openPort()
    yield handler
    handler.closePort()


PH = sdk.PacketHandler(2.0)


def test_sdk_ping_every_servo(port):
    for i in IDS:
        model, result, error = PH.ping(port, i)
        assert result == sdk.COMM_SUCCESS and error == 0
        assert model == (1200 if i >= 30 else 1240)


def test_sdk_read_write_single_registers(port, emu):
    assert PH.read4ByteTxRx(port, 10, Reg.PRESENT_POSITION.address) == (2048, sdk.COMM_SUCCESS, 0)
    assert PH.read1ByteTxRx(port, 31, Reg.FIRMWARE_VERSION.address)[0] >= 46
    assert PH.write2ByteTxRx(port, 12, Reg.POSITION_P_GAIN.address, 640) == (sdk.COMM_SUCCESS, 0)
    assert PH.read2ByteTxRx(port, 12, Reg.POSITION_P_GAIN.address)[0] == 640
    # Read-only register and partial register writes are refused with the right error number.
    assert PH.write4ByteTxRx(port, 12, Reg.PRESENT_POSITION.address, 5) == (sdk.COMM_SUCCESS, 7)
    assert PH.write1ByteTxRx(port, 12, Reg.GOAL_POSITION.address, 5) == (sdk.COMM_SUCCESS, 5)
    assert PH.write1ByteTxRx(port, 12, Reg.OPERATING_MODE.address, 2) == (sdk.COMM_SUCCESS, 4)
    assert PH.write2ByteTxRx(port, 12, Reg.POSITION_P_GAIN.address, 1100) == (sdk.COMM_SUCCESS, 0)


def test_sdk_sync_write_then_sync_and_fast_sync_read_13_servos(port):
    goals = {i: 1000 + 150 * k for k, i in enumerate(IDS)}
    torque = sdk.GroupSyncWrite(port, PH, Reg.TORQUE_ENABLE.address, 1)
    write = sdk.GroupSyncWrite(port, PH, Reg.GOAL_POSITION.address, 4)
    for i in IDS:
        torque.addParam(i, [1])
        write.addParam(i, list(goals[i].to_bytes(4, "little")))
    assert torque.txPacket() == sdk.COMM_SUCCESS
    assert write.txPacket() == sdk.COMM_SUCCESS
    time.sleep(0.15)  # 15 time constants of the ideal servo
    read = sdk.GroupSyncRead(port, PH, Reg.GOAL_POSITION.address, 4)
    for i in IDS:
        read.addParam(i)
    assert read.txRxPacket() == sdk.COMM_SUCCESS
    assert {i: read.getData(i, Reg.GOAL_POSITION.address, 4) for i in IDS} == goals
    pos = sdk.GroupSyncRead(port, PH, Reg.PRESENT_POSITION.address, 4)
    for i in IDS:
        pos.addParam(i)
    assert pos.fastSyncRead() == sdk.COMM_SUCCESS
    got = {i: pos.getData(i, Reg.PRESENT_POSITION.address, 4) for i in IDS}
    assert all(abs(got[i] - goals[i]) <= 1 for i in IDS), got
    torque_off = sdk.GroupSyncWrite(port, PH, Reg.TORQUE_ENABLE.address, 1)
    for i in IDS:
        torque_off.addParam(i, [0])
    assert torque_off.txPacket() == sdk.COMM_SUCCESS


def test_sdk_bulk_read_13_servos(port):
    bulk = sdk.GroupBulkRead(port, PH)
    regs = [Reg.PRESENT_INPUT_VOLTAGE, Reg.PRESENT_TEMPERATURE, Reg.MODEL_NUMBER]
    for k, i in enumerate(IDS):
        r = regs[k % 3]
        assert bulk.addParam(i, r.address, r.size)
    assert bulk.txRxPacket() == sdk.COMM_SUCCESS
    for k, i in enumerate(IDS):
        r = regs[k % 3]
        expected = {Reg.PRESENT_INPUT_VOLTAGE: 50, Reg.PRESENT_TEMPERATURE: 35,
                    Reg.MODEL_NUMBER: 1200 if i >= 30 else 1240}[r]
        assert bulk.getData(i, r.address, r.size) == expected


def test_sdk_bulk_write_and_reg_write_action(port):
    bw = sdk.GroupBulkWrite(port, PH)
    bw.addParam(20, Reg.LED.address, 1, [1])
    bw.addParam(21, Reg.PROFILE_VELOCITY.address, 4, list((77).to_bytes(4, "little")))
    assert bw.txPacket() == sdk.COMM_SUCCESS
    assert PH.read1ByteTxRx(port, 20, Reg.LED.address)[0] == 1
    assert PH.read4ByteTxRx(port, 21, Reg.PROFILE_VELOCITY.address)[0] == 77
    assert PH.regWriteTxRx(port, 22, Reg.LED.address, 1, [1]) == (sdk.COMM_SUCCESS, 0)
    assert PH.read1ByteTxRx(port, 22, Reg.REGISTERED_INSTRUCTION.address)[0] == 1
    assert PH.read1ByteTxRx(port, 22, Reg.LED.address)[0] == 0  # not yet
    assert PH.action(port, 22) == sdk.COMM_SUCCESS
    # The SDK sends ACTION without reading the servo's status reply; drop that reply so the
    # next read does not race with it (the same holds on hardware).
    time.sleep(0.01)
    port.clearPort()
    assert PH.read1ByteTxRx(port, 22, Reg.LED.address)[0] == 1
    assert PH.action(port, 23) == sdk.COMM_SUCCESS  # the SDK does not wait for Action's status
    time.sleep(0.01)
    port.clearPort()


def test_eeprom_locked_while_torque_on_and_factory_reset(port):
    assert PH.write1ByteTxRx(port, 24, Reg.TORQUE_ENABLE.address, 1) == (sdk.COMM_SUCCESS, 0)
    assert PH.write1ByteTxRx(port, 24, Reg.RETURN_DELAY_TIME.address, 3) == (sdk.COMM_SUCCESS, 7)
    assert PH.factoryReset(port, 24, 0x02)[1] == 7
    assert PH.write1ByteTxRx(port, 24, Reg.TORQUE_ENABLE.address, 0) == (sdk.COMM_SUCCESS, 0)
    assert PH.write1ByteTxRx(port, 24, Reg.RETURN_DELAY_TIME.address, 3) == (sdk.COMM_SUCCESS, 0)
    assert PH.factoryReset(port, 24, 0x02) == (sdk.COMM_SUCCESS, 0)  # keeps id and baud
    assert PH.read1ByteTxRx(port, 24, Reg.RETURN_DELAY_TIME.address)[0] == 250
    assert PH.write1ByteTxRx(port, 24, Reg.RETURN_DELAY_TIME.address, 0) == (sdk.COMM_SUCCESS, 0)


def test_status_return_level_and_return_delay(port):
    assert PH.write1ByteTxRx(port, 30, Reg.STATUS_RETURN_LEVEL.address, 1) == (sdk.COMM_SUCCESS, 0)
    # Level 1: reads answer, writes do not (the SDK then times out).
    assert PH.write1ByteTxRx(port, 30, Reg.LED.address, 1)[0] == sdk.COMM_RX_TIMEOUT
    assert PH.read1ByteTxRx(port, 30, Reg.LED.address)[:2] == (1, sdk.COMM_SUCCESS)
    assert PH.ping(port, 30)[1] == sdk.COMM_SUCCESS  # ping always answers
    PH.write1ByteTxOnly(port, 30, Reg.STATUS_RETURN_LEVEL.address, 2)
    time.sleep(0.01)
    # Return Delay Time 250 = 500 us: a read takes that much longer. The fastest of many
    # reads is the one the machine did not disturb, so compare minima, not medians.
    def fastest_read(n=30):
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            assert PH.read1ByteTxRx(port, 31, Reg.LED.address)[1] == sdk.COMM_SUCCESS
            ts.append(time.perf_counter() - t)
        return min(ts)
    fast = fastest_read()
    assert PH.write1ByteTxRx(port, 31, Reg.RETURN_DELAY_TIME.address, 250) == (sdk.COMM_SUCCESS, 0)
    slow = fastest_read()
    assert PH.write1ByteTxRx(port, 31, Reg.RETURN_DELAY_TIME.address, 0) == (sdk.COMM_SUCCESS, 0)
    assert 0.0003 < slow - fast < 0.0015, (fast, slow)  # 0.5 ms nominal


def test_wrong_baud_gets_no_answer(emu):
    handler = sdk.PortHandler(emu.path)
    handler.baudrate = 57_600
    assert handler.openPort()
    try:
        assert PH.ping(handler, 10)[1] == sdk.COMM_RX_TIMEOUT
    finally:
        handler.closePort()


def test_bus_read_state_write_goals_in_si_units():
    emu = SoftwareServo(specs(), IdealBackend(tau_s=0.01), baud=BAUD).__enter__()
    try:
        _check_bus_si_units(emu)
    finally:
        emu.stop()


def _check_bus_si_units(emu):
    cal = {11: ServoCalibration(zero_ticks=2148, direction=-1)}
    with DynamixelBus(emu.path, BAUD, specs(), calibration=cal, slack_ms=5.0) as bus:
        assert bus.ping_all() == {i: (1200 if i >= 30 else 1240) for i in IDS}
        state = bus.read_state()
        assert not state.stale and state.error is None
        expected = np.zeros(len(IDS))
        expected[1] = -(2048 - 2148) * 2 * np.pi / 4096  # servo at 2048, zero at 2148, reversed
        np.testing.assert_allclose(state.position_rad, expected, atol=1e-9)
        goal = np.linspace(-0.5, 0.5, len(IDS))
        with bus.torque_enabled():
            assert emu.servo(10).torque_on
            bus.write_goal_positions(goal)
            time.sleep(0.15)
            state = bus.read_state()
            np.testing.assert_allclose(state.position_rad, goal, atol=2 * np.pi / 4096)
            assert np.all(np.abs(state.velocity_rad_s) < 0.2)
            # The servo's own register holds calibrated ticks.
            assert emu.servo(11).get(Reg.GOAL_POSITION) == int(round(2148 - goal[1] * 4096 / (2 * np.pi)))
            bus.set_position_p_gain(300)
            assert emu.servo(32).get(Reg.POSITION_P_GAIN) == 300
        assert not emu.servo(10).torque_on
        assert bus.read_hardware_errors() == {i: [] for i in IDS}
        with pytest.raises(ServoStatusError, match="access"):
            bus.write_register(10, Reg.MODEL_NUMBER, 1)
        bus.set_position_p_gain(1100)


def test_bus_uses_fast_sync_read_and_plain_sync_read(emu):
    for fast in (True, False):
        with DynamixelBus(emu.path, BAUD, specs(), fast_sync_read=fast, slack_ms=5.0) as bus:
            before = emu.stats["replies"]
            state = bus.read_state()
            assert not state.stale
            replies = emu.stats["replies"] - before
            assert replies == (1 if fast else len(IDS))  # Fast Sync Read: one status packet


def test_mujoco_backend_servos_are_the_model_actuators():
    pytest.importorskip("mujoco")
    from duck.contract import CONTRACT
    from duck.sim.servo_backend import MujocoServoBackend

    backend = MujocoServoBackend()
    with SoftwareServo(specs(), backend, baud=BAUD) as emu, \
            DynamixelBus(emu.path, BAUD, specs(), slack_ms=5.0) as bus:
        s = bus.read_state()  # the sim starts in the home keyframe
        np.testing.assert_allclose(s.position_rad, CONTRACT.home, atol=0.05)
        with bus.torque_enabled():
            target = CONTRACT.home.copy()
            target[CONTRACT.joint_names.index("head_yaw")] = 0.4
            bus.write_goal_positions(target)
            time.sleep(0.6)  # physics runs in real time in its own thread
            s = bus.read_state()
            assert abs(s.position_rad[CONTRACT.joint_names.index("head_yaw")] - 0.4) < 0.05
        quat, gyro, accel = backend.imu_reading()
        assert quat.shape == (4,) and gyro.shape == (3,) and abs(np.linalg.norm(accel) - 9.81) < 3.0
        assert backend.base_position().shape == (3,) and backend.sim_time_s > 0.5


def test_latency_timer_check_warns_with_the_fix(tmp_path):
    from firmware_bridge.latency import check_latency_timer

    sysfs = tmp_path / "sys"
    (sysfs / "ttyUSB0").mkdir(parents=True)
    (sysfs / "ttyUSB0" / "latency_timer").write_text("16\n")
    dev = tmp_path / "ttyUSB0"
    dev.write_text("")
    link = tmp_path / "u2d2"
    link.symlink_to(dev)  # /dev/serial/by-id/... style symlink
    check = check_latency_timer(str(link), sysfs=sysfs)
    assert check.latency_ms == 16 and not check.ok
    warning = check.warning()
    assert "16 ms" in warning and "echo 1 | sudo tee" in warning and 'ATTR{latency_timer}="1"' in warning
    (sysfs / "ttyUSB0" / "latency_timer").write_text("1\n")
    assert check_latency_timer(str(link), sysfs=sysfs).warning() is None
    assert check_latency_timer("/dev/pts/0", sysfs=sysfs).latency_ms is None  # not USB: nothing to check
