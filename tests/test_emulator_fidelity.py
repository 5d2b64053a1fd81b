"""The software servo against the X330 e-manual, byte by byte through the real dynamixel-sdk.

Each test is one gap an independent review found (issue 24): Indirect Address/Data,
Extended Position multi-turn goals and the Clear instruction, Homing Offset in
Present Position, out-of-range writes, Sync Read at Status Return Level 0, and the
supply/heat model the health monitor is tested against.
"""

from __future__ import annotations

import time

import dynamixel_sdk as sdk
import pytest

from firmware_bridge import ServoSpec
from firmware_bridge.control_table import HardwareError, OperatingMode, Reg
from firmware_bridge.emulator import Fault, FaultKind, IdealBackend, SoftwareServo
from firmware_bridge.emulator.power import AMBIENT_C
from firmware_bridge.protocol import ErrorNumber

BAUD = 1_000_000
XC, XL = 10, 30
PH = sdk.PacketHandler(2.0)


@pytest.fixture()
def emu():
    with SoftwareServo([ServoSpec(XC, "XC330-M288-T"), ServoSpec(XL, "XL330-M288-T")],
                       IdealBackend(tau_s=0.005), baud=BAUD) as e:
        yield e


@pytest.fixture()
def port(emu):
    handler = sdk.PortHandler(emu.path)
    handler.baudrate = BAUD
    assert handler.openPort()
    yield handler
    handler.closePort()


def call(fn, *args):
    """One SDK request, repeated until a clean reply: a busy test machine can delay the software
    servo's thread past the SDK's timeout (every request here is idempotent)."""
    for _ in range(5):
        out = fn(*args)
        result = out[0] if len(out) == 2 else out[1]
        if result == sdk.COMM_SUCCESS:  # a timeout, or a late reply to the previous request: again
            return out
        time.sleep(0.02)
        args[0].clearPort()
    return out


def w(port, sid, reg: Reg, value: int) -> int:
    """Write a whole register; returns the status packet's error number (or -1: no reply)."""
    fn = {1: PH.write1ByteTxRx, 2: PH.write2ByteTxRx, 4: PH.write4ByteTxRx}[reg.size]
    result, error = call(fn, port, sid, reg.address, value & ((1 << 8 * reg.size) - 1))
    return error if result == sdk.COMM_SUCCESS else -1


def r(port, sid, reg: Reg) -> int:
    fn = {1: PH.read1ByteTxRx, 2: PH.read2ByteTxRx, 4: PH.read4ByteTxRx}[reg.size]
    value, result, error = call(fn, port, sid, reg.address)
    assert result == sdk.COMM_SUCCESS and error == 0, (result, error)
    bits = 8 * reg.size
    return value - (1 << bits) if reg.signed and value >> (bits - 1) else value


def test_indirect_data_follows_indirect_address(port, emu):
    emu.backend.set_position(XC, 0.5)  # 2048 + 0.5 rad = 2374 ticks
    # Indirect Address 1..4 -> Present Position (132..135), 5 -> LED (65).
    for k, target in enumerate([132, 133, 134, 135, 65]):
        assert call(PH.write2ByteTxRx, port, XC, 168 + 2 * k, target) == (sdk.COMM_SUCCESS, 0)
    data, result, error = call(PH.readTxRx, port, XC, 208, 4)
    assert result == sdk.COMM_SUCCESS and error == 0
    assert int.from_bytes(bytes(data), "little") == r(port, XC, Reg.PRESENT_POSITION) == 2374
    # Writing Indirect Data 5 writes the LED.
    assert call(PH.write1ByteTxRx, port, XC, 212, 1) == (sdk.COMM_SUCCESS, 0)
    assert r(port, XC, Reg.LED) == 1
    # Through the indirect entries, the target's own rules apply: Present Position is read-only.
    assert call(PH.write4ByteTxRx, port, XC, 208, 5) == (sdk.COMM_SUCCESS, ErrorNumber.ACCESS)
    # An Indirect Address must name 64 ~ 227.
    assert call(PH.write2ByteTxRx, port, XC, 168, 10) == (sdk.COMM_SUCCESS, ErrorNumber.DATA_RANGE)
    assert call(PH.write2ByteTxRx, port, XC, 168, 228) == (sdk.COMM_SUCCESS, ErrorNumber.DATA_RANGE)
    # Indirect Address entries, like EEPROM, only change with torque off; Indirect Data still works.
    assert w(port, XC, Reg.TORQUE_ENABLE, 1) == 0
    assert call(PH.write2ByteTxRx, port, XC, 168, 65) == (sdk.COMM_SUCCESS, ErrorNumber.ACCESS)
    assert call(PH.write1ByteTxRx, port, XC, 212, 0) == (sdk.COMM_SUCCESS, 0)
    assert r(port, XC, Reg.LED) == 0


