"""duck sysid: record through the real dynamixel-sdk, fit by replay in MuJoCo, compare a run.

The acceptance checks of issue 20's identification part:
- a hidden servo (stiffness-equivalent x1.4, Coulomb x2, backlash 0.5 deg, supply -10 %) on the
  software servo is recorded with ``duck sysid record`` and fitted with ``duck sysid fit``: every
  parameter within 15 %, trajectory RMSE >= 3x lower than the datasheet model's
  (benchmarks/sysid_recovery.py, here with a small budget);
- ``duck sysid compare`` on ``duck run --sim`` logs: small when sim and emulator agree, large when
  the emulator ran other servo parameters, small again when compare is given those parameters.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from duck.sysid.excitation import Program, Segment, default_program
from duck.sysid.load import TestArm
from duck.sysid.recording import load_sysid_log, record, replay_times
from duck.sysid.rig_backend import RigServoBackend
from firmware_bridge import DynamixelBus, ServoSpec
from firmware_bridge.emulator import SoftwareServo
from firmware_bridge.servo_model import load_profile, save_profile, servo_params

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import sysid_recovery  # noqa: E402
from policy_fixtures import build_policy  # noqa: E402

MODEL = "XC330-M288-T"


def duck(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "duck.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _short_program(rate_hz: float = 200.0) -> Program:
    """0.4 s hanging, then a 20 deg step held 1 s: enough to see gravity sag and the drive."""
    n0, n1 = int(0.4 * rate_hz), int(1.0 * rate_hz)
    goal = np.concatenate([np.zeros(n0), np.full(n1, math.radians(20))])
    t = np.arange(len(goal)) / rate_hz
    return Program(t, goal, (Segment("settle", 0.0, 0.4), Segment("steps", 0.4, t[-1] + 1 / rate_hz)))


def test_excitation_visits_every_part_within_the_amplitude() -> None:
    p = default_program(200.0, scale=1.0, amplitude_deg=60.0)
    assert [s.name for s in p.segments] == ["settle", "hold", "steps", "reversal", "chirp"]
    assert np.max(np.abs(p.goal_rad)) <= math.radians(60.0) + 1e-9
    assert 25.0 < p.duration_s < 45.0
    with pytest.raises(ValueError):
        default_program(200.0, amplitude_deg=170.0)


def test_record_logs_every_channel_at_the_requested_rate(tmp_path) -> None:
    """Through the real SDK on a pty: goal, position, velocity, current, PWM, voltage, servo clock."""
    params = servo_params(MODEL)
    spec = [ServoSpec(1, MODEL)]
    with SoftwareServo(spec, RigServoBackend(params, TestArm(0.1, 0.1), supply_v=4.6)) as emu:
        with DynamixelBus(emu.path, 1_000_000, spec, latency_ms=6.0) as bus:
            log = record(bus, 1, _short_program(), TestArm(0.1, 0.1))
    assert log.rate_hz >= 100.0
    ok = log["ok"]
    assert ok.mean() > 0.9
    # the emulated supply, read from Present Input Voltage: 4.6 V at rest, sagging a little under
    # load behind the emulator's supply resistance (firmware_bridge/emulator/power.py)
    volts = log["voltage_v"][ok]
    assert np.max(volts) == pytest.approx(4.6) and np.min(volts) >= 4.4
    held = ok & (log["t_s"] > 1.0)
    # Holding 20 deg against gravity: the servo sags a little below the goal, and drives to hold it.
    err = log["goal_rad"][held] - log["position_rad"][held]
    assert 0.0 < np.median(err) < math.radians(3)
    assert np.median(log["pwm"][held]) > 0.005 and np.median(log["current_a"][held]) > 0.0
    t_goal, t_sample = replay_times(log)
    assert np.all(np.diff(t_sample[ok]) >= 0) and np.all(t_goal < t_sample)
    assert log.meta["settings"]["position_p_gain"] == params.factory_gains.p
    path = log.save(tmp_path / "log.npz")
    again = load_sysid_log(path)
    assert again.meta == log.meta and np.array_equal(again["position_rad"], log["position_rad"], equal_nan=True)


def test_cli_errors_are_one_line_and_keep_previous_files(tmp_path) -> None:
    out = tmp_path / "log.npz"
    out.write_bytes(b"previous")
    r = duck("sysid", "record", "--port", str(tmp_path / "no_such_port"), "--mass", "0.1", "--length", "0.1",
             "--out", str(out), "--quiet", timeout=60)
    assert r.returncode == 2 and r.stderr.strip().count("\n") <= 1 and "Traceback" not in r.stderr
    assert out.read_bytes() == b"previous"
    r = duck("sysid", "fit", str(tmp_path / "missing.npz"), "--servo-model", MODEL, "--out", str(tmp_path / "p.json"))
    assert r.returncode == 2 and "no such log" in r.stderr
    r = duck("sysid", "record", "--port", "/dev/null", "--mass", "-1", "--length", "0.1", "--out", str(out))
    assert r.returncode == 2 and "mass" in r.stderr
    r = duck("sysid", "compare", str(tmp_path / "missing_run.npz"))
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_identification_recovers_a_hidden_servo(tmp_path) -> None:
    """Record the hidden servo through `duck sysid record` (half-length program), fit with `duck sysid fit`.

    The fit runs the benchmark's full search (30 generations, 12 polish steps): with 15 generations
    friction and backlash, which trade off against each other, came out 17-48 % off on 4 of 12
    recordings (one a CI failure); with 30, all 10 recordings tried were within 9 %."""
    result = sysid_recovery.run(tmp_path, scale=0.5, generations=30, popsize=8, polish=12)
    for name, p in result["parameters"].items():
        assert abs(p["ratio"] - 1.0) <= sysid_recovery.TOLERANCE, (name, p)
    assert result["rmse_ratio"] >= sysid_recovery.MIN_RMSE_RATIO, result
    assert result["rate_hz"] >= 100.0
    # The profile is the servo model's own format: the loader takes it, and so do the sim's actuators
    # (training) and the software servo.
    params, data = load_profile(result["profile"])
    assert params.model == MODEL
    assert params.backlash_rad == pytest.approx(result["parameters"]["backlash_rad"]["fitted"])
    assert data["sysid"]["fit"]["rmse_after_deg"] < data["sysid"]["fit"]["rmse_before_deg"]
    from duck.sim.actuators import JointServos
    from duck.sim.servo_backend import MujocoServoBackend, load_servo_overrides

    overrides = load_servo_overrides([result["profile"]])
    servos = JointServos.build(overrides=overrides)
    assert params in servos.params
    backend = MujocoServoBackend(overrides=overrides)
    assert params in backend.params
    assert Path(result["plot"]).stat().st_size > 10_000


# ---- compare -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_logs(tmp_path_factory) -> dict[str, Path]:
    """Two `duck run --sim` logs (start-up ramp from the emulator's rest pose to home, then a standing
    policy): the emulator at the datasheet servo model, and at a different one (half the error gain,
    3x Coulomb friction, 1.5 deg backlash on the XC330s)."""
    tmp = tmp_path_factory.mktemp("compare")
    policy = build_policy(tmp / "stand.onnx", "zeros")
    base = servo_params(MODEL)
    other = tmp / "other_xc330.json"
    save_profile(other, base.with_overrides(source="test: other servo", duty_per_p_rad=base.duty_per_p_rad * 0.5,
                                             friction_coulomb_nm=base.friction_coulomb_nm * 3,
                                             backlash_rad=math.radians(1.5)))
    logs = {"other_profile": other}
    for name, extra in (("agree", []), ("other", ["--sim-servo-profile", str(other)])):
        path = tmp / f"{name}.npz"
        duck("run", "--sim", "--policy", str(policy), "--duration", "3", "--log", str(path), *extra, timeout=120)
        logs[name] = path  # a run that ended early (a busy machine) still leaves a log to compare
    return logs


def _compare(log: Path, *extra: str) -> dict:
    out = log.with_name(log.stem + f"_{len(extra)}.json")
    r = duck("sysid", "compare", str(log), "--json", str(out), *extra, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


@pytest.mark.slow
def test_compare_is_small_when_sim_and_emulator_agree_and_large_when_not(run_logs) -> None:
    agree = _compare(run_logs["agree"])
    other = _compare(run_logs["other"])
    told = _compare(run_logs["other"], "--profile", str(run_logs["other_profile"]))
    assert agree["cycles"] >= 25 and other["cycles"] >= 25
    assert agree["rmse_all_deg"] < 1.0, agree  # sub-degree: the sim is the emulated robot
    assert other["rmse_all_deg"] > 3 * agree["rmse_all_deg"], (agree, other)
    # Told the emulator's parameters, compare closes most of the gap (the 1.5 deg dead band leaves
    # some stick-slip the replay cannot time exactly).
    assert told["rmse_all_deg"] < 0.5 * other["rmse_all_deg"], (told, other)
    legs = [n for n in agree["rmse_deg"] if n.endswith(("knee", "hip_pitch", "ankle"))]
    assert max(other["rmse_deg"][n] for n in legs) > 1.0
    assert Path(agree["plot"]).stat().st_size > 10_000


def test_recording_side_runs_without_the_sim_stack() -> None:
    """`duck sysid record` runs on the Pi: its import path pulls no MuJoCo, scipy, matplotlib or torch."""
    heavy = ("torch", "stable_baselines3", "gymnasium", "mujoco", "scipy", "matplotlib")
    code = (
        "import sys\n"
        "import duck.commands.sysid, duck.sysid.recording, duck.sysid.excitation, duck.sysid.progress\n"
        "import duck.cli; duck.cli.build_parser()\n"
        f"print(','.join(h for h in {heavy!r} if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"sysid record imported {out.stdout.strip()}"
