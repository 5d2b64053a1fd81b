"""``duck servo`` on a Feetech bus: scan names variants, setup verifies EEPROM by read-back and
refuses while torque is on, calibration writes offsets into EEPROM and moves nothing."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

import duck.contract
from duck.cli import main
from duck.contract import CONTRACT
from firmware_bridge import ServoSpec
from firmware_bridge.emulator import IdealBackend
from firmware_bridge.emulator.feetech_server import FeetechSoftwareServo
from firmware_bridge.feetech.control_table import RAD_PER_TICK, Reg

BAUD = 1_000_000


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def feetech_contract(monkeypatch):
    """The contract's joints on STS3215 C001s (what the v2 contract will name)."""
    joints = tuple(dataclasses.replace(j, servo_model="STS3215-C001") for j in CONTRACT.joints)
    monkeypatch.setattr(duck.contract, "CONTRACT", dataclasses.replace(CONTRACT, joints=joints))
    return duck.contract.CONTRACT


def test_help_names_families_and_variants(capsys):
    with pytest.raises(SystemExit):
        main(["servo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("XC330-M288-T", "XL330-M288-T", "STS3215-C001", "STS3215-C044", "STS3215-C046",
                 "STS3215-C018", "STS3250"):
        assert name in text


def test_scan_names_variant_by_what_the_servo_reports(capsys):
    servos = [ServoSpec(1, "STS3215-C001"), ServoSpec(2, "STS3215-C018"), ServoSpec(3, "STS3250")]
    with FeetechSoftwareServo(servos, IdealBackend(), baud=BAUD) as emu:
        code, out, err = run(capsys, "servo", "scan", "--port", emu.path, "--family", "feetech",
                             "--baud", str(BAUD))
    assert code == 0, err
    rows = out.strip().splitlines()[1:]
    assert len(rows) == 3
    assert "STS3215" in rows[0] and "3.10" in rows[0] and "7.4V class" in rows[0] and "C044" in rows[0]
    assert "STS3215-C018" in rows[1] and "STS3250" in rows[2]


def test_setup_one_servo_verified_and_refused_with_torque_on(capsys):
    with FeetechSoftwareServo([ServoSpec(1, "STS3215-C001")], IdealBackend(), baud=BAUD) as emu:
        emu.servo(1).write(Reg.TORQUE_ENABLE.address, b"\x01")
        code, _, err = run(capsys, "servo", "setup", "--port", emu.path, "--id", "21", "--model", "STS3215-C001",
                           "--p-gain", "32", "--d-gain", "0")
        assert code == 2 and "torque on" in err and "--torque-off" in err and "Traceback" not in err
        assert emu.servo(1).servo_id == 1  # nothing written
        time.sleep(0.2)  # a reply that came late on the loaded machine lands before the next connection
        code, out, err = run(capsys, "servo", "setup", "--port", emu.path, "--id", "21", "--model", "STS3215-C001",
                             "--p-gain", "32", "--d-gain", "0", "--torque-off")
        assert code == 0, err
        assert "id 1 -> 21" in out and "verified" in out
        s = emu.servo(21)
        assert s.raw(Reg.D_COEFFICIENT) == 0 and s.raw(Reg.LOCK) == 1
        emu.power_cycle()  # saved, not just live: written with Lock 0
        assert emu.servo(21).raw(Reg.D_COEFFICIENT) == 0


def test_setup_changes_baud_and_verifies_at_the_new_one(capsys):
    with FeetechSoftwareServo([ServoSpec(1, "STS3215-C001")], IdealBackend(), baud=BAUD) as emu:
        code, out, err = run(capsys, "servo", "setup", "--port", emu.path, "--id", "5", "--model", "STS3215-C001",
                             "--baud", "500000")
        assert code == 0, err
        assert emu.servo(5).baud == 500_000


def test_calibrate_writes_offsets_to_eeprom_and_moves_nothing(feetech_contract, tmp_path, capsys):
    specs = [ServoSpec(j.servo_id, j.servo_model) for j in feetech_contract.joints]
    with FeetechSoftwareServo(specs, IdealBackend(tau_s=0.01), baud=BAUD) as emu:
        where = {j.servo_id: (37 * (k + 1)) % 700 - 350 for k, j in enumerate(feetech_contract.joints)}
        for sid, ticks in where.items():
            emu.backend.set_position(sid, ticks * RAD_PER_TICK)  # the robot, by hand, in the zero pose
        out_file = tmp_path / "cal.json"
        code, out, err = run(capsys, "servo", "calibrate", "--port", emu.path, "--out", str(out_file), "--yes")
        assert code == 0, err
        for sid, ticks in where.items():
            s = emu.servo(sid)
            assert s.get(Reg.OFFSET) == ticks and s.get(Reg.PRESENT_POSITION) == 2048
            assert emu.backend.read(sid)[0] == pytest.approx(ticks * RAD_PER_TICK)  # nothing moved
            assert not s.torque_on
        emu.power_cycle()
        assert all(emu.servo(sid).get(Reg.PRESENT_POSITION) == 2048 for sid in where)  # saved in EEPROM
        saved = json.loads(out_file.read_text())["joints"]
        assert {v["zero_ticks"] for v in saved.values()} == {2048}
        code, out, err = run(capsys, "servo", "monitor", "--port", emu.path, "--calibration", str(out_file), "--once")
        assert code == 0, err
        assert all(abs(float(row.split()[2])) < 0.002 for row in out.strip().splitlines()[1:])
        code, _, err = run(capsys, "servo", "reboot", "--port", emu.path, "--id", "10")
        assert code == 2 and "no reboot instruction" in err


def test_mujoco_backend_drives_the_software_sts(feetech_contract):
    """The sim's MuJoCo servo backend plugs into the Feetech software servo unchanged; the
    real SDK (through FeetechBus) reads the joints move under torque."""
    import numpy as np

    from duck.servo_profile import RobotServoProfile
    from duck.sim.servo_backend import MujocoServoBackend
    from firmware_bridge import make_bus
    from firmware_bridge.servo_model import FirmwareGains

    specs = [ServoSpec(j.servo_id, j.servo_model) for j in feetech_contract.joints]
    # Upstream v2's firmware settings (FACTS.md): P 32, I 0, D 0 on a 2S pack.
    v2 = RobotServoProfile(name="v2-test", gains={"STS3215-C001": FirmwareGains(p=32, i=0, d=0)},
                           supply_range_v=(7.0, 8.4), nominal_supply_v=7.4)
    backend = MujocoServoBackend(contract=feetech_contract, profile=v2)
    # Generous slack: the physics thread shares the interpreter with the servo thread here
    # (the runtime's --sim runs them in their own process); timing is not what this tests.
    with FeetechSoftwareServo(specs, backend, baud=BAUD) as emu, \
            make_bus(emu.path, BAUD, specs, retries=5, slack_ms=20.0, max_stale_reads=50) as bus:
        bus.ping_all()
        home = bus.read_state().position_rad
        np.testing.assert_allclose(home, [j.home_rad for j in feetech_contract.joints], atol=0.05)
        head = [k for k, j in enumerate(feetech_contract.joints) if j.group == "head"]
        with bus.torque_enabled():
            goal = home.copy()
            goal[head] += 0.2
            for _ in range(40):
                bus.write_goal_positions(goal)
                bus.read_state()
                time.sleep(0.01)
            state = bus.read_state()
        assert np.all(np.abs(state.position_rad[head] - home[head]) > 0.05), state.position_rad[head]
        assert state.load is not None and np.all(np.isfinite(state.load))
        assert emu.stats["replies"] > 0


def test_bench_bus_family_feetech_runs_the_v2_cycle(tmp_path, capsys):
    """The benchmark itself (numbers are its output, not asserted): 14 STS3215 at 1 Mbps."""
    out_file = tmp_path / "bus.json"
    code, out, err = run(capsys, "bench", "bus", "--family", "feetech", "--cycles", "30", "--json", str(out_file))
    assert code == 0, err
    rows = json.loads(out_file.read_text())
    assert [(r["family"], r["baud"], r["wire_bound_ms"]) for r in rows] == [("feetech", 1_000_000, 2.4)]
    assert rows[0]["p95_ms"] >= rows[0]["cycle_ms"] > rows[0]["wire_bound_ms"]
    assert "14 feetech servos (STS3215-C001)" in out
