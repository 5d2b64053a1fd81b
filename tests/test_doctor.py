"""`duck doctor --sim`: every check runs for real (dynamixel-sdk over the software servo's pty),
passes on a correct setup, and each injected misconfiguration makes exactly its check fail,
with the fix in one line."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from policy_fixtures import build_policy

from duck.cli import main
from duck.contract import CONTRACT
from duck.doctor.checks import CHECK_IDS, suggest_mount
from duck.doctor.sim_rig import INJECTIONS
from duck.runtime.imu import parse_mount


def doctor(capsys, *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--sim", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return build_policy(tmp_path_factory.mktemp("p") / "zeros.onnx", "zeros")


def test_good_setup_passes_every_check(capsys, policy):
    code, out = doctor(capsys, "--policy", str(policy))
    assert code == 0 and out["safe_to_run"] and out["sim"]
    assert [c["id"] for c in out["checks"]] == list(CHECK_IDS)  # every check ran, in order
    assert {c["status"] for c in out["checks"]} == {"pass"}, out


# The issue's list first, then the rest of the injections.
ISSUE = ["wrong_id", "wrong_baud", "return_delay", "wrong_gain", "missing_servo", "flipped_imu",
         "calibration_sign", "low_voltage", "high_temperature"]


@pytest.mark.parametrize("name", ISSUE + [n for n in INJECTIONS if n not in ISSUE and n != "no_gamepad"])
def test_each_injection_fails_exactly_its_check(capsys, policy, name):
    code, out = doctor(capsys, "--policy", str(policy), "--inject", name)
    expected = INJECTIONS[name][1]
    failed = [c for c in out["checks"] if c["status"] == "fail"]
    assert [c["id"] for c in failed] == [expected], failed
    assert code == 1 and not out["safe_to_run"]
    fix = failed[0]["fix"]
    assert fix and "\n" not in fix and failed[0]["detail"]
    # Nothing else is wrong: the rest pass, or are skipped because of this failure.
    assert all(c["status"] in ("pass", "skip") for c in out["checks"] if c["id"] != expected)


def test_fix_lines_say_what_to_do(capsys, policy):
    by_id = {}
    for name in ("wrong_id", "wrong_baud", "return_delay", "flipped_imu", "calibration_sign", "latency"):
        _, out = doctor(capsys, "--inject", name)
        by_id[name] = next(c for c in out["checks"] if c["status"] == "fail")
    assert "--joint right_hip_pitch --current-id 1" in by_id["wrong_id"]["fix"]
    assert "--current-baud 57600 --baud 2000000" in by_id["wrong_baud"]["fix"]
    assert "return delay 250" in by_id["return_delay"]["detail"] and "duck servo setup --all" in \
        by_id["return_delay"]["fix"]
    assert 'mount: "x,-y,-z"' in by_id["flipped_imu"]["fix"]
    assert "direction of right_hip_pitch looks flipped" in by_id["calibration_sign"]["fix"]
    assert "latency_timer" in by_id["latency"]["fix"] and "16 ms" in by_id["latency"]["detail"]


def test_injection_on_another_servo_and_a_missing_gamepad_only_warns(capsys):
    code, out = doctor(capsys, "--inject", "wrong_gain:left_knee", "--inject", "no_gamepad")
    failed = [c for c in out["checks"] if c["status"] == "fail"]
    assert len(failed) == 1 and "23 (left_knee)" in failed[0]["detail"]
    assert next(c for c in out["checks"] if c["id"] == "gamepad")["status"] == "warn"
    code, out = doctor(capsys, "--inject", "no_gamepad")
    assert code == 0 and out["safe_to_run"]


def test_policy_for_another_contract_fails_the_contract_check(capsys, tmp_path):
    other = replace(CONTRACT, control_rate_hz=25.0)
    bad = build_policy(tmp_path / "other.onnx", "zeros", contract=other)
    code, out = doctor(capsys, "--policy", str(bad))
    failed = [c for c in out["checks"] if c["status"] == "fail"]
    assert code == 1 and [c["id"] for c in failed] == ["policy_contract"] and "control_rate_hz" in failed[0]["detail"]


def test_text_report(capsys):
    assert main(["doctor", "--sim", "--inject", "return_delay"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  bus_settings" in out and "fix: duck servo setup --all" in out and "NOT safe to run" in out
    assert main(["doctor", "--inject", "return_delay"]) == 2  # --inject needs --sim: a user error


@pytest.mark.parametrize("mount", ["x,y,z", "x,-y,-z", "y,-x,z", "-x,-y,z", "z,y,-x"])
def test_suggested_mount_makes_upright_read_upright(mount):
    actual = parse_mount(mount)  # the true mounting; the config says x,y,z
    gravity_sensor = actual.T @ np.array([0.0, 0.0, -1.0])
    suggestion = parse_mount(suggest_mount(gravity_sensor, np.eye(3)))
    assert np.allclose(suggestion @ gravity_sensor, [0.0, 0.0, -1.0])


def test_real_robot_path_without_hardware_fails_cleanly(capsys, tmp_path):
    """No U2D2, no I2C on this machine: the port fails with its fix, the bus checks are skipped
    (the port is the one thing to fix), and there is no traceback."""
    code = main(["doctor", "--port", str(tmp_path / "ttyUSB9"), "--yes", "--json"])
    out = json.loads(capsys.readouterr().out)
    status = {c["id"]: c["status"] for c in out["checks"]}
    assert code == 1 and status["port"] == "fail" and "plug in the U2D2" in out["checks"][0]["fix"]
    assert all(status[c] == "skip" for c in ("latency", "baud", "servos", "bus_settings", "gains", "supply"))
    assert status["imu"] in ("fail", "pass") and status["gamepad"] in ("warn", "pass")
