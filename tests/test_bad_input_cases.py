"""Issue 23's twelve numbered cases: nothing a user types can hurt the robot or lose their work.

Each test is named after its case. ``duck run --sim`` cases run the real CLI in a
subprocess (a NaN ramp or duration would otherwise start or never end a run in the
test process); the rest call :func:`duck.cli.main` in-process.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from policy_fixtures import build_policy
from safe_fixtures import (
    assert_one_line_error,
    cli,
    policy_with_sizes,
    set_metadata,
    snapshot,
    widened_contract_json,
)

from duck.contract import CONTRACT
from duck.runtime.policy import META_CONTRACT_JSON, PolicyError, load_policy
from duck.runtime.telemetry import Telemetry, load_log, parts_dir


def duck(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "duck.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def assert_subprocess_one_line_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    return assert_one_line_error(r.returncode, r.stderr, *needles)


@pytest.fixture(scope="module")
def policies(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("policies")
    return {k: build_policy(d / f"{k}.onnx", k) for k in ("zeros", "nan")}


# ---- 1. NaN passes the runtime's safety checks ------------------------------------------------
@pytest.mark.parametrize("bad", [
    ("--ramp", "nan", "--ramp"), ("--duration", "nan", "--duration"), ("--command", "nan,0,0", "--command"),
    ("--ramp", "inf", "--ramp"), ("--duration", "-1", "--duration"), ("--command", "0.1,0,1e999", "--command"),
])
def test_case1_non_finite_run_numbers_exit_2_before_the_bus_opens(bad, policies, tmp_path) -> None:
    option, value, needle = bad
    log = tmp_path / "run.npz"
    args = {"--ramp": "0.5", "--duration": "1", "--command": "0.1,0,0"}
    args[option] = value
    r = duck("run", "--sim", "--policy", policies["zeros"], "--log", log,
             *[x for kv in args.items() for x in kv], timeout=60)
    assert_subprocess_one_line_error(r, needle)
    # Nothing opened, nothing energised: no log (so no torque event) was even started.
    assert not log.exists() and not parts_dir(log).exists()


def test_case1_runtime_guards_refuse_non_finite_values_as_defence_in_depth() -> None:
    from duck.errors import UserError
    from duck.runtime.runner import RunConfig, Runner
    from duck.runtime.teleop import FixedTeleop

    class NoBus:  # any use of the bus would be a failure of the guard
        def __getattr__(self, name):
            raise AssertionError(f"the bus was touched ({name}) before the guard")

    for cfg in (RunConfig(ramp_s=float("nan")), RunConfig(duration_s=float("nan")), RunConfig(ramp_s=0.0),
                RunConfig(stop_ramp_s=float("inf"))):
        with pytest.raises(UserError):
            Runner(NoBus(), None, FixedTeleop(np.zeros(3)), cfg)
    for command in ((float("nan"), 0, 0), (0.0, float("inf"), 0.0), (4.0, 0, 0)):
        with pytest.raises(UserError):
            FixedTeleop(command)


# ---- 2. A failed run destroys the previous telemetry log -------------------------------------
def test_case2_a_run_that_fails_at_once_keeps_the_previous_log(policies, tmp_path) -> None:
    log = tmp_path / "run.npz"
    previous = Telemetry(log, {"run": "previous"}, flush_s=0.01)
    for k in range(20):
        previous.record(t=k * 0.02, cycle=k)
    previous.close()
    before = log.read_bytes()
    fake_port = tmp_path / "ttyFAKE"  # exists, but is no serial port: the bus fails to open
    fake_port.write_text("")
    r = duck("run", "--policy", policies["zeros"], "--port", fake_port, "--log", log, "--command", "0,0,0",
             "--go")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert log.read_bytes() == before and not parts_dir(log).exists()
    assert load_log(log).meta["run"] == "previous"


def test_case2_telemetry_keeps_a_crashed_runs_chunks_and_the_previous_log(tmp_path) -> None:
    log = tmp_path / "run.npz"
    log.write_bytes(b"previous run's log")
    crashed = Telemetry(log, {"run": "crashed"}, flush_s=0.01)
    crashed.record(t=0.0, cycle=0)
    crashed.flush()
    crashed._queue.put(None)  # the writer stops as a SIGKILL would leave it: chunks, no merge
    crashed._writer.join()
    empty = Telemetry(log, {"run": "failed at once"})
    empty.close()  # no cycle recorded
    assert log.read_bytes() == b"previous run's log"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("run.crashed-") and p.name.endswith(".npz.parts")]
    assert len(kept) == 1
    assert load_log(kept[0].with_name(kept[0].name.removesuffix(".parts"))).meta["run"] == "crashed"


# ---- 3. duck export replaces the file before the parity check --------------------------------
@pytest.mark.parametrize("failure", ["parity", "ctrl-c"])
def test_case3_export_leaves_the_shipped_file_until_the_new_one_is_verified(failure, capsys, tmp_path,
                                                                            monkeypatch) -> None:
    pytest.importorskip("torch")
    import duck.train.export as export_mod

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    out = tmp_path / "walk.onnx"
    build_policy(out, "zeros")
    before = out.read_bytes()

    class Loaded:
        steps, checkpoint = 1, Path("step_1.zip")

    def fake_export(run, path, mirror_average=None):
        build_policy(path, "nan")  # a real, loadable, different policy file
        return path

    def fake_parity(run, path):
        assert Path(path) != out, "parity must check the new file before it replaces --out"
        if failure == "ctrl-c":
            raise KeyboardInterrupt
        return {"observations": 10, "max_abs_error": 1.0}

    monkeypatch.setattr(export_mod, "load_run", lambda run_dir, checkpoint: Loaded())
    monkeypatch.setattr(export_mod, "export", fake_export)
    monkeypatch.setattr(export_mod, "parity_check", fake_parity)
    code, _, err = cli(capsys, "export", run_dir, "--out", out)
    assert code == (1 if failure == "parity" else 130) and "Traceback" not in err
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "walk.onnx"]  # no temp file left


# ---- 4. Bus exceptions other than BusError crash the control loop -----------------------------
def test_case4_a_closed_port_is_a_stale_read_not_an_exception() -> None:
    from servo_fixtures import specs

    from duck.runtime.robot_io import RobotIO, make_bus
    from firmware_bridge.emulator import IdealBackend, SoftwareServo

    emu = SoftwareServo(specs(), IdealBackend(), baud=1_000_000)
    path = emu.start()
    io = RobotIO(make_bus(path, 1_000_000), imu=None)
    io.bus.open()
    io._bus_open = True
    try:
        assert io.read_joints().ok
        emu.stop()  # the emulator's pty end goes away, as a pulled USB adapter takes the tty
        reading = io.read_joints()  # termios.error (EIO) from under the SDK
        assert not reading.ok and reading.detail
        assert io.write_targets(CONTRACT.home) is not None
        released, unconfirmed = io.release()
        assert released == [] and unconfirmed == sorted(CONTRACT.servo_ids)
    finally:
        io.close()
        emu.stop()


@pytest.mark.slow
def test_case4_pulling_the_port_mid_run_ends_in_servo_stale_with_torque_off_attempted(policies, tmp_path) -> None:
    log, out = tmp_path / "run.npz", tmp_path / "out.json"
    # On a shared VM the emulator process can stall long enough for the watchdog to stop the
    # run before the unplug is due (servo_stale, nothing injected): that is the environment, so
    # one more try, as the walk fixture in test_runtime_sim.py does.
    for _ in range(2):
        r = duck("run", "--sim", "--policy", policies["zeros"], "--duration", "4", "--ramp", "0.5",
                 "--fault", "port_unplug@0.3", "--log", log, "--json", out, timeout=90)
        assert "Traceback" not in r.stderr + r.stdout
        assert r.returncode == 4, r.stdout + r.stderr  # servo_stale's documented exit code
        summary = json.loads(out.read_text())
        if summary["injected"]:
            break
    assert summary["faults"][0] == "servo_stale" and summary["injected"] == ["port_unplug"]
    # Torque off was attempted servo by servo and by broadcast; nothing can confirm it on a dead port.
    assert summary["final_state"] == "torque_off_unconfirmed"
    assert summary["torque_off_unconfirmed"] == sorted(CONTRACT.servo_ids)
    run = load_log(log)
    assert run.events_of("servo_stale") and "broadcast torque-off sent" in run.events_of("safe_state")[0]["detail"]
    modes = " ".join(e["detail"] for e in run.events_of("mode"))
    assert "HOLD" in modes and modes.index("HOLD") < modes.index("OFF")


# ---- 5. The policy's embedded contract is trusted, not checked --------------------------------
def test_case5_an_edited_embedded_contract_is_refused(policies, tmp_path) -> None:
    edited = set_metadata(policies["zeros"], tmp_path / "edited.onnx", **{META_CONTRACT_JSON: widened_contract_json()})
    with pytest.raises(PolicyError, match="edited or damaged"):
        load_policy(edited)
    r = duck("run", "--sim", "--policy", edited, "--command", "3.9,0,0", "--duration", "1")
    assert_subprocess_one_line_error(r, "edited or damaged")


def test_case5_a_corrupt_contract_json_with_a_matching_fingerprint_is_a_clean_error(policies, tmp_path,
                                                                                     capsys) -> None:
    corrupt = set_metadata(policies["zeros"], tmp_path / "corrupt.onnx", **{META_CONTRACT_JSON: "{\"joints\": [tr"})
    with pytest.raises(PolicyError, match="unreadable"):
        load_policy(corrupt)
    code, _, err = cli(capsys, "eval", "--policy", corrupt, "--quick")
    assert_one_line_error(code, err, "unreadable")


def test_case5_command_limits_come_from_the_runtimes_contract(policies) -> None:
    from duck.commands.run import _parse_command
    from duck.errors import UserError

    high = CONTRACT.commands.vx_mps.high
    assert _parse_command((high, 0.0, 0.0), CONTRACT.commands)[0] == high
    with pytest.raises(UserError, match="outside"):
        _parse_command((high + 0.01, 0.0, 0.0), CONTRACT.commands)


# ---- 6. Shapes are not checked at load --------------------------------------------------------
@pytest.mark.parametrize("sizes", [
    (CONTRACT.obs_dim + 1, CONTRACT.action_dim, CONTRACT.num_leg_actions),
    (CONTRACT.obs_dim, CONTRACT.action_dim - 1, CONTRACT.num_leg_actions),
    (CONTRACT.obs_dim, CONTRACT.action_dim, CONTRACT.num_leg_actions + 2),
])
def test_case6_wrong_input_or_output_sizes_are_refused_at_load(sizes, tmp_path) -> None:
    path = policy_with_sizes(tmp_path / "sizes.onnx", *sizes)
    with pytest.raises(PolicyError, match="contract needs"):
        load_policy(path)


# ---- 7. Resume can silently reset a run --------------------------------------------------------
TINY = ["--set", "ppo.n_envs=8", "--set", "ppo.n_steps=32", "--set", "ppo.batch_size=128",
        "--set", "checkpoint_every_steps=256", "--set", "eval_every_steps=100000", "--set", "eval_episodes=2"]


@pytest.fixture(scope="module")
def two_checkpoint_run(tmp_path_factory):
    pytest.importorskip("stable_baselines3")
    from duck.cli import main

    run_dir = tmp_path_factory.mktemp("run") / "r"
    assert main(["train", "--run-dir", str(run_dir), "--steps", "512", *TINY]) == 0
    return run_dir


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.slow
def test_case7_empty_config_on_resume_is_an_error_and_nothing_is_rewritten(two_checkpoint_run, tmp_path,
                                                                           capsys) -> None:
    run = _copy_run(two_checkpoint_run, tmp_path / "r")
    (run / "config.yaml").write_text("")
    before = snapshot(run)
    code, _, err = cli(capsys, "train", "--run-dir", run, "--resume", "--steps", "768")
    assert_one_line_error(code, err, "config.yaml is empty")
    assert snapshot(run) == before


@pytest.mark.slow
def test_case7_a_network_shape_edit_is_an_error_naming_it(two_checkpoint_run, tmp_path, capsys) -> None:
    run = _copy_run(two_checkpoint_run, tmp_path / "r")
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("policy_layers:\n  - 128\n  - 128\n  - 128",
                                                  "policy_layers:\n  - 64\n  - 64"))
    before = snapshot(run)
    code, _, err = cli(capsys, "train", "--run-dir", run, "--resume", "--steps", "768")
    assert_one_line_error(code, err, "ppo.policy_layers", "[64, 64]", "[128, 128, 128]")
    assert snapshot(run) == before
    code, _, err = cli(capsys, "train", "--run-dir", _copy_run(two_checkpoint_run, tmp_path / "r2"), "--resume",
                       "--set", "ppo.value_layers=[32]")
    assert_one_line_error(code, err, "ppo.value_layers")


@pytest.mark.slow
def test_case7_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(two_checkpoint_run, tmp_path,
                                                                          capsys) -> None:
    run = _copy_run(two_checkpoint_run, tmp_path / "r")
    latest = run / "checkpoints" / "step_512.zip"
    latest.write_bytes(latest.read_bytes()[:1000])  # torn by a crash or a full disk
    code, _, err = cli(capsys, "train", "--run-dir", run, "--resume", "--steps", "768")
    assert code == 0, err
    assert "step_512.zip is damaged" in err and "falling back" in err and "from step_256.zip" in err
    # Every checkpoint damaged: an error, and config/command records untouched.
    run2 = _copy_run(two_checkpoint_run, tmp_path / "r2")
    for z in (run2 / "checkpoints").glob("step_*.zip"):
        z.write_bytes(b"not a zip")
    before = snapshot(run2)
    code, _, err = cli(capsys, "train", "--run-dir", run2, "--resume", "--steps", "768")
    assert code == 2 and "every checkpoint" in err.splitlines()[-1]
    assert snapshot(run2) == before


# ---- 8. duck eval --set suite.tracking_episodes=0 segfaults -----------------------------------
@pytest.mark.parametrize("override", ["suite.tracking_episodes=0", "suite.push_episodes=-4",
                                      "suite.fixed_seconds=nan", "suite.settle_seconds=20"])
def test_case8_suite_settings_are_validated(override, policies, tmp_path) -> None:
    pytest.importorskip("mujoco")
    r = duck("eval", "--policy", policies["zeros"], "--quick", "--set", override, "--json", tmp_path / "e.json")
    assert_subprocess_one_line_error(r, override.split("=")[0])  # a segfault was exit -11
    assert not (tmp_path / "e.json").exists()


# ---- 9. The config validators let NaN and inf through ----------------------------------------
@pytest.mark.parametrize("override,needle", [
    ("env.physics_dt_s=0.003", "physics_dt_s"), ("ppo.learning_rate=.nan", "learning_rate"),
    ("ppo.learning_rate=1e999", "learning_rate"), ("env.reward.alive=.inf", "alive"),
    ("env.dr.push.magnitude_mps=[0.1, .inf]", "magnitude_mps"), ("seed=1e6", "seed"), ("ppo.n_envs=0", "n_envs"),
])
def test_case9_configs_refuse_non_finite_numbers_and_bad_timesteps(override, needle, capsys, tmp_path) -> None:
    code, _, err = cli(capsys, "train", "--run-dir", tmp_path / "run", "--set", override, "--steps", "256")
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def test_case9_yaml_1_2_floats_parse(tmp_path) -> None:
    from duck.config import load
    from duck.train.config import TrainConfig

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("ppo:\n  learning_rate: 3e-4\n  desired_kl: 1E-2\n")
    cfg = load(TrainConfig, cfg_file, ["ppo.ent_coef=1e-3"])
    assert (cfg.ppo.learning_rate, cfg.ppo.desired_kl, cfg.ppo.ent_coef) == (3e-4, 1e-2, 1e-3)


# ---- 10. Output paths are checked only after the work ----------------------------------------
@pytest.fixture()
def blocked(tmp_path) -> Path:
    """A path no output can be written under (its 'folder' is a regular file), even as root."""
    f = tmp_path / "a_file"
    f.write_text("x")
    return f / "sub"


def test_case10_run_json_is_checked_before_the_robot_moves(policies, blocked) -> None:
    r = duck("run", "--sim", "--policy", policies["zeros"], "--duration", "1", "--ramp", "0.5",
             "--json", blocked / "out.json")
    assert_subprocess_one_line_error(r, "--json")
    assert r.stdout == ""  # no run summary: the robot never ran


def test_case10_calibrate_out_is_checked_before_the_user_poses_the_robot(capsys, blocked) -> None:
    from servo_fixtures import specs

    from firmware_bridge.control_table import Reg
    from firmware_bridge.emulator import IdealBackend, SoftwareServo

    with SoftwareServo(specs(), IdealBackend(), baud=1_000_000) as emu:
        for s in emu.servos:
            s.table[Reg.TORQUE_ENABLE.address] = 1  # as the robot stands after a run
        code, _, err = cli(capsys, "servo", "calibrate", "--port", emu.path, "--yes", "--out",
                           blocked / "calibration.json")
        assert_one_line_error(code, err, "--out")
        assert all(s.torque_on for s in emu.servos)  # the bus was never opened: torque untouched


@pytest.mark.parametrize("argv", [
    ["eval", "--policy", "{zeros}", "--quick", "--json", "{blocked}/e.json"],
    ["eval", "--policy", "{zeros}", "--quick", "--plots", "{blocked}/plots"],
    ["log", "plot", "{log}", "--out", "{blocked}/plots"],
    ["sim", "--policy", "{zeros}", "--video", "{blocked}/walk.mp4", "--seconds", "1"],
    ["bench", "sim", "--envs", "1", "--seconds", "0.5", "--json", "{blocked}/b.json"],
    ["train", "--run-dir", "{blocked}/run", "--steps", "256"],
])
def test_case10_every_output_is_checked_before_the_work(argv, policies, blocked, tmp_path, capsys) -> None:
    log = tmp_path / "run.npz"
    tel = Telemetry(log, {}, flush_s=0.01)
    tel.record(t=0.0, overrun=False, mode=0, bus_ms=0.0, imu_ms=0.0, inference_ms=0.0, other_ms=0.0)
    tel.close()
    args = [a.format(zeros=policies["zeros"], blocked=blocked, log=log) for a in argv]
    option = args[args.index(next(a for a in args if a.startswith(str(blocked)))) - 1]
    code, out, err = cli(capsys, *args)
    assert_one_line_error(code, err, option)
    assert "wrote" not in out and "PASS" not in out and "fail " not in out  # nothing was run


# ---- 11. One torn telemetry chunk makes the post-mortem unreadable -----------------------------
def test_case11_a_torn_chunk_is_skipped_and_named(tmp_path, capsys) -> None:
    log = tmp_path / "run.npz"
    tel = Telemetry(log, {"joint_names": ["a"]}, flush_s=1e9)
    for chunk in range(3):
        for k in range(10):
            tel.record(t=(chunk * 10 + k) * 0.02, overrun=False, mode=2, bus_ms=1.0, imu_ms=0.1,
                       inference_ms=0.2, other_ms=0.3)
        tel.flush()
    tel.event(0.6, 30, "safe_state", "torque off")  # the last chunk of a run: events, no rows
    tel.flush()
    tel._queue.put(None)  # a crash: chunks on disk, never merged
    tel._writer.join()
    torn = parts_dir(log) / "000002.npz"
    torn.write_bytes(torn.read_bytes()[:200])
    run = load_log(log)
    assert len(run) == 20 and any("000002.npz" in s for s in run.skipped)
    assert run.events_of("safe_state") and not any("000004" in s for s in run.skipped)
    code, out, err = cli(capsys, "log", "show", log)
    assert code == 0 and "20 cycles" in out and "000002.npz" in err and "Traceback" not in err


# ---- 12. Smaller -----------------------------------------------------------------------------
def _bom_rows():
    import csv

    from duck import bom

    with bom.BOM_CSV.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write_bom(path: Path, rows, prefix: bytes = b"") -> Path:
    import csv
    import io

    from duck import bom

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=bom.COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(prefix + buf.getvalue().encode())
    return path


def test_case12_bom_check_duplicates_overflow_and_utf8_bom(tmp_path) -> None:
    from duck import bom

    rows = _bom_rows()
    extra = next(r for r in rows if r["category"] != "servo")
    _, problems = bom.parse_bom(_write_bom(tmp_path / "dup.csv", [*rows, dict(extra)]))
    assert any("duplicates row" in p for p in problems)
    big = [dict(r) for r in rows]
    big[-1]["qty"], big[-1]["unit_price_usd"] = "1e300", "1e300"
    _, problems = bom.parse_bom(_write_bom(tmp_path / "inf.csv", big))
    assert any("not a finite number" in p for p in problems)
    _, problems = bom.parse_bom(_write_bom(tmp_path / "excel.csv", rows, prefix=b"\xef\xbb\xbf"))
    assert problems == []
    (tmp_path / "latin1.csv").write_bytes("part\n\xe9\n".encode("latin-1"))
    with pytest.raises(bom.UserError, match="not UTF-8"):
        bom.parse_bom(tmp_path / "latin1.csv")


@pytest.mark.parametrize("argv,needle", [
    (["bench", "sim", "--envs", "0"], "--envs"), (["bench", "sim", "--seconds", "nan"], "--seconds"),
    (["bench", "bus", "--cycles", "0"], "--cycles"), (["bench", "bus", "--bauds", "12345"], "--bauds"),
    (["servo", "monitor", "--port", "/dev/null", "--hz", "0"], "--hz"),
    (["sim", "--size", "0x0", "--video", "x.mp4"], "--size"),
])
def test_case12_bench_monitor_and_sim_numbers_are_validated(argv, needle, capsys, tmp_path) -> None:
    code, out, err = cli(capsys, *argv)
    assert_one_line_error(code, err, needle)
    assert "wrote" not in out


def test_case12_eval_fails_on_a_policy_that_outputs_nan(policies, capsys) -> None:
    pytest.importorskip("mujoco")
    code, _, err = cli(capsys, "eval", "--policy", policies["nan"], "--quick")
    assert code == 1 and "non-finite" in err and "Traceback" not in err


@pytest.mark.slow
def test_case12_ctrl_c_in_training_saves_a_checkpoint_and_keeps_the_earlier_ones(two_checkpoint_run,
                                                                                  tmp_path) -> None:
    run_dir = _copy_run(two_checkpoint_run, tmp_path / "run")
    earlier = {k: v for k, v in snapshot(run_dir).items() if k.startswith("checkpoints/")}
    proc = subprocess.Popen([sys.executable, "-m", "duck.cli", "train", "--run-dir", str(run_dir), "--resume",
                             "--steps", "100000000", "--set", "checkpoint_every_steps=100000000"],
                            stderr=subprocess.PIPE, text=True,
                            # A shell's background job (`nohup pytest &`) ignores SIGINT, and a
                            # child inherits that: then Ctrl-C never reaches Python. A user's
                            # terminal delivers it, so the child gets the default disposition.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len((run_dir / "command.txt").read_text().splitlines()) < 2:  # appended once the model loaded
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        time.sleep(3.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err
    saved = [line for line in err.replace("\r", "\n").splitlines() if "saved checkpoints/step_" in line]
    assert saved, err[-2000:]
    steps = int(saved[0].split("step_")[1].split(".zip")[0])
    assert steps > 512 and (run_dir / "checkpoints" / f"step_{steps}.zip").is_file()
    assert (run_dir / "checkpoints" / f"step_{steps}_vecnormalize.pkl").is_file()
    assert "--resume" in saved[0]
    after = snapshot(run_dir)
    assert all(after.get(k) == v for k, v in earlier.items())  # every earlier checkpoint byte-identical


def test_interrupted_calibrate_and_eval_leave_previous_files_byte_identical(policies, tmp_path, capsys,
                                                                           monkeypatch) -> None:
    """Ctrl-C while the user poses the robot, or during the eval suite: the old outputs stay."""
    from servo_fixtures import specs

    import duck.evaluation.suite
    from firmware_bridge.emulator import IdealBackend, SoftwareServo

    cal = tmp_path / "calibration.json"
    cal.write_text('{"previous": true}\n')

    class CtrlC:
        def readline(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", CtrlC())
    with SoftwareServo(specs(), IdealBackend(), baud=1_000_000) as emu:
        code, _, _ = cli(capsys, "servo", "calibrate", "--port", emu.path, "--out", cal)
    assert code == 130 and cal.read_text() == '{"previous": true}\n'

    out = tmp_path / "eval.json"
    out.write_text('{"previous": true}\n')

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(duck.evaluation.suite, "run_suite", interrupted)
    code, _, _ = cli(capsys, "eval", "--policy", policies["zeros"], "--json", out)
    assert code == 130 and out.read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration.json", "eval.json"]


def test_outputs_never_replace_a_device_or_fifo(tmp_path) -> None:
    """`--json /dev/null` must not rename a file over the device node (we run as root in CI)."""
    from duck.atomic import check_writable
    from duck.errors import UserError

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/null", fifo):
        with pytest.raises(UserError, match="not a regular file"):
            check_writable(path)


def test_case12_readme_says_what_ctrl_c_in_training_keeps() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "Ctrl-C" in readme and "saves a checkpoint" in readme


def test_number_layer_basics() -> None:
    """The shared layer: finite, in range, integers where integers."""
    from duck.validation import number_problem

    assert number_problem(1.0, 0, 2) is None
    assert "finite" in number_problem(math.nan)
    assert "finite" in number_problem(math.inf, 0)
    assert "integer" in number_problem(2.0, integer=True)
    assert "integer" in number_problem(True, integer=True)
    assert "out of range" in number_problem(0.0, 0.0, low_open=True)
