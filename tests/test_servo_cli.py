"""``duck servo ...`` against the software servo, and calibration files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import dynamixel_sdk as sdk
import numpy as np
import pytest
from servo_fixtures import specs

from duck.calibration import Calibration, JointCalibration, load_calibration, parse_calibration, save_calibration
from duck.cli import main
from duck.contract import CONTRACT, sign_table
from duck.errors import UserError
from firmware_bridge import ServoSpec
from firmware_bridge.control_table import Reg
from firmware_bridge.emulator import IdealBackend, SoftwareServo

BAUD = 1_000_000


@pytest.fixture()
def emu():
    with SoftwareServo(specs(), IdealBackend(tau_s=0.01), baud=BAUD) as e:
        yield e


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_finds_contract_servos(emu, capsys):
    code, out, _ = run(capsys, "servo", "scan", "--port", emu.path, "--baud", str(BAUD))
    assert code == 0
    assert "right_knee" in out and "XL330-M288-T" in out and " 52 " in out
    assert len(out.strip().splitlines()) == 1 + 13


def test_setup_factory_servo_to_contract_settings(capsys):
    factory = [ServoSpec(1, "XC330-M288-T")]
    with SoftwareServo(factory, IdealBackend(), baud=57_600, return_delay=250) as emu:
        code, out, _ = run(capsys, "servo", "scan", "--port", emu.path, "--baud", "57600", "--baud", str(BAUD))
        assert code == 0 and "   57600    1 XC330-M288-T" in out
        code, out, err = run(capsys, "servo", "setup", "--port", emu.path, "--joint", "right_knee",
                             "--current-id", "1", "--current-baud", "57600", "--baud", str(BAUD), "--p-gain", "900")
        assert code == 0, err
        assert "right_knee: id 1 -> 13" in out and "verified" in out
        s = emu.servo(13)
        assert s.baud == BAUD and s.get(Reg.RETURN_DELAY_TIME) == 0 and s.get(Reg.OPERATING_MODE) == 3
        assert s.get(Reg.POSITION_P_GAIN) == 900 and s.get(Reg.DRIVE_MODE) == 0
        assert s.get(Reg.MIN_POSITION_LIMIT) == 2048 - 1365 and s.get(Reg.MAX_POSITION_LIMIT) == 2048 + 1365


def test_calibrate_writes_offsets_that_round_trip(emu, tmp_path, capsys, monkeypatch):
    offsets = {j.servo_id: 0.01 * (k + 1) for k, j in enumerate(CONTRACT.joints)}
    for sid, rad in offsets.items():
        emu.backend.set_position(sid, rad)  # the robot, by hand, in the zero pose
    out_file = tmp_path / "cal.json"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n\n"))  # Enter: robot supported; Enter: in the zero pose
    code, out, err = run(capsys, "servo", "calibrate", "--port", emu.path, "--out", str(out_file))
    assert code == 0, err
    assert "Press Enter" in err and "wrote" in out
    cal = load_calibration(out_file)
    for j in CONTRACT.joints:
        assert cal.joints[j.name].zero_ticks == round(2048 + offsets[j.servo_id] * 4096 / (2 * 3.141592653589793))
    # Monitor with that calibration: every joint reads 0 rad in the zero pose.
    code, out, err = run(capsys, "servo", "monitor", "--port", emu.path, "--calibration", str(out_file), "--once")
    assert code == 0, err
    rows = out.strip().splitlines()[1:]
    assert len(rows) == 13
    for row in rows:
        name, _sid, pos, _vel, _cur, volts, temp, torque, errors = row.split()
        assert abs(float(pos)) < 0.002 and volts == "5.0" and temp == "35" and torque == "off" and errors == "-"


def test_calibrate_scripted_with_yes(emu, tmp_path, capsys):
    code, _, err = run(capsys, "servo", "calibrate", "--port", emu.path, "--out", str(tmp_path / "c.json"), "--yes")
    assert code == 0 and "Press Enter" not in err
    assert load_calibration(tmp_path / "c.json") == Calibration.default()
    assert sign_table() in err  # the same sign table as the contract's docstring and the model card


def _goal_refused(path: str, servo_id: int, ticks: int) -> bool:
    """Write Goal Position with the vendor SDK; True when the servo answers Data Limit Error."""
    port = sdk.PortHandler(path)
    port.baudrate = BAUD
    assert port.openPort()
    try:
        result, error = sdk.PacketHandler(2.0).write4ByteTxRx(port, servo_id, int(Reg.GOAL_POSITION.address), ticks)
        assert result == sdk.COMM_SUCCESS
        return error == 6  # Data Limit Error: outside Min/Max Position Limit
    finally:
        port.closePort()


def test_setup_writes_the_contract_range_through_the_calibration_and_the_servo_refuses_beyond_it(tmp_path, capsys):
    """A servo mounted reversed and off-centre: its limits are the contract's range in its own ticks,
    and the software servo refuses a goal the model says is impossible."""
    joint = CONTRACT.joints[CONTRACT.joint_names.index("right_hip_pitch")]
    cal = {n: {"zero_ticks": 2048, "direction": 1} for n in CONTRACT.joint_names}
    cal[joint.name] = {"zero_ticks": 2300, "direction": -1}
    cal_file = tmp_path / "cal.json"
    cal_file.write_text(json.dumps({"version": 1, "joints": cal}))
    with SoftwareServo([ServoSpec(1, "XC330-M288-T")], IdealBackend(), baud=57_600) as emu:
        code, out, err = run(capsys, "servo", "setup", "--port", emu.path, "--joint", joint.name, "--current-id", "1",
                             "--current-baud", "57600", "--baud", str(BAUD), "--calibration", str(cal_file))
        assert code == 0, err
        s = emu.servo(joint.servo_id)
        per_rad = 4096 / (2 * np.pi)
        # direction -1: the contract's upper end is the servo's low tick
        assert s.get(Reg.MIN_POSITION_LIMIT) == round(2300 - joint.upper_rad * per_rad)
        assert s.get(Reg.MAX_POSITION_LIMIT) == round(2300 - joint.lower_rad * per_rad)
        home = round(2300 - joint.home_rad * per_rad)
        assert not _goal_refused(emu.path, joint.servo_id, home)
        # 0.1 rad past each end of the range (the old contract's home, +0.6, is past the upper end)
        for rad in (joint.upper_rad + 0.1, joint.lower_rad - 0.1, 0.6):
            assert _goal_refused(emu.path, joint.servo_id, round(2300 - rad * per_rad)), rad


def test_setup_refuses_a_calibration_whose_range_crosses_the_servos_wrap(tmp_path, capsys):
    cal = {n: {"zero_ticks": 2048, "direction": 1} for n in CONTRACT.joint_names}
    cal["right_knee"] = {"zero_ticks": 300, "direction": 1}  # -2.094 rad is 1365 ticks below zero
    cal_file = tmp_path / "cal.json"
    cal_file.write_text(json.dumps({"version": 1, "joints": cal}))
    with SoftwareServo([ServoSpec(1, "XC330-M288-T")], IdealBackend(), baud=57_600) as emu:
        code, _, err = run(capsys, "servo", "setup", "--port", emu.path, "--joint", "right_knee", "--current-id",
                           "1", "--current-baud", "57600", "--calibration", str(cal_file))
        assert code == 2 and "outside the servo's 0..4095" in err and len(err.strip().splitlines()) == 1
        assert emu.servo(1).get(Reg.MIN_POSITION_LIMIT) == 0  # nothing was written


def test_calibration_json_round_trip_and_servo_objects(tmp_path):
    cal = Calibration({n: JointCalibration(2000 + k, -1 if k % 2 else 1)
                       for k, n in enumerate(CONTRACT.joint_names)})
    save_calibration(cal, tmp_path / "c.json")
    assert load_calibration(tmp_path / "c.json") == cal
    servo = cal.servo_calibrations()
    assert servo[10].zero_ticks == 2000 and servo[11].direction == -1 and len(servo) == 13
    data = Calibration.default().to_dict()
    data["joints"]["head_yaw"] = {"zero_rad": 0.1, "direction": -1}
    assert parse_calibration(data).joints["head_yaw"] == JointCalibration(2048 + 65, -1)


def _bad(data_edit):
    data = Calibration.default().to_dict()
    data_edit(data)
    return data


@pytest.mark.parametrize("content, message", [
    (_bad(lambda d: d["joints"].pop("left_knee")), "missing joint(s) ['left_knee']"),
    (_bad(lambda d: d["joints"].__setitem__("tail", {"zero_ticks": 1})), "unknown joint(s) ['tail']"),
    (_bad(lambda d: d["joints"]["knee" if False else "right_knee"].__setitem__("zero_ticks", "2048")),
     "zero_ticks must be an integer"),
    (_bad(lambda d: d["joints"]["neck_pitch"].__setitem__("direction", 2)), "direction must be 1 or -1"),
    (_bad(lambda d: d["joints"].__setitem__("head_yaw", [2048, 1])), "must be an object"),
    ("{not json", "not valid JSON"),
])
def test_bad_calibration_files_give_one_line_errors(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(UserError) as info:
        load_calibration(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    code, out, err = run(capsys, "servo", "monitor", "--port", "/dev/null", "--calibration", str(path), "--once")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_missing_calibration_file(capsys, tmp_path):
    code, _, err = run(capsys, "servo", "monitor", "--port", "/dev/null", "--calibration", str(tmp_path / "x.json"))
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_nonexistent_port_and_port_without_servos(capsys):
    code, out, err = run(capsys, "servo", "monitor", "--port", "/dev/ttyNOPE", "--once")
    assert code == 2 and err.strip().count("\n") == 0 and "cannot open /dev/ttyNOPE" in err
    with SoftwareServo([], IdealBackend()) as empty:
        code, _, err = run(capsys, "servo", "monitor", "--port", empty.path, "--once")
        assert code == 2 and err.strip().count("\n") == 0 and "did not answer" in err
        code, _, err = run(capsys, "servo", "scan", "--port", empty.path, "--baud", str(BAUD))
        assert code == 2 and "no servos answered" in err


def test_emulate_prints_pty_path_first_and_stops_on_sigint(tmp_path):
    duck = os.path.join(os.path.dirname(sys.executable), "duck")
    proc = subprocess.Popen([duck, "servo", "emulate", "--baud", str(BAUD), "--fault", "missing:32"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        port = sdk.PortHandler(path)
        port.baudrate = BAUD
        assert port.openPort()
        ph = sdk.PacketHandler(2.0)
        assert ph.ping(port, 10)[:2] == (1240, sdk.COMM_SUCCESS)
        assert ph.ping(port, 30)[:2] == (1200, sdk.COMM_SUCCESS)
        assert ph.ping(port, 32)[1] == sdk.COMM_RX_TIMEOUT
        port.closePort()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_emulate_rejects_bad_fault(capsys):
    code, _, err = run(capsys, "servo", "emulate", "--fault", "explode:10")
    assert code == 2 and "unknown fault" in err


def test_setup_refused_while_torque_on_as_the_firmware_refuses(capsys):
    """The X330 firmware refuses EEPROM writes with torque on; setup says so in one line and
    writes nothing, and --torque-off is the user's explicit way through."""
    with SoftwareServo([ServoSpec(1, "XC330-M288-T")], IdealBackend(), baud=57_600, return_delay=250) as emu:
        emu.servo(1).write(Reg.TORQUE_ENABLE.address, b"\x01")
        code, _, err = run(capsys, "servo", "setup", "--port", emu.path, "--joint", "right_knee",
                           "--current-baud", "57600", "--baud", "57600")
        assert code == 2 and "torque on" in err and "--torque-off" in err
        assert emu.servo(1).get(Reg.RETURN_DELAY_TIME) == 250  # nothing written
        time.sleep(0.2)  # a reply that came late on the loaded machine lands before the next connection
        code, out, err = run(capsys, "servo", "setup", "--port", emu.path, "--joint", "right_knee",
                             "--current-baud", "57600", "--baud", "57600", "--torque-off")
        assert code == 0, err
        assert emu.servo(13).get(Reg.RETURN_DELAY_TIME) == 0


