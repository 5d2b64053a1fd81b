"""The servo-model options of `duck run --sim` and `duck servo emulate`: bad input is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from policy_fixtures import build_policy


def duck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "duck.cli", *args], capture_output=True, text=True, timeout=60)


def assert_one_line_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture(scope="module")
def zeros(tmp_path_factory):
    return build_policy(tmp_path_factory.mktemp("p") / "zeros.onnx")


def test_run_sim_options_need_sim_and_sane_values(zeros, tmp_path):
    assert_one_line_error(duck("run", "--policy", str(zeros), "--port", "/dev/null", "--sim-supply-v", "5"),
                          "need --sim")
    assert_one_line_error(duck("run", "--policy", str(zeros), "--sim", "--sim-supply-v", "-1"), "--sim-supply-v")
    assert_one_line_error(duck("run", "--policy", str(zeros), "--sim", "--sim-servo-profile",
                               str(tmp_path / "missing.json")), "servo profile not found")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    assert_one_line_error(duck("run", "--policy", str(zeros), "--sim", "--sim-servo-profile", str(bad)),
                          "not an open-duck servo profile")


def test_emulate_servo_model_options_need_the_mujoco_backend(tmp_path):
    assert_one_line_error(duck("servo", "emulate", "--backend", "ideal", "--supply-v", "5"), "--backend mujoco")
    assert_one_line_error(duck("servo", "emulate", "--backend", "mujoco", "--supply-v", "0"), "--supply-v")
    assert_one_line_error(duck("servo", "emulate", "--backend", "mujoco", "--servo-profile",
                               str(tmp_path / "none.json")), "not found")
