"""scripts/add_gait_rate_action.py: a checkpoint from before the learned gait clock (10
actions, last_action of 10) becomes one of today's shape that acts exactly as it did, with
the clock at its nominal rate, and training resumes from it."""

from __future__ import annotations

import pickle
import runpy
import shutil
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from duck.cli import main
from duck.contract import CONTRACT
from duck.paths import REPO_ROOT

TINY = ["--set", "ppo.n_envs=8", "--set", "ppo.n_steps=32", "--set", "ppo.batch_size=128",
        "--set", "checkpoint_every_steps=256", "--set", "eval_every_steps=100000"]
RATE_COLUMN = CONTRACT.term_slice("last_action").start + CONTRACT.gait_rate_index  # the old layout lacks it


class SpacesOnly(gym.Env):
    """Carries the old layout's spaces so SB3 can build a network of that shape; never stepped."""

    def __init__(self, obs_dim: int, action_dim: int):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)


def write_fixed_clock_checkpoint(run, old_run) -> None:
    """Today's tiny checkpoint with the gait-rate input column and action row taken out: the
    shape and the weights a checkpoint trained before the learned clock has."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from duck.train.symmetry import SymmetricPPO

    zip_path = sorted((run / "checkpoints").glob("step_*.zip"))[-1]
    new = SymmetricPPO.load(str(zip_path), device="cpu")
    obs_dim, act_dim = new.observation_space.shape[0] - 1, CONTRACT.action_dim - 1
    old_env = DummyVecEnv([lambda: SpacesOnly(obs_dim, act_dim)])
    old = SymmetricPPO(type(new.policy), old_env, policy_kwargs=new.policy_kwargs
                       | {"actor_obs_dim": CONTRACT.obs_dim - 1}, device="cpu", n_steps=32, batch_size=32)
    keep = [i for i in range(obs_dim + 1) if i != RATE_COLUMN]
    state = {}
    for key, value in new.policy.state_dict().items():
        if key.endswith("net.0.weight") and "mlp_extractor" in key:
            value = value[:, keep[:value.shape[1] - 1]]
        elif key.startswith("action_net") or key == "log_std":
            value = value[:act_dim]
        state[key] = value
    old.policy.load_state_dict(state)
    old.num_timesteps = new.num_timesteps
    (old_run / "checkpoints").mkdir(parents=True)
    shutil.copy(run / "config.yaml", old_run / "config.yaml")
    old.save(str(old_run / "checkpoints" / "step_512.zip"))
    with open(zip_path.with_name(zip_path.stem + "_vecnormalize.pkl"), "rb") as f:
        norm = pickle.load(f)
    old_norm = VecNormalize(old_env, gamma=norm.gamma)
    old_norm.obs_rms.mean, old_norm.obs_rms.var = norm.obs_rms.mean[keep], norm.obs_rms.var[keep]
    old_norm.save(str(old_run / "checkpoints" / "step_512_vecnormalize.pkl"))


def mean_actions(zip_path, raw_obs: np.ndarray) -> np.ndarray:
    from duck.train.symmetry import SymmetricPPO

    model = SymmetricPPO.load(str(zip_path), device="cpu")
    with open(zip_path.with_name(zip_path.stem + "_vecnormalize.pkl"), "rb") as f:
        norm = pickle.load(f)
    with torch.no_grad():
        return model.policy.get_distribution(torch.as_tensor(norm.normalize_obs(raw_obs))).distribution.mean.numpy()


def test_a_fixed_clock_checkpoint_carries_over_unchanged_and_resumes(tmp_path, monkeypatch, capsys):
    run, old_run, new_run = tmp_path / "run", tmp_path / "old", tmp_path / "new"
    assert main(["train", "--run-dir", str(run), "--steps", "512", *TINY]) == 0
    write_fixed_clock_checkpoint(run, old_run)
    monkeypatch.setattr(sys, "argv", ["add_gait_rate_action.py", str(old_run / "checkpoints" / "step_512.zip"),
                                      str(new_run)])
    runpy.run_path(str(REPO_ROOT / "scripts" / "add_gait_rate_action.py"), run_name="__main__")
    assert "gait-rate action added" in capsys.readouterr().out

    rng = np.random.default_rng(3)
    with open(old_run / "checkpoints" / "step_512_vecnormalize.pkl", "rb") as f:
        old_obs = rng.normal(0.0, 0.5, (64, len(pickle.load(f).obs_rms.mean))).astype(np.float32)
    new_obs = np.insert(old_obs, RATE_COLUMN, rng.uniform(-1, 1, 64), axis=1).astype(np.float32)
    before = mean_actions(old_run / "checkpoints" / "step_512.zip", old_obs)
    after = mean_actions(new_run / "checkpoints" / "step_512.zip", new_obs)
    np.testing.assert_allclose(after[:, CONTRACT.leg_action_slice], before, atol=1e-6)
    np.testing.assert_array_equal(after[:, CONTRACT.gait_rate_index], 0.0)  # the nominal clock rate
    assert np.max(np.abs(before)) > 1e-3  # the policy is not trivially zero

    assert main(["train", "--run-dir", str(new_run), "--resume", "--steps", "768"]) == 0
    assert "resuming" in capsys.readouterr().err
    assert (new_run / "checkpoints" / "step_768.zip").is_file()


def test_refuses_a_checkpoint_of_todays_shape(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--steps", "256", *TINY]) == 0
    monkeypatch.setattr(sys, "argv", ["add_gait_rate_action.py", str(sorted((run / "checkpoints").glob("*.zip"))[-1]),
                                      str(tmp_path / "new")])
    with pytest.raises(SystemExit, match="expected 10"):
        runpy.run_path(str(REPO_ROOT / "scripts" / "add_gait_rate_action.py"), run_name="__main__")