def test_extended_position_takes_multi_turn_goals_and_clear_resets_the_turns(port, emu):
    # Position mode: a goal past Max Position Limit is a Data Limit Error.
    assert w(port, XC, Reg.TORQUE_ENABLE, 1) == 0
    assert w(port, XC, Reg.GOAL_POSITION, 10_000) == ErrorNumber.DATA_LIMIT
    assert w(port, XC, Reg.TORQUE_ENABLE, 0) == 0
    assert w(port, XC, Reg.OPERATING_MODE, int(OperatingMode.EXTENDED_POSITION)) == 0
    assert w(port, XC, Reg.TORQUE_ENABLE, 1) == 0
    assert w(port, XC, Reg.GOAL_POSITION, 10_000) == 0  # 2.4 turns
    assert w(port, XC, Reg.GOAL_POSITION, 1_048_576) == ErrorNumber.DATA_LIMIT
    time.sleep(0.1)
    assert abs(r(port, XC, Reg.PRESENT_POSITION) - 10_000) <= 1
    # Clear (0x10): the multi-turn count goes, Present Position is back within one turn.
    assert call(PH.clearMultiTurn, port, XC) == (sdk.COMM_SUCCESS, 0)
    present = r(port, XC, Reg.PRESENT_POSITION)
    assert abs(present - 10_000 % 4096) <= 1
    # ... and the servo did not move: its goal moved with the frame.
    assert abs(r(port, XC, Reg.GOAL_POSITION) - 10_000 % 4096) <= 1
    time.sleep(0.05)
    assert abs(r(port, XC, Reg.PRESENT_POSITION) - present) <= 1
    # Clear with other parameters than 0x01 'D' 'X' 'L' '"' is refused.
    pkt = [0xFF, 0xFF, 0xFD, 0x00, XC, 8, 0, 0x10, 0x01, 0, 0, 0, 0, 0, 0]
    status, result, error = call(PH.txRxPacket, port, pkt)
    assert result == sdk.COMM_SUCCESS and error == ErrorNumber.DATA_RANGE


def test_clear_while_moving_fails(port, emu):
    emu.backend.tau_s = 5.0  # a slow servo: still moving when Clear arrives
    assert w(port, XC, Reg.OPERATING_MODE, int(OperatingMode.EXTENDED_POSITION)) == 0
    assert w(port, XC, Reg.TORQUE_ENABLE, 1) == 0
    assert w(port, XC, Reg.GOAL_POSITION, 40_000) == 0
    time.sleep(0.02)
    assert call(PH.clearMultiTurn, port, XC) == (sdk.COMM_SUCCESS, ErrorNumber.RESULT_FAIL)


