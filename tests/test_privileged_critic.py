"""The asymmetric actor-critic: privileged observations in the VecEnv, an actor that reads only
the contract block, and an export that is a plain contract policy (real SB3, MuJoCo, onnxruntime)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from duck.cli import main
from duck.config import ConfigError
from duck.contract import CONTRACT
from duck.runtime import policy as policy_file
from duck.sim.batch import PRIVILEGED_DIM, PRIVILEGED_FIELDS
from duck.sim.vec_env import DuckVecEnv, policy_observation
from duck.train.config import PPOConfig
from duck.transforms import quat_to_mat

TINY = ["--set", "ppo.n_envs=8", "--set", "ppo.n_steps=32", "--set", "ppo.batch_size=128",
        "--set", "checkpoint_every_steps=256", "--set", "eval_every_steps=512", "--set", "eval_episodes=2",
        "--set", "ppo.privileged_critic=true"]  # the default too; explicit, as this file is about it


@pytest.fixture(scope="module")
def privileged_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("privileged_run")
    assert main(["train", "--run-dir", str(run_dir), "--steps", "512", *TINY]) == 0
    return run_dir


def test_privileged_observation_appends_true_state_after_the_contract_block():
    plain, privileged = DuckVecEnv(3, seed=5), DuckVecEnv(3, seed=5, privileged=True)
    try:
        assert privileged.observation_space.shape == (CONTRACT.obs_dim + PRIVILEGED_DIM,)
        obs_a, obs_b = plain.reset(), privileged.reset()
        rng = np.random.default_rng(0)
        for _ in range(5):
            action = rng.uniform(-0.5, 0.5, size=(3, CONTRACT.action_dim))
            obs_a, *_ = plain.step(action)
            obs_b, *_ = privileged.step(action)
        # Same seeds, same actions: the contract block is identical, noise included.
        np.testing.assert_array_equal(policy_observation(obs_b), obs_a)
        sim = privileged.sim
        extra = obs_b[:, CONTRACT.obs_dim:]
        start = 0
        blocks = {}
        for name, width in PRIVILEGED_FIELDS.items():
            blocks[name] = extra[:, start:start + width]
            start += width
        world_vel = np.einsum("nij,nj->ni", quat_to_mat(sim.qpos[:, 3:7]), blocks["base_lin_vel_body"])
        np.testing.assert_allclose(world_vel, sim.qvel[:, 0:3], atol=1e-5)
        np.testing.assert_allclose(blocks["base_height"][:, 0], sim.qpos[:, 2], atol=1e-6)
        floor = [m.geom_friction[sim.idx.floor_geom, 0] for m in sim.models]
        np.testing.assert_allclose(blocks["floor_friction"][:, 0], floor, rtol=1e-6)
        lo, hi = sim.cfg.dr.floor_friction
        assert np.all((blocks["floor_friction"] >= lo) & (blocks["floor_friction"] <= hi))
        assert np.all(np.abs(blocks["trunk_com_offset"]) <= sim.cfg.dr.trunk_com_offset_m + 1e-7)
        np.testing.assert_array_equal(blocks["latency_steps"][:, 0], sim.action_latency)
    finally:
        plain.close()
        privileged.close()


def test_actor_reads_only_the_contract_block_and_the_critic_reads_all(privileged_run):
    from stable_baselines3 import PPO

    from duck.train.runner import latest_checkpoint

    model = PPO.load(str(latest_checkpoint(privileged_run)[0]), device="cpu")
    policy = model.policy
    assert policy.mlp_extractor.policy_net[0].in_features == CONTRACT.obs_dim
    assert policy.mlp_extractor.value_net[0].in_features == CONTRACT.obs_dim + PRIVILEGED_DIM
    obs = torch.randn(6, CONTRACT.obs_dim + PRIVILEGED_DIM)
    changed = obs.clone()
    changed[:, CONTRACT.obs_dim:] += 5.0
    with torch.no_grad():
        torch.testing.assert_close(policy.get_distribution(obs).distribution.mean,
                                   policy.get_distribution(changed).distribution.mean)
        assert not torch.allclose(policy.predict_values(obs), policy.predict_values(changed))


def test_privileged_run_exports_a_contract_policy_with_parity(privileged_run, capsys):
    out = privileged_run / "policy.onnx"
    assert main(["export", str(privileged_run), "--out", str(out)]) == 0
    assert "ok" in capsys.readouterr().out
    loaded = policy_file.load_policy(out)
    action, _ = loaded(np.zeros((2, CONTRACT.obs_dim), dtype=np.float32))
    assert action.shape == (2, CONTRACT.action_dim)


def test_resume_keeps_the_privileged_critic(privileged_run):
    from stable_baselines3 import PPO

    from duck.train.runner import latest_checkpoint

    assert main(["train", "--run-dir", str(privileged_run), "--resume", "--steps", "768"]) == 0
    model = PPO.load(str(latest_checkpoint(privileged_run)[0]), device="cpu")
    assert model.num_timesteps >= 768
    assert model.policy.mlp_extractor.value_net[0].in_features == CONTRACT.obs_dim + PRIVILEGED_DIM


def test_symmetry_pass_and_privileged_critic_are_refused_together():
    with pytest.raises(ConfigError, match="privileged"):
        PPOConfig(symmetry_coef=1.0, privileged_critic=True).validate()


def test_a_run_from_before_the_option_resumes_and_exports_as_it_was_trained(tmp_path, capsys):
    """Runs trained before ``privileged_critic`` existed have no key for it; it now defaults
    to on, but their networks read the contract observation only."""
    import yaml
    from stable_baselines3 import PPO

    from duck.train.runner import latest_checkpoint

    plain = [arg.replace("privileged_critic=true", "privileged_critic=false") for arg in TINY]
    assert main(["train", "--run-dir", str(tmp_path), "--steps", "256", *plain]) == 0
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del config["ppo"]["privileged_critic"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--run-dir", str(tmp_path), "--resume", "--steps", "512"]) == 0
    model = PPO.load(str(latest_checkpoint(tmp_path)[0]), device="cpu")
    assert model.observation_space.shape == (CONTRACT.obs_dim,) and model.num_timesteps >= 512
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["ppo"]["privileged_critic"] is False
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "p.onnx")]) == 0
    assert "ok" in capsys.readouterr().out