def test_setup_writes_the_servo_profiles_gains_by_default(capsys):
    from duck.servo_profile import SERVO_PROFILE

    factory = [ServoSpec(1, "XL330-M288-T")]
    with SoftwareServo(factory, IdealBackend(), baud=57_600, return_delay=250) as emu:
        code, _, err = run(capsys, "servo", "setup", "--port", emu.path, "--joint", "head_yaw",
                           "--current-id", "1", "--current-baud", "57600", "--baud", str(BAUD))
        assert code == 0, err
        s, gains = emu.servo(32), SERVO_PROFILE.gains_for("XL330-M288-T")
        assert (s.get(Reg.POSITION_P_GAIN), s.get(Reg.POSITION_I_GAIN), s.get(Reg.POSITION_D_GAIN)) == \
            (gains.p, gains.i, gains.d)
        assert gains.p != 400  # not the factory value: setup did write it


READ_BACK_WANTED = [(Reg.MIN_POSITION_LIMIT, 683), (Reg.MAX_POSITION_LIMIT, 3413), (Reg.POSITION_P_GAIN, 475),
                    (Reg.POSITION_I_GAIN, 0), (Reg.ID, 1)]


@contextlib.contextmanager
def written_servo_with_late_replies():
    """(emulator, bus, late_ms): servo 1 holding READ_BACK_WANTED, and a LATE fault's delay that is
    later than one read attempt's deadline and sooner than the retry's, so the retry takes the
    late reply. 9600 baud: each reply takes ~15 ms on the wire, so the retry's own reply lands
    after the next request even when the client is slow on a loaded machine."""
    from firmware_bridge.bus import DynamixelBus

    spec = ServoSpec(1, "XC330-M288-T")
    with SoftwareServo([spec], IdealBackend(), baud=9_600) as emu, \
            DynamixelBus(emu.path, 9_600, [spec], slack_ms=40.0) as bus:
        bus.ping_all()
        for reg, value in READ_BACK_WANTED:
            bus.write_register(1, reg, value, check_alert=False)
        yield emu, bus, bus.port.timeout_ms(30) + 20.0