def test_homing_offset_is_applied_to_present_position(port, emu):
    emu.backend.set_position(XC, 0.0)
    assert r(port, XC, Reg.PRESENT_POSITION) == 2048
    assert w(port, XC, Reg.HOMING_OFFSET, -1024) == 0
    assert r(port, XC, Reg.PRESENT_POSITION) == 1024  # Present = actual + Homing Offset
    # Goal Position lives in the same frame: holding 1024 keeps the joint where it is.
    assert w(port, XC, Reg.TORQUE_ENABLE, 1) == 0
    assert r(port, XC, Reg.GOAL_POSITION) == 1024
    assert w(port, XC, Reg.GOAL_POSITION, 1024 + 512) == 0
    time.sleep(0.05)
    assert abs(emu.backend.read(XC)[0] - 512 * 2 * 3.141592653589793 / 4096) < 2e-3


@pytest.mark.parametrize(("sid", "reg", "bad", "good", "error"), [
    (XC, Reg.HOMING_OFFSET, 1_044_480, 1_044_479, ErrorNumber.DATA_RANGE),
    (XC, Reg.HOMING_OFFSET, -1_044_480, -1_044_479, ErrorNumber.DATA_RANGE),
    (XC, Reg.VELOCITY_LIMIT, 2048, 2047, ErrorNumber.DATA_RANGE),
    (XC, Reg.MOVING_THRESHOLD, 1024, 1023, ErrorNumber.DATA_RANGE),
    (XC, Reg.CURRENT_LIMIT, 2353, 2352, ErrorNumber.DATA_RANGE),
    (XL, Reg.CURRENT_LIMIT, 1751, 1750, ErrorNumber.DATA_RANGE),
    (XC, Reg.PROFILE_ACCELERATION, 32768, 32767, ErrorNumber.DATA_RANGE),
    (XC, Reg.PROFILE_VELOCITY, 32768, 32767, ErrorNumber.DATA_RANGE),
    (XC, Reg.GOAL_PWM, 886, 885, ErrorNumber.DATA_LIMIT),  # PWM Limit 885
    (XC, Reg.GOAL_PWM, -886, -885, ErrorNumber.DATA_LIMIT),
    (XC, Reg.GOAL_CURRENT, 2353, 2352, ErrorNumber.DATA_LIMIT),  # XC330 Current Limit 2352
    (XL, Reg.GOAL_VELOCITY, 446, 445, ErrorNumber.DATA_LIMIT),  # XL330 Velocity Limit 445
    (XC, Reg.GOAL_VELOCITY, -351, -350, ErrorNumber.DATA_LIMIT),  # XC330 Velocity Limit 350
    (XC, Reg.BUS_WATCHDOG, 128, 127, ErrorNumber.DATA_RANGE),
    (XC, Reg.SECONDARY_ID, 253, 252, ErrorNumber.DATA_RANGE),
    (XC, Reg.PWM_SLOPE, 0, 1, ErrorNumber.DATA_RANGE),
])
def test_out_of_range_writes_are_refused(port, sid, reg, bad, good, error):
    before = r(port, sid, reg)
    assert w(port, sid, reg, bad) == error
    assert r(port, sid, reg) == before  # nothing written
    assert w(port, sid, reg, good) == 0
    assert r(port, sid, reg) == good


def test_profile_acceleration_range_is_shorter_with_a_time_based_profile(port):
    assert w(port, XC, Reg.DRIVE_MODE, 0x04) == 0
    assert w(port, XC, Reg.PROFILE_ACCELERATION, 32767) == ErrorNumber.DATA_RANGE
    assert w(port, XC, Reg.PROFILE_ACCELERATION, 32737) == 0


def test_goal_limits_follow_the_limit_registers(port):
    assert w(port, XC, Reg.PWM_LIMIT, 400) == 0
    assert w(port, XC, Reg.GOAL_PWM, 401) == ErrorNumber.DATA_LIMIT
    assert w(port, XC, Reg.GOAL_PWM, 400) == 0
    assert w(port, XC, Reg.SECONDARY_ID, 255) == 0  # 255 switches the Secondary ID off
    assert w(port, XC, Reg.BUS_WATCHDOG, 0) == 0  # 0 switches the watchdog off


