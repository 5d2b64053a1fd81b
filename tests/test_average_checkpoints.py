"""scripts/average_checkpoints.py on a real tiny run: the averaged network is the mean of the
checkpoints' networks in raw observation units, although each normalised with its own statistics."""

from __future__ import annotations

import pickle
import runpy
import sys

import numpy as np
import torch

from duck.cli import main
from duck.paths import REPO_ROOT
from duck.sim.vec_env import DuckVecEnv

TINY = ["--set", "ppo.n_envs=8", "--set", "ppo.n_steps=32", "--set", "ppo.batch_size=128",
        "--set", "checkpoint_every_steps=256", "--set", "eval_every_steps=100000"]


def first_layer_outputs(zip_path, obs: np.ndarray) -> list[np.ndarray]:
    from stable_baselines3 import PPO

    model = PPO.load(str(zip_path), device="cpu")
    with open(zip_path.with_name(zip_path.stem + "_vecnormalize.pkl"), "rb") as f:
        norm = pickle.load(f)
    normalized = torch.as_tensor((obs - norm.obs_rms.mean) / np.sqrt(norm.obs_rms.var + norm.epsilon),
                                 dtype=torch.float32)
    extractor = model.policy.mlp_extractor
    with torch.no_grad():
        return [layer(normalized[:, :layer.in_features]).numpy()
                for layer in (extractor.policy_net[0], extractor.value_net[0])]


def test_average_is_the_mean_network_in_raw_units(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--steps", "768", *TINY]) == 0
    checkpoints = sorted((run / "checkpoints").glob("step_*.zip"))[-2:]
    assert len(checkpoints) == 2
    out = tmp_path / "avg" / "step_avg.zip"
    monkeypatch.setattr(sys, "argv", ["average_checkpoints.py", *map(str, checkpoints), "--out", str(out)])
    runpy.run_path(str(REPO_ROOT / "scripts" / "average_checkpoints.py"), run_name="__main__")
    assert "mean of 2 checkpoints" in capsys.readouterr().out

    env = DuckVecEnv(8, seed=4, privileged=True)
    obs = env.reset()
    for _ in range(20):
        obs, *_ = env.step(np.random.default_rng(0).uniform(-0.5, 0.5, (8, env.action_space.shape[0])))
    env.close()
    first, second = (first_layer_outputs(path, obs) for path in checkpoints)
    averaged = first_layer_outputs(out, obs)
    for a, b, mean in zip(first, second, averaged):
        np.testing.assert_allclose(mean, (a + b) / 2, atol=1e-4)
        assert np.max(np.abs(a - b)) > 1e-3  # the two checkpoints really differ
    # and it is a checkpoint like any other: it exports with parity
    assert main(["export", str(run), "--checkpoint", str(out), "--out", str(tmp_path / "avg.onnx")]) == 0
    assert "ok" in capsys.readouterr().out
