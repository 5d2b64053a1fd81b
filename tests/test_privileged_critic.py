"""The asymmetric actor-critic: privileged observations in the VecEnv, an actor that reads only
the contract block, and an export that is a plain contract policy (real SB3, MuJoCo, onnxruntime)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from duck.cli import main
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
        # measured from the floor beneath (rough floors: dr.terrain)
        floor = sim._floor_under(sim.qpos[:, 0:2])
        np.testing.assert_allclose(blocks["base_height"][:, 0], sim.qpos[:, 2] - floor, atol=1e-6)
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


def test_privileged_mirror_matches_mirrored_physics():
    """Env 1 gets the mirror of env 0's kick and actions; its privileged block must be the
    mirror of env 0's, field by field, in real MuJoCo (as the contract block is in test_symmetry)."""
    from duck.sim.config import EnvConfig, no_randomization

    venv = DuckVecEnv(2, no_randomization(EnvConfig()), seed=0, privileged=True)
    try:
        venv.reset()
        venv.sim.set_command(np.zeros(3))
        venv.sim.kick(np.arange(2), np.array([[0.2, 0.3], [0.2, -0.3]]))
        perm, sign = venv.observation_mirror
        rng = np.random.default_rng(3)
        worst, spread = 0.0, 0.0
        for _ in range(30):
            action = rng.uniform(-0.6, 0.6, CONTRACT.action_dim)
            obs, *_ = venv.step(np.stack([action, CONTRACT.mirror_action(action)]))
            mirrored = (obs[0, perm] * sign)[CONTRACT.obs_dim:]
            worst = max(worst, float(np.max(np.abs(obs[1, CONTRACT.obs_dim:] - mirrored))))
            spread = max(spread, float(np.max(np.abs(obs[0, CONTRACT.obs_dim:] - obs[1, CONTRACT.obs_dim:]))))
        assert worst < 1e-3, worst
        assert spread > 0.05  # the two envs really moved differently
        np.testing.assert_array_equal(perm[:CONTRACT.obs_dim], CONTRACT.observation_mirror[0])
        np.testing.assert_array_equal(np.sort(perm), np.arange(CONTRACT.obs_dim + PRIVILEGED_DIM))
    finally:
        venv.close()


def test_symmetry_pass_runs_with_the_privileged_critic(tmp_path):
    """The mirror pass over a privileged rollout makes the actor equivariant and the critic
    mirror-invariant over the whole (contract + privileged) observation."""
    from stable_baselines3.common.vec_env import VecNormalize

    from duck.train.config import TrainConfig
    from duck.train.runner import make_model

    torch.manual_seed(0)
    # 1024 rollout states: with 256 the critic's invariance on held-out states was a matter of luck.
    cfg = TrainConfig(ppo=PPOConfig(n_envs=8, n_steps=128, batch_size=128, n_epochs=1, log_std_init=0.0,
                                    privileged_critic=True, symmetry_coef=1.0))
    cfg.ppo.validate()
    base = DuckVecEnv(8, cfg.env, seed=0, privileged=True)
    venv = VecNormalize(base, clip_obs=10.0)
    model = make_model(cfg, venv, tmp_path)
    model.learn(8 * 128)  # fills the rollout buffer (plain PPO: make_model leaves the coefficient 0)
    with torch.no_grad():
        model.policy.action_net.bias.copy_(torch.linspace(-0.5, 0.5, CONTRACT.action_dim))
        model.policy.value_net.weight.add_(0.5)
    held_out = torch.as_tensor(venv.normalize_obs(DuckVecEnv(8, cfg.env, seed=7, privileged=True).reset()))

    def errors() -> tuple[float, float]:
        mirrored = model._mirror_normalized(held_out)
        with torch.no_grad():
            act = model.policy.get_distribution(torch.cat([held_out, mirrored])).distribution.mean.numpy()
            value = model.policy.predict_values(torch.cat([held_out, mirrored])).numpy()
        n = len(held_out)
        action_error = float(np.sqrt(np.mean((CONTRACT.mirror_action(act[:n]) - act[n:]) ** 2)))
        return action_error, float(np.sqrt(np.mean((value[:n] - value[n:]) ** 2)))

    before = errors()
    model.symmetry_coef = cfg.ppo.symmetry_coef
    for _ in range(30):
        model._train_symmetry()
    after = errors()
    assert before[0] > 0.1 and after[0] < before[0] / 3, (before, after)
    assert before[1] > 0.0 and after[1] < before[1] / 3, (before, after)


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
