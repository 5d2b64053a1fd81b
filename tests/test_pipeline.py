"""train -> export -> eval, end to end on a tiny run, through the real CLI (SB3, torch, onnxruntime, MuJoCo)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from duck.cli import main
from duck.contract import CONTRACT
from duck.runtime import policy as policy_file
from duck.train.runner import curriculum_state_path, latest_checkpoint, saved_push_scale

TINY = ["--set", "ppo.n_envs=8", "--set", "ppo.n_steps=32", "--set", "ppo.batch_size=128",
        "--set", "checkpoint_every_steps=256", "--set", "eval_every_steps=512", "--set", "eval_episodes=2",
        # checkpoint scoring on a suite shrunk to seconds
        "--set", "score.every_steps=512", "--set", "score.start_steps=0", "--set", "score.tracking_episodes=1",
        "--set", "score.push_episodes=4", "--set", "score.transfer=false",
        "--set", "score.suite=[fixed_seconds=3.0, tracking_seconds=3.0, push_seconds=3.0, push_at_seconds=1.0, "
        "sim2sim=false]"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    assert main(["train", "--run-dir", str(run_dir), "--steps", "768", *TINY]) == 0
    return run_dir


@pytest.fixture(scope="module")
def exported(trained_run):
    out = trained_run / "exported.onnx"
    assert main(["export", str(trained_run), "--out", str(out), "--skip-parity", "--latest"]) == 0
    return out


def test_train_writes_config_commit_checkpoints_and_evals(trained_run):
    for name in ("config.yaml", "command.txt", "git_commit.txt", "evals.jsonl"):
        assert (trained_run / name).is_file(), name
    zip_path, norm = latest_checkpoint(trained_run)
    assert int(zip_path.stem.split("_")[1]) >= 768 and norm.is_file()
    assert list((trained_run / "tb").rglob("events.*"))
    evals = [json.loads(line) for line in (trained_run / "evals.jsonl").read_text().splitlines()]
    assert {"survival_rate", "lin_vel_rmse_mps", "steps"} <= set(evals[0])


def test_train_scores_checkpoints_keeps_the_best_and_export_takes_it(trained_run, tmp_path, capsys):
    from duck.train.scoring import best_checkpoint, rank_key, read_scores

    scores = read_scores(trained_run)
    # every 512 steps and the final checkpoint, each scored once
    assert [s["steps"] for s in scores] == [512, 768]
    for s in scores:
        assert s["passed"] <= s["of"] and s["wall_s"] > 0 and s["score_seconds"] > 0
        assert "tracking survival with head motion" in s["items"]
    zip_path, best = best_checkpoint(trained_run)
    assert rank_key(best) == max(rank_key(s) for s in scores)
    assert zip_path.parent == trained_run / "best" and zip_path.with_name(zip_path.stem + "_vecnormalize.pkl").is_file()
    assert (trained_run / "scores.png").stat().st_size > 0
    assert not list((trained_run / "scoring").glob("*.zip"))  # scored copies are removed
    capsys.readouterr()
    assert main(["export", str(trained_run), "--out", str(tmp_path / "best.onnx"), "--skip-parity"]) == 0
    printed = capsys.readouterr().out
    assert f"from {zip_path.name}" in printed and "best by the walk bar" in printed
    assert policy_file.load_policy(tmp_path / "best.onnx").steps == best["steps"]
    assert main(["export", str(trained_run), "--out", str(tmp_path / "latest.onnx"), "--skip-parity",
                 "--latest"]) == 0
    assert policy_file.load_policy(tmp_path / "latest.onnx").steps == int(latest_checkpoint(trained_run)[0].stem[5:])


def test_resume_continues_the_step_count_and_the_kick_curriculum(trained_run):
    zip_path = latest_checkpoint(trained_run)[0]
    before = int(zip_path.stem.split("_")[1])
    assert saved_push_scale(zip_path) is not None
    # A scale the tiny run could not have reached by itself: a fresh curriculum starts at 0.
    # The run's clock goes on from the checkpoint's (an hour in), not from 0, in every record.
    curriculum_state_path(zip_path).write_text(json.dumps({"push_scale": 0.5, "wall_s": 3600.0}))
    assert main(["train", "--run-dir", str(trained_run), "--resume", "--steps", str(before + 256),
                 "--set", "ppo.learning_rate=0.000123", "--set", "ppo.n_epochs=2"]) == 0
    after = int(latest_checkpoint(trained_run)[0].stem.split("_")[1])
    assert after >= before + 256
    # one adaptive step (0.02) per rollout of 256 steps, from where the checkpoint left off
    rollouts = (after - before) // 256
    assert abs(saved_push_scale(latest_checkpoint(trained_run)[0]) - 0.5) <= 0.02 * rollouts + 1e-9
    assert (trained_run / "command.txt").read_text().count("--resume") == 1
    state = json.loads(curriculum_state_path(latest_checkpoint(trained_run)[0]).read_text())
    assert 3600.0 < state["wall_s"] < 3600.0 + 600
    evals = [json.loads(line) for line in (trained_run / "evals.jsonl").read_text().splitlines()]
    assert [e["wall_s"] > 3600.0 for e in evals] == [e["steps"] > before for e in evals]
    # the overrides reached the optimizer, not just config.yaml
    from stable_baselines3 import PPO

    model = PPO.load(str(latest_checkpoint(trained_run)[0]), device="cpu")
    assert model.n_epochs == 2
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(0.000123)


def test_export_parity_and_metadata(trained_run, capsys):
    out = trained_run / "policy.onnx"
    assert main(["export", str(trained_run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "parity" in printed and "ok" in printed
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta[policy_file.META_FINGERPRINT] == CONTRACT.fingerprint
    assert meta[policy_file.META_CONTRACT_JSON] == CONTRACT.to_json()
    assert float(meta[policy_file.META_CONTROL_RATE]) == CONTRACT.control_rate_hz
    assert int(meta[policy_file.META_STEPS]) > 0 and meta[policy_file.META_COMMIT]
    assert json.loads(meta[policy_file.META_TRAIN_CONFIG])["ppo"]["n_envs"] == 8
    from duck.servo_profile import META_SERVO_PROFILE, SERVO_PROFILE, RobotServoProfile

    assert RobotServoProfile.from_json(meta[META_SERVO_PROFILE]) == SERVO_PROFILE  # gains + supply it trained for
    loaded = policy_file.load_policy(out)
    action, offsets = loaded(np.zeros((5, CONTRACT.obs_dim), dtype=np.float32))
    assert action.shape == (5, CONTRACT.action_dim)
    np.testing.assert_allclose(offsets, CONTRACT.action_to_offsets(action), atol=1e-7)
    assert np.all(np.abs(action) <= CONTRACT.action_clip)


def test_parity_is_within_bound_on_recorded_and_random_observations(trained_run, exported):
    from duck.train.export import load_run, parity_check

    result = parity_check(load_run(trained_run), exported)
    assert result["observations"] >= 2000
    assert result["max_abs_error"] <= 1e-5


def test_export_averages_a_symmetry_trained_policy_with_its_mirror_image(trained_run, exported, tmp_path):
    from duck.sim.vec_env import policy_observation
    from duck.train.export import load_run, parity_check, parity_observations

    run = load_run(trained_run)
    assert run.config_dict["ppo"]["symmetry_coef"] > 0  # so the default export averages
    obs = policy_observation(parity_observations(run, n_random=500, n_recorded=500), CONTRACT)

    def equivariance_error(policy) -> float:
        action = policy(obs)[0]
        return float(np.max(np.abs(policy(CONTRACT.mirror_observation(obs))[0] - CONTRACT.mirror_action(action))))

    averaged = policy_file.load_policy(exported)
    assert averaged.mirror_averaged
    assert equivariance_error(averaged) <= 1e-5

    plain_path = tmp_path / "plain.onnx"
    assert main(["export", str(trained_run), "--out", str(plain_path), "--mirror-average", "off", "--latest"]) == 0
    plain = policy_file.load_policy(plain_path)
    assert not plain.mirror_averaged
    # the tiny run's policy is far from symmetric: without the average the mirror test fails
    assert equivariance_error(plain) > 1e-3
    assert parity_check(run, plain_path)["max_abs_error"] <= 1e-5


def test_eval_writes_json_plots_and_report(exported, tmp_path):
    policy = exported
    out = tmp_path / "eval.json"
    plots = tmp_path / "plots"
    args = ["eval", "--policy", str(policy), "--json", str(out), "--plots", str(plots), "--quick",
            "--set", "suite.tracking_seconds=4.0", "--set", "suite.fixed_seconds=4.0",
            "--set", "suite.push_seconds=4.0", "--set", "suite.push_episodes=2", "--set", "suite.tracking_episodes=2",
            "--set", "transfer.only=[late]"]
    assert main(args) == 0
    metrics = json.loads(out.read_text())
    sections = {"fixed", "tracking", "push", "sim2sim", "gait", "stand", "head_tracking", "fast", "transfer"}
    assert sections <= set(metrics)
    assert list(metrics["transfer"]) == ["late"] and isinstance(metrics["transfer"]["late"]["meets_bar"], bool)
    assert "## Transfer" in (plots / "report.md").read_text()
    assert 0.0 <= metrics["tracking"]["survival_rate"] <= 1.0
    assert set(metrics["push"]["survival_rate_by_kick_mps"]) == {"0.2", "0.4", "0.6", "0.8", "1.0"}
    by_direction = metrics["push"]["survival_rate_by_direction"]
    assert set(by_direction) == {"front", "left", "back", "right"}
    for kick, overall in metrics["push"]["survival_rate_by_kick_mps"].items():
        rates = [by_direction[d][kick] for d in by_direction if by_direction[d][kick] is not None]
        assert rates and min(rates) <= overall <= max(rates)  # the overall rate is their weighted mean
    impulse = metrics["push"]["impulse_ns_by_kick_mps"]["1.0"]
    assert impulse == pytest.approx(metrics["push"]["robot_mass_kg"], rel=1e-3)
    assert {"fine_timestep", "randomized_dynamics"} == set(metrics["sim2sim"])
    for name in ("velocity_tracking.png", "push_survival.png", "joint_trajectories.png", "foot_contacts.png",
                 "report.md"):
        assert (plots / name).stat().st_size > 0


@pytest.mark.parametrize("argv, needle", [
    (["train", "--run-dir", "X", "--set", "ppo.n_envz=3"], "ppo.n_envz"),
    (["train", "--run-dir", "X", "--config", "/nonexistent.yaml"], "not found"),
    (["train", "--run-dir", "/nonexistent-run", "--resume"], "config.yaml"),
    (["export", "/nonexistent-run"], "not found"),
    (["eval", "--policy", "/nonexistent.onnx"], "not found"),
    (["eval", "--policy", "bad.onnx"], "not a loadable ONNX"),
    (["sim", "--policy", "/nonexistent.onnx", "--video", "x.mp4"], "not found"),
    (["sim", "--command", "9,0,0", "--video", "x.mp4"], "outside the contract range"),
])
def test_bad_input_is_a_one_line_error(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.onnx").write_bytes(b"this is not an ONNX model")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_off_stays_a_string_in_overrides_and_yaml_files(tmp_path):
    """YAML 1.1 would read `off` as False and fail the string field; the config loader must not."""
    from duck.config import load
    from duck.train.config import TrainConfig

    assert load(TrainConfig, None, ["push_curriculum=off"]).push_curriculum == "off"
    path = tmp_path / "train.yaml"
    path.write_text("push_curriculum: off\nenv:\n  dr:\n    enabled: false\n")
    cfg = load(TrainConfig, path)
    assert cfg.push_curriculum == "off" and cfg.env.dr.enabled is False


def test_a_checkpoint_from_before_the_saved_clock_resumes_from_its_last_quick_eval(tmp_path):
    from duck.train.runner import saved_wall_s

    zip_path = tmp_path / "checkpoints" / "step_5000000.zip"
    zip_path.parent.mkdir()
    curriculum_state_path(zip_path).write_text(json.dumps({"push_scale": 0.4}))  # no wall_s: an old run
    rows = [{"steps": 4_000_000, "wall_s": 1739.3}, {"steps": 5_000_000, "wall_s": 2100.0},
            {"steps": 6_000_000, "wall_s": 99.0}]  # a later, restarted clock: not this checkpoint's
    (tmp_path / "evals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"steps": 7')
    assert saved_wall_s(zip_path, tmp_path) == 2100.0
    assert saved_wall_s(tmp_path / "checkpoints" / "step_1000.zip", tmp_path) == 0.0
