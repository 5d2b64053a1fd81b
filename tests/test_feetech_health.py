"""The Feetech software servo's supply and heat (issue 24's review of it), through the real
scservo_sdk: Present Voltage sags with load and with a drained battery, Present Temperature
follows the winding, the Status bits for voltage and overheating follow Min/Max Input Voltage
and Max Temperature Limit (and clear with the condition, as Feetech status bits do), and the
runtime's health read (FeetechBus.read_health_once) sees it all."""

from __future__ import annotations

import time

import pytest
import scservo_sdk as sdk

from firmware_bridge import ServoSpec
from firmware_bridge.emulator import Fault, FaultKind, IdealBackend
from firmware_bridge.emulator.feetech_server import FeetechSoftwareServo
from firmware_bridge.emulator.power import AMBIENT_C
from firmware_bridge.feetech.bus import FeetechBus
from firmware_bridge.feetech.control_table import Reg, Status

BAUD = 1_000_000
IDS = (10, 11)


@pytest.fixture()
def emu():
    with FeetechSoftwareServo([ServoSpec(i, "STS3215-C001") for i in IDS], IdealBackend(tau_s=0.005),
                              baud=BAUD) as e:
        yield e


@pytest.fixture()
def ph(emu):
    port = sdk.PortHandler(emu.path)
    port.baudrate = BAUD
    assert port.openPort()
    yield sdk.protocol_packet_handler(port, 0)
    port.closePort()


def read(ph, sid, reg):
    for _ in range(5):  # a busy shared machine can delay the software servo's thread
        value, result, error = ph.readTxRx(sid, reg.address, reg.size)
        if result == sdk.COMM_SUCCESS:
            return int.from_bytes(bytes(value), "little"), error
        time.sleep(0.02)
    raise AssertionError(f"no reply from servo {sid}")


def test_supply_sag_and_the_voltage_status_bit(ph, emu):
    assert read(ph, 10, Reg.PRESENT_VOLTAGE) == (74, 0)  # 7.4 V, nothing energised
    assert read(ph, 10, Reg.PRESENT_TEMPERATURE) == (AMBIENT_C, 0)
    emu.inject(Fault(FaultKind.SAG, None, value=3.9))  # below Min Input Voltage (4.0 V factory)
    volts, error = read(ph, 10, Reg.PRESENT_VOLTAGE)
    assert volts == 39 and error & Status.VOLTAGE
    emu.inject(Fault(FaultKind.SAG, None, value=7.4))
    volts, error = read(ph, 10, Reg.PRESENT_VOLTAGE)
    assert volts == 74 and error == 0  # a Feetech status bit clears with its condition


def test_heat_and_the_overheating_status_bit(ph, emu):
    emu.inject(Fault(FaultKind.HEAT, 11, value=95.0))
    temps = []
    for _ in range(10):
        time.sleep(0.2)
        temps.append(read(ph, 11, Reg.PRESENT_TEMPERATURE))
    assert [t for t, _ in temps] == sorted(t for t, _ in temps) and temps[-1][0] > 70, temps
    assert temps[-1][1] & Status.OVERHEATING  # past Max Temperature Limit (70 degC)
    assert read(ph, 10, Reg.PRESENT_TEMPERATURE)[1] == 0  # the other servo is fine


def test_health_read_through_the_feetech_bus(emu):
    with FeetechBus(emu.path, BAUD, [ServoSpec(i, "STS3215-C001") for i in IDS], latency_ms=20.0) as bus:
        assert bus.read_health_once(10) == (pytest.approx(7.4), AMBIENT_C)
        emu.inject(Fault(FaultKind.SAG, None, value=6.1))
        assert bus.read_health_once(11)[0] == pytest.approx(6.1)
        assert bus.health_read_timeout_s() > 0
