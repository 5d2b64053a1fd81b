"""The Feetech family: the real scservo_sdk against the software STS3215 on a pty, byte for byte.

Packets are checked three ways: against the Feetech protocol manual's worked
examples, against checksums computed here from the definition (not through
firmware_bridge), and through the vendor SDK's own encoder and parser.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import scservo_sdk as sdk
import serial

from firmware_bridge import (
    CorruptPacketError,
    ServoHardwareError,
    ServoMissingError,
    ServoSpec,
    make_bus,
)
from firmware_bridge.emulator import Fault, FaultKind, IdealBackend
from firmware_bridge.emulator.feetech_server import FeetechSoftwareServo
from firmware_bridge.feetech import protocol
from firmware_bridge.feetech.bus import FeetechBus
from firmware_bridge.feetech.control_table import (
    RAD_PER_TICK,
    Reg,
    Status,
    from_sign_magnitude,
    identify,
    to_sign_magnitude,
)

BAUD = 1_000_000
# The test machine is shared (load averages of 5-8 on 2 cores): a reply may be ms late.
# Deadlines are a benchmark's business (duck bench bus); here they must not decide.
SLACK_MS = 10.0
IDS = (10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 30, 31, 32, 33)  # FACTS.md: v2's 14 servos


def specs(model="STS3215-C001"):
    return [ServoSpec(i, model) for i in IDS]


def _independent_checksum(body: bytes) -> int:
    # The manual's definition, written out: invert the low byte of the sum of ID..params.
    total = 0
    for b in body:
        total += b
    return 255 - (total % 256)


def retried(call, *args):
    """An SDK request, repeated (up to 3 times) only when no reply came in time: the shared
    test machine can stall the software servo's thread past even the SDK's 50 ms."""
    for _ in range(3):
        out = call(*args)
        result = out[1] if len(out) == 3 else out[0]
        if result != sdk.COMM_RX_TIMEOUT:
            return out
    return out


@pytest.fixture()
def emu():
    with FeetechSoftwareServo(specs(), IdealBackend(tau_s=0.01), baud=BAUD) as e:
        yield e


@pytest.fixture()
def ph(emu):
    port = sdk.PortHandler(emu.path)
    port.baudrate = BAUD
    assert port.openPort()
    yield sdk.protocol_packet_handler(port, 0)
    port.closePort()


# ---- packets ------------------------------------------------------------------------------
def test_manual_worked_examples_byte_for_byte():
    # Feetech SCS/STS protocol manual: ping ID 1; read 2 bytes at 0x38 (present position);
    # write goal 2048, time 0, speed 1000 at 0x2A; the servo's empty OK status.
    assert protocol.ping(1) == bytes.fromhex("FF FF 01 02 01 FB")
    assert protocol.read(1, 0x38, 2) == bytes.fromhex("FF FF 01 04 02 38 02 BE")
    data = (2048).to_bytes(2, "little") + (0).to_bytes(2, "little") + (1000).to_bytes(2, "little")
    assert protocol.write(1, 0x2A, data) == bytes.fromhex("FF FF 01 09 03 2A 00 08 00 00 E8 03 D5")
    assert protocol.status(1, 0) == bytes.fromhex("FF FF 01 02 00 FC")


@pytest.mark.parametrize("packet", [
    protocol.sync_write(42, 2, [(i, (1000 + i).to_bytes(2, "little")) for i in IDS]),
    protocol.sync_read(56, 6, IDS),
    protocol.reg_write(7, 40, b"\x01"),
    protocol.action(),
    protocol.status(33, int(Status.OVERLOAD), b"\x00\x08"),
])
def test_checksums_match_an_independent_computation(packet):
    assert packet[:2] == b"\xff\xff" and packet[3] == len(packet) - 4
    assert packet[-1] == _independent_checksum(packet[2:-1])


def test_what_the_sdk_sends_is_what_the_manual_specifies(emu):
    """The bytes the SDK itself writes (its writePort, recorded) are the frames our builder makes."""
    port = sdk.PortHandler(emu.path)
    port.baudrate = BAUD
    assert port.openPort()
    sent = []
    write = port.writePort
    port.writePort = lambda pkt: (sent.append(bytes(pkt)), write(pkt))[1]
    ph = sdk.protocol_packet_handler(port, 0)
    ph.read2ByteTxRx(10, Reg.PRESENT_POSITION.address)
    ph.write2ByteTxRx(10, Reg.GOAL_POSITION.address, 2048)
    group = sdk.GroupSyncRead(ph, 56, 6)
    for i in IDS:
        group.addParam(i)
    group.txRxPacket()
    port.closePort()
    assert sent == [protocol.read(10, 56, 2), protocol.write(10, 42, b"\x00\x08"), protocol.sync_read(56, 6, IDS)]


@pytest.mark.parametrize("value,bit", [(0, 15), (5, 15), (-5, 15), (32767, 15), (-32767, 15),
                                       (2047, 11), (-2047, 11), (-1, 11), (-1000, 10), (1000, 10)])
def test_sign_magnitude_matches_the_sdk(value, bit):
    raw = to_sign_magnitude(value, bit)
    assert raw == sdk.protocol_packet_handler(None, 0).scs_toscs(value, bit)
    assert raw >> bit & 1 == (value < 0) and raw & ((1 << bit) - 1) == abs(value)
    assert from_sign_magnitude(raw, bit) == value == sdk.protocol_packet_handler(None, 0).scs_tohost(raw, bit)


def test_sign_magnitude_rejects_what_does_not_fit():
    with pytest.raises(ValueError):
        to_sign_magnitude(2048, 11)
    with pytest.raises(ValueError):
        Reg.OFFSET.encode(-3000)
    assert Reg.PRESENT_SPEED.decode(0x8000 | 300) == -300
    assert Reg.OFFSET.decode(0x0800 | 100) == -100  # bit 11, not bit 15
    assert Reg.PRESENT_LOAD.decode(0x0400 | 250) == -250  # bit 10


# ---- the real SDK against the software servo ------------------------------------------------------
def test_sdk_ping_read_write(ph, emu):
    for i in IDS:
        model, result, error = ph.ping(i)
        assert (model, result, error) == (777, sdk.COMM_SUCCESS, 0)
    data, result, _ = ph.readTxRx(10, 0, 5)
    assert result == sdk.COMM_SUCCESS and (data[0], data[1]) == (3, 10) and data[3:5] == [9, 3]  # 777 = 0x0309
    assert ph.read2ByteTxRx(11, Reg.PRESENT_POSITION.address) == (2048, sdk.COMM_SUCCESS, 0)
    assert ph.write1ByteTxRx(11, Reg.P_COEFFICIENT.address, 16) == (sdk.COMM_SUCCESS, 0)
    assert ph.read1ByteTxRx(11, Reg.P_COEFFICIENT.address)[0] == 16
    # A read-only register ignores the write; the servo still answers OK.
    assert ph.write2ByteTxRx(11, Reg.PRESENT_POSITION.address, 5) == (sdk.COMM_SUCCESS, 0)
    assert ph.read2ByteTxRx(11, Reg.PRESENT_POSITION.address)[0] == 2048


def test_sdk_reg_write_waits_for_action(ph, emu):
    assert retried(ph.regWriteTxRx, 12, Reg.P_COEFFICIENT.address, 1, [20]) == (sdk.COMM_SUCCESS, 0)
    assert retried(ph.read1ByteTxRx, 12, Reg.P_COEFFICIENT.address)[0] == 32  # not yet
    assert retried(ph.read1ByteTxRx, 12, Reg.ASYNC_WRITE_FLAG.address)[0] == 1
    assert ph.action(sdk.BROADCAST_ID) == sdk.COMM_SUCCESS  # broadcast: no reply expected
    time.sleep(0.01)
    assert retried(ph.read1ByteTxRx, 12, Reg.P_COEFFICIENT.address)[0] == 20


def test_sdk_sync_write_then_sync_read_14_servos(ph, emu):
    goals = {i: 1500 + 70 * k for k, i in enumerate(IDS)}
    torque = sdk.GroupSyncWrite(ph, Reg.TORQUE_ENABLE.address, 1)
    write = sdk.GroupSyncWrite(ph, Reg.GOAL_POSITION.address, 2)
    for i in IDS:
        write.addParam(i, list(goals[i].to_bytes(2, "little")))
        torque.addParam(i, [1])
    assert write.txPacket() == sdk.COMM_SUCCESS
    assert torque.txPacket() == sdk.COMM_SUCCESS
    time.sleep(0.15)
    read = sdk.GroupSyncRead(ph, Reg.PRESENT_POSITION.address, 6)
    for i in IDS:
        read.addParam(i)
    assert read.txRxPacket() == sdk.COMM_SUCCESS
    for i in IDS:
        ok, error = read.isAvailable(i, Reg.PRESENT_POSITION.address, 2)
        assert ok and error == 0
        assert abs(read.getData(i, Reg.PRESENT_POSITION.address, 2) - goals[i]) <= 1
    off = sdk.GroupSyncWrite(ph, Reg.TORQUE_ENABLE.address, 1)
    for i in IDS:
        off.addParam(i, [0])
    assert off.txPacket() == sdk.COMM_SUCCESS


def test_unknown_id_and_broadcast_read_get_no_reply(ph):
    assert ph.ping(99)[1] == sdk.COMM_RX_TIMEOUT
    assert ph.read1ByteTxRx(99, Reg.ID.address)[1] == sdk.COMM_RX_TIMEOUT
    assert ph.readTxRx(sdk.BROADCAST_ID, Reg.ID.address, 1)[1] == sdk.COMM_NOT_AVAILABLE  # the SDK refuses


def test_broadcast_write_reaches_every_servo_silently(ph, emu):
    assert ph.write1ByteTxRx(sdk.BROADCAST_ID, Reg.P_COEFFICIENT.address, 24) == (sdk.COMM_SUCCESS, 0)
    time.sleep(0.01)
    assert {emu.servo(i).raw(Reg.P_COEFFICIENT) for i in IDS} == {24}
    assert emu.stats["replies"] == 0


def test_checksum_error_gets_no_reply(emu):
    with serial.Serial(emu.path, BAUD, timeout=0.05) as port:
        good = protocol.ping(10)
        port.write(good[:-1] + bytes([good[-1] ^ 0x55]))
        assert port.read(6) == b""
        assert emu.stats["crc_errors"] == 1
        port.write(good)
        assert port.read(6) == protocol.status(10, 0)


def test_error_status_bits_in_every_reply(ph, emu):
    emu.inject(Fault(FaultKind.HWERROR, 13, bits=int(Status.OVERLOAD | Status.OVERHEATING)))
    value, result, error = retried(ph.read1ByteTxRx, 13, Reg.STATUS.address)
    assert result == sdk.COMM_SUCCESS and value == error == 0x24
    assert retried(ph.ping, 14)[2] == 0
    assert Fault.parse("hwerror:13:sensor+overcurrent").bits == int(Status.SENSOR | Status.OVERCURRENT)
    emu.clear_faults()  # the condition goes away: Feetech bits clear (no reboot, no latch)
    assert retried(ph.read1ByteTxRx, 13, Reg.STATUS.address)[:3:2] == (0, 0)


def test_eeprom_lock_decides_what_survives_a_power_cycle(ph, emu):
    # Lock = 1 (power-up): the write takes effect now but is not saved.
    assert retried(ph.write1ByteTxRx, 20, Reg.MAX_TEMPERATURE.address, 60) == (sdk.COMM_SUCCESS, 0)
    assert retried(ph.read1ByteTxRx, 20, Reg.MAX_TEMPERATURE.address)[0] == 60
    emu.power_cycle()
    assert retried(ph.read1ByteTxRx, 20, Reg.MAX_TEMPERATURE.address)[0] == 70
    # Unlock, write, lock: saved.
    assert retried(ph.write1ByteTxRx, 20, Reg.LOCK.address, 0)[0] == sdk.COMM_SUCCESS
    assert retried(ph.write1ByteTxRx, 20, Reg.MAX_TEMPERATURE.address, 60)[0] == sdk.COMM_SUCCESS
    assert retried(ph.write1ByteTxRx, 20, Reg.LOCK.address, 1)[0] == sdk.COMM_SUCCESS
    emu.power_cycle()
    assert retried(ph.read1ByteTxRx, 20, Reg.MAX_TEMPERATURE.address)[0] == 60
    assert retried(ph.read1ByteTxRx, 20, Reg.LOCK.address)[0] == 1


def test_offset_in_eeprom_shows_in_present_position(emu):
    emu.backend.set_position(21, 300 * RAD_PER_TICK)  # the horn sits 300 ticks past centre
    with make_bus(emu.path, BAUD, [ServoSpec(21, "STS3215-C001")], slack_ms=SLACK_MS) as bus:
        assert bus.read_register(21, Reg.PRESENT_POSITION) == 2348
        bus.write_register(21, Reg.OFFSET, 300)
        assert bus.read_register(21, Reg.PRESENT_POSITION) == 2048
        bus.write_register(21, Reg.OFFSET, -100)  # sign-magnitude bit 11 on the wire
        assert emu.servo(21).raw(Reg.OFFSET) == 0x0800 | 100
        assert bus.read_register(21, Reg.PRESENT_POSITION) == 2448


def test_torque_on_holds_in_place_although_the_servo_drives_to_goal(emu):
    emu.backend.set_position(22, 0.0)
    with make_bus(emu.path, BAUD, [ServoSpec(22, "STS3215-C001")], slack_ms=SLACK_MS) as bus:
        # A stale goal far away: enabling torque by hand would jump there ...
        bus.write_register(22, Reg.GOAL_POSITION, 3000)
        # ... FeetechBus.set_torque first sets Goal = Present.
        bus.set_torque(True)
        time.sleep(0.05)
        assert abs(bus.read_register(22, Reg.PRESENT_POSITION) - 2048) <= 1
        bus.set_torque(False)


# ---- the bus: cycle, faults, typed errors ---------------------------------------------------
def test_bus_cycle_in_si_units(emu):
    with make_bus(emu.path, BAUD, specs(), slack_ms=SLACK_MS) as bus:
        assert isinstance(bus, FeetechBus)
        assert set(bus.ping_all().values()) == {777}
        with bus.torque_enabled():
            goal = np.linspace(-0.5, 0.5, len(IDS))
            bus.write_goal_positions(goal)
            time.sleep(0.15)
            s = bus.read_state()
        assert not s.stale
        np.testing.assert_allclose(s.position_rad, goal, atol=1.5 * RAD_PER_TICK)
        assert s.load is not None and np.all(np.abs(s.load) <= 1.0)


@pytest.mark.parametrize("kind", [FaultKind.DROP, FaultKind.MISSING])
def test_silent_servo_is_stale_then_missing_error(emu, kind):
    with make_bus(emu.path, BAUD, specs(), slack_ms=SLACK_MS, max_stale_reads=1) as bus:
        good = bus.read_state()
        emu.inject(Fault(kind, 12))
        s = bus.read_state()
        assert s.stale and isinstance(s.error, ServoMissingError) and s.error.ids == (12,)
        np.testing.assert_array_equal(s.position_rad, good.position_rad)
        with pytest.raises(ServoMissingError, match=r"\[12\]"):
            bus.read_state()
        emu.clear_faults()
        assert not bus.read_state().stale


def test_corrupt_reply_is_corrupt_packet_error(emu):
    with make_bus(emu.path, BAUD, specs(), slack_ms=SLACK_MS) as bus:
        bus.read_state()
        emu.inject(Fault(FaultKind.CRC, 13))
        s = bus.read_state()
        assert s.stale and isinstance(s.error, CorruptPacketError)
        with pytest.raises(CorruptPacketError):
            bus.read_register(13, Reg.PRESENT_POSITION)
        assert bus.read_register(14, Reg.PRESENT_POSITION) == 2048


def test_overload_is_a_hardware_error_with_the_cycle_data(emu):
    with make_bus(emu.path, BAUD, specs(), slack_ms=SLACK_MS) as bus:
        emu.inject(Fault(FaultKind.HWERROR, 31))  # default bits: overload
        with pytest.raises(ServoHardwareError) as info:
            bus.read_state()
        assert info.value.errors == {31: ["overload"]} and info.value.state is not None
        assert bus.read_hardware_errors()[31] == ["overload"]
        assert emu.servo(31).raw(Reg.TORQUE_ENABLE) == 0  # Unload Condition dropped torque


def test_faults_end_in_what_the_safety_monitor_expects(emu):
    """RobotIO (the runtime's bus side) classifies each Feetech fault as for Dynamixel:
    a hardware error -> torque off; timeout, checksum, missing servo -> stale (hold)."""
    from duck.runtime.robot_io import RobotIO
    from duck.runtime.safety import REACTIONS, TORQUE_OFF

    bus = make_bus(emu.path, BAUD, specs(), slack_ms=SLACK_MS, max_stale_reads=10)
    bus.open()
    io = RobotIO(bus, imu=None)
    try:
        assert io.read_joints().ok
        # The runtime's other bus calls, family-neutral: supply check, soft start, gains, release.
        assert set(io.check_supply((7.0, 8.4)).values()) == {7.4}
        from firmware_bridge.servo_model import FirmwareGains

        assert io.write_gains({i: FirmwareGains(p=32, i=0, d=0) for i in IDS}) is None
        assert {emu.servo(i).raw(Reg.D_COEFFICIENT) for i in IDS} == {0}
        io.torque_on({i: 2 for i in IDS})  # upstream's soft start: P 2
        assert {emu.servo(i).raw(Reg.P_COEFFICIENT) for i in IDS} == {2}
        assert all(emu.servo(i).torque_on for i in IDS)
        for fault, expect in [(Fault(FaultKind.DROP, 10), "ServoMissingError"),
                              (Fault(FaultKind.CRC, 11), "CorruptPacketError"),
                              (Fault(FaultKind.MISSING, 12), "ServoMissingError")]:
            emu.inject(fault)
            r = io.read_joints()
            assert not r.ok and r.hardware_error is None and r.detail.startswith(expect)
            emu.clear_faults()
            assert io.read_joints().ok
        emu.inject(Fault(FaultKind.HWERROR, 13))
        r = io.read_joints()
        assert r.hardware_error and "overload" in r.hardware_error
        assert REACTIONS["servo_error"][0] == TORQUE_OFF
        confirmed, pending = io.release()
        assert confirmed == sorted(IDS) and pending == []
    finally:
        bus.close()


def test_identify_names_the_voltage_class_not_the_gear():
    seven = identify(777, (3, 10), max_voltage_raw=90)
    assert seven.model == "STS3215" and seven.firmware_text == "3.10"
    assert [v.name for v in seven.candidates] == ["STS3215-C001", "STS3215-C044", "STS3215-C046"]
    assert identify(777, (3, 10), max_voltage_raw=140).variant_text == "STS3215-C018"
    assert identify(2825, (3, 10)).variant_text == "STS3250"


def test_the_shared_servo_model_drives_the_software_sts():
    """Issue 20's servo model (STS3215-7.4V: BAM's identified set) as the backend: the real SDK
    sees the horn settle on the goal under the firmware law, a lower P (a bus write) makes the
    servo softer, and the load it reports is the model's."""
    from firmware_bridge.emulator.servo_model_backend import servo_model_backend

    servos = [ServoSpec(10, "STS3215-C001"), ServoSpec(11, "STS3215-C001")]
    backend = servo_model_backend(servos, load_inertia_kgm2=2e-4, supply_v=8.2)
    with FeetechSoftwareServo(servos, backend, baud=BAUD) as emu, \
            make_bus(emu.path, BAUD, servos, slack_ms=SLACK_MS) as bus:
        assert bus.read_supply_v(10) == pytest.approx(8.2)  # the runtime's supply check reads this
        bus.write_p_gain(11, 4)  # soft start value on one servo, live (Lock 1: not saved)
        assert backend.bank.p.tolist() == [32, 4]
        with bus.torque_enabled():
            bus.write_goal_positions(np.array([0.3, 0.3]))
            time.sleep(0.6)
            s = bus.read_state()
        assert abs(s.position_rad[0] - 0.3) < 0.03  # P 32 settles close to the goal
        assert s.position_rad[1] < s.position_rad[0] - 0.02  # P 4 leaves a friction-sized error
        emu.power_cycle()
        assert emu.servo(11).raw(Reg.P_COEFFICIENT) == 32
    with pytest.raises(ValueError, match="no servo model"):
        servo_model_backend([ServoSpec(12, "STS3215-C046")])
