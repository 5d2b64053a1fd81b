"""Bad input to `duck run`: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from policy_fixtures import build_policy, other_contract


def duck_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "duck.cli", "run", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return build_policy(tmp_path_factory.mktemp("p") / "zeros.onnx")


def assert_one_line_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_wrong_policy_file(tmp_path) -> None:
    bad = tmp_path / "walk.onnx"
    bad.write_text("not a model")
    assert_one_line_error(duck_run("--policy", str(bad), "--port", "/dev/null"), "not a loadable ONNX")
    assert_one_line_error(duck_run("--policy", str(tmp_path / "nope.onnx")), "not found")


def test_contract_mismatch(tmp_path) -> None:
    p = build_policy(tmp_path / "old.onnx", contract=other_contract())
    assert_one_line_error(duck_run("--policy", str(p), "--port", "/dev/null"), "control_rate_hz")


def test_missing_port(good) -> None:
    assert_one_line_error(duck_run("--policy", str(good), "--port", "/dev/ttyDOESNOTEXIST"), "/dev/ttyDOESNOTEXIST")
    # No --port and no U2D2 on this machine: the error lists what was seen.
    assert_one_line_error(duck_run("--policy", str(good)), "no U2D2", "serial ports seen")


def test_bad_calibration(good, tmp_path) -> None:
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"version": 1, "joints": {"right_knee": {"zero_ticks": 2048, "direction": 1}}}))
    assert_one_line_error(duck_run("--policy", str(good), "--calibration", str(cal)), "missing joint")


def test_bad_imu_config(good, tmp_path) -> None:
    cfg = tmp_path / "imu.yaml"
    cfg.write_text("mount: x,y,-z\n")
    assert_one_line_error(duck_run("--policy", str(good), "--imu-config", str(cfg)), "bad IMU config", "reflection")


def test_bad_command_and_fault(good) -> None:
    assert_one_line_error(duck_run("--sim", "--policy", str(good), "--command", "5,0,0"), "command ranges")
    assert_one_line_error(duck_run("--sim", "--policy", str(good), "--fault", "gremlins"), "unknown fault")
    assert_one_line_error(duck_run("--policy", str(good), "--fault", "crc"), "needs --sim")