def test_setup_read_back_survives_a_late_reply():
    """A status reply that comes after its request timed out is taken, by the SDK, as the answer
    to the next read, and every later read gets its predecessor's value (a CI run on a loaded
    machine: P gain read as the max position limit). Setup's read-back drops late replies and
    reads again, so it reports the servo as it is."""
    from firmware_bridge.emulator import Fault, FaultKind
    from firmware_bridge.read_back import read_back

    wanted = READ_BACK_WANTED
    with written_servo_with_late_replies() as (emu, bus, late_ms):
        emu.inject(Fault(FaultKind.LATE, 1, value=late_ms))
        naive = {reg: bus.read_register(1, reg, check_alert=False) for reg, _ in wanted}
        assert naive != dict(wanted) and naive[Reg.MAX_POSITION_LIMIT] == 683  # reads fall behind
        time.sleep(0.2)
        bus.port.clearPort()
        emu.inject(Fault(FaultKind.LATE, 1, value=late_ms))
        assert read_back(bus, 1, wanted) == dict(wanted)


def test_setup_read_back_survives_a_late_reply_in_every_pass():
    """On a machine that stays loaded, a reply can come late in every pass (a CI run read the P
    gain as the max position limit three passes running). The passes after the first read each
    register alone, after late replies have landed and been dropped, so none shifts."""
    from firmware_bridge.emulator import Fault, FaultKind
    from firmware_bridge.read_back import read_back

    wanted = READ_BACK_WANTED
    with written_servo_with_late_replies() as (emu, bus, late_ms):
        plain_read = bus.read_register

        def hiccup_at_each_pass(servo_id, reg, **kwargs):
            if reg is wanted[0][0]:  # the first register of a pass: this pass's reply comes late
                emu.inject(Fault(FaultKind.LATE, 1, value=late_ms))
            return plain_read(servo_id, reg, **kwargs)

        bus.read_register = hiccup_at_each_pass
        assert read_back(bus, 1, wanted) == dict(wanted)
