"""`duck run` and the policy's servo profile: it refuses a supply outside the trained range before
anything is energised, and writes (and logs) exactly the profile's gains after the start-up ramp.
Through the real CLI, the real dynamixel-sdk and the MuJoCo software servo running the servo model."""

from __future__ import annotations

import subprocess
import sys

import pytest
from policy_fixtures import build_policy

from duck.runtime.telemetry import load_log
from duck.servo_profile import SERVO_PROFILE

pytestmark = pytest.mark.slow


def duck_run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "duck.cli", "run", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def zeros(tmp_path_factory):
    return build_policy(tmp_path_factory.mktemp("p") / "zeros.onnx", "zeros")


@pytest.mark.parametrize("volts", ["7.4", "4.2"])
def test_supply_outside_the_trained_range_exits_2_with_nothing_energised(zeros, tmp_path, volts):
    log = tmp_path / "run.npz"
    r = duck_run("--sim", "--policy", str(zeros), "--duration", "1", "--sim-supply-v", volts, "--log", str(log))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert f"{float(volts):.1f} V" in lines[0] and "4.5-5.3 V" in lines[0] and "nothing was energised" in lines[0]
    kinds = {e["kind"] for e in load_log(log).events}
    assert "torque" not in kinds and "gains" not in kinds


def test_the_profile_gains_are_written_after_the_ramp_and_logged(zeros, tmp_path):
    log = tmp_path / "run.npz"
    for attempt in range(2):  # a stalled shared VM can trip the timing watchdogs (exit 4/7); not the point here
        r = duck_run("--sim", "--policy", str(zeros), "--duration", "1", "--ramp", "0.5", "--log", str(log))
        if r.returncode not in (4, 7) or attempt == 1:
            break
    assert "Traceback" not in r.stderr
    run = load_log(log)
    (gains,) = run.events_of("gains")
    for model, g in SERVO_PROFILE.gains.items():
        assert f"{model} P {g.p} I {g.i} D {g.d}" in gains["detail"]
    assert run.events_of("supply")[0]["detail"].startswith("5.0-5.0 V")
    torque = run.events_of("torque")[0]
    assert torque["t"] < gains["t"]