def test_sync_read_gets_no_answer_at_status_return_level_0(port):
    PH.write1ByteTxOnly(port, XL, Reg.STATUS_RETURN_LEVEL.address, 0)  # level 0: no status to this write
    time.sleep(0.01)
    for fast in (False, True):
        read = sdk.GroupSyncRead(port, PH, Reg.PRESENT_POSITION.address, 4)
        read.addParam(XL)
        assert (read.fastSyncRead() if fast else read.txRxPacket()) == sdk.COMM_RX_TIMEOUT
    bulk = sdk.GroupBulkRead(port, PH)
    bulk.addParam(XL, Reg.PRESENT_POSITION.address, 4)
    assert bulk.txRxPacket() == sdk.COMM_RX_TIMEOUT
    assert PH.read1ByteTxRx(port, XL, Reg.LED.address)[1] == sdk.COMM_RX_TIMEOUT
    assert call(PH.ping, port, XL)[1] == sdk.COMM_SUCCESS  # ping always answers
    # The servo at level 2 beside it still answers a Sync Read.
    read = sdk.GroupSyncRead(port, PH, Reg.PRESENT_POSITION.address, 4)
    read.addParam(XC)
    assert read.txRxPacket() == sdk.COMM_SUCCESS


def test_supply_sags_under_load_and_a_sag_fault_drops_it(port, emu):
    idle = r(port, XC, Reg.PRESENT_INPUT_VOLTAGE)
    assert idle == 50  # 5.0 V, nothing energised
    emu.backend.set_position(XC, 0.0)
    assert w(port, XC, Reg.TORQUE_ENABLE, 1) == 0
    emu.backend.tau_s = 100.0  # the joint cannot follow: it draws current while the goal is away
    assert w(port, XC, Reg.GOAL_POSITION, 3000) == 0
    loaded = r(port, XC, Reg.PRESENT_INPUT_VOLTAGE)
    assert loaded < idle  # 1.5 A through 0.05 ohm: 0.075 V
    emu.inject(Fault(FaultKind.SAG, None, value=3.4))
    assert r(port, XC, Reg.PRESENT_INPUT_VOLTAGE) <= 34 - (idle - loaded)
    # Below the XL330's Min Voltage Limit (3.5 V) its Shutdown(63) = 53 has the input-voltage
    # bit: the alert bit comes up and torque drops. The XC330's Shutdown (52) does not.
    value, result, error = call(PH.read2ByteTxRx, port, XL, Reg.PRESENT_INPUT_VOLTAGE.address)
    assert value <= 34 and error & 0x80
    assert call(PH.read1ByteTxRx, port, XL, Reg.HARDWARE_ERROR_STATUS.address)[0] == HardwareError.INPUT_VOLTAGE
    assert call(PH.read1ByteTxRx, port, XC, Reg.HARDWARE_ERROR_STATUS.address)[0] == 0


def test_heat_fault_warms_the_winding_and_the_limit_shuts_it_down(port, emu):
    assert r(port, XC, Reg.PRESENT_TEMPERATURE) == AMBIENT_C
    emu.inject(Fault(FaultKind.HEAT, XC, value=95.0))
    temps = []
    for _ in range(8):
        time.sleep(0.25)
        temps.append(call(PH.read1ByteTxRx, port, XC, Reg.PRESENT_TEMPERATURE.address)[0])
    assert temps == sorted(temps) and temps[-1] > 70, temps
    # Past Temperature Limit (70 degC) the overheating bit latches and torque is off.
    assert call(PH.read1ByteTxRx, port, XC, Reg.HARDWARE_ERROR_STATUS.address)[0] & HardwareError.OVERHEATING
    alert_and_fail = 0x80 | ErrorNumber.RESULT_FAIL
    assert call(PH.write1ByteTxRx, port, XC, Reg.TORQUE_ENABLE.address, 1) == (sdk.COMM_SUCCESS, alert_and_fail)
