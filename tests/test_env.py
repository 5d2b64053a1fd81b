"""The walking env: gymnasium API, reward decomposition, determinism, pushes, batch == single."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from duck.config import ConfigError, load
from duck.contract import CONTRACT
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig, no_randomization
from duck.sim.registration import ENV_ID  # importing duck.sim registers the env
from duck.sim.vec_env import DuckVecEnv


def test_check_env_passes():
    env = gym.make(ENV_ID).unwrapped
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (CONTRACT.obs_dim,)
    assert env.action_space.shape == (CONTRACT.action_dim,)


def test_reward_terms_sum_exactly_to_reward():
    cfg = load(EnvConfig, overrides=["commands.stand_probability=0.5", "commands.resample_interval_s=[0.5, 1.0]",
                                     # explicit: covered even where a default is 0
                                     "reward.capture_step=-30.0", "reward.tracking_yaw_coarse=0.5"])
    env = gym.make(ENV_ID, config=cfg).unwrapped
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    nonzero_terms = set()
    for _ in range(150):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, CONTRACT.action_dim))
        total = 0.0
        for value in info["reward_terms"].values():
            total += value
        assert total == reward
        nonzero_terms |= {k for k, v in info["reward_terms"].items() if v != 0.0}
        if terminated or truncated:
            env.reset()
    # Every configured term actually contributes at some point.
    assert nonzero_terms == {f.name for f in dataclasses.fields(env.config.reward)}


def test_batch_equals_single_env_step_for_step():
    cfg = EnvConfig()  # all randomization on
    venv = DuckVecEnv(6, cfg, seed=40)
    batch_obs = venv.reset()
    env = gym.make(ENV_ID, config=cfg).unwrapped
    single_obs, _ = env.reset(seed=44)
    np.testing.assert_array_equal(single_obs, batch_obs[4])
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(250):
        actions = rng.uniform(-1.5, 1.5, (6, CONTRACT.action_dim))
        batch_obs, batch_rew, dones, infos = venv.step(actions)
        single_obs, single_rew, terminated, truncated, _ = env.step(actions[4])
        if terminated or truncated:
            np.testing.assert_array_equal(single_obs, infos[4]["terminal_observation"])
            single_obs, _ = env.reset()
            resets += 1
        np.testing.assert_array_equal(single_obs, batch_obs[4])
        assert np.float32(single_rew) == batch_rew[4]
    assert resets > 0  # random actions fall: the reset path was compared too


def _rollout_obs(cfg: EnvConfig, seed: int, steps: int = 60) -> np.ndarray:
    env = gym.make(ENV_ID, config=cfg).unwrapped
    obs = [env.reset(seed=seed)[0]]
    for k in range(steps):
        obs.append(env.step(np.full(CONTRACT.action_dim, np.sin(k / 5.0)))[0])
    return np.array(obs)


def test_deterministic_for_a_seed_without_randomization():
    cfg = no_randomization(EnvConfig())
    a, b = _rollout_obs(cfg, 3), _rollout_obs(cfg, 3)
    np.testing.assert_array_equal(a, b)
    # With randomization on, different seeds see different dynamics/noise.
    assert not np.array_equal(_rollout_obs(EnvConfig(), 3), _rollout_obs(EnvConfig(), 4))


def test_push_changes_base_velocity_by_configured_amount():
    cfg = no_randomization(EnvConfig())
    for magnitude in (0.3, 1.0):
        pushed = dataclasses.replace(cfg, dr=dataclasses.replace(
            cfg.dr, push=dataclasses.replace(cfg.dr.push, enabled=True, interval_s=(0.5, 0.5),
                                             magnitude_mps=(magnitude, magnitude))))
        sim = BatchSim(1, pushed)
        sim.seed(np.array([7]))
        sim.reset(np.array([0]))
        zero = np.zeros((1, CONTRACT.action_dim))
        while sim.step_count[0] < sim.next_push_step[0] - 1:
            sim.step(zero)
        before = sim.qvel[0, :2].copy()
        pushes = sim.push_count[0]
        # Apply exactly the push logic and read the velocity right after it, before physics.
        sim.step_count[0] = sim.next_push_step[0]
        sim._apply_due_pushes()
        assert sim.push_count[0] == pushes + 1
        delta = np.linalg.norm(sim.qvel[0, :2] - before)
        assert delta == pytest.approx(magnitude, rel=0.10)
        # And physics carries it: one control step later the base still moves at a similar speed.
        sim.step(zero)
        assert np.linalg.norm(sim.qvel[0, :2]) > 0.5 * magnitude


def _stand_episode(cfg: EnvConfig, seed: int, seconds: float) -> bool:
    """Zero action from home; returns True if the robot fell."""
    sim = BatchSim(1, cfg)
    sim.seed(np.array([seed]))
    sim.reset(np.array([0]))
    zero = np.zeros((1, CONTRACT.action_dim))
    for _ in range(int(seconds * CONTRACT.control_rate_hz)):
        _, _, terminated, truncated, _ = sim.step(zero)
        if terminated[0]:
            return True
        if truncated[0]:
            return False
    return False


def test_zero_action_stands_without_pushes_and_falls_sometimes_with_1mps_pushes():
    # Zero action with a stand-still command holds the home pose (no stepping reference).
    base = load(EnvConfig, overrides=["commands.stand_probability=1.0"])
    no_push = dataclasses.replace(base, dr=dataclasses.replace(base.dr, push=dataclasses.replace(
        base.dr.push, enabled=False)))
    assert not any(_stand_episode(no_push, seed, base.episode_length_s) for seed in range(3))
    hard = dataclasses.replace(base, dr=dataclasses.replace(base.dr, push=dataclasses.replace(
        base.dr.push, interval_s=(2.0, 3.0), magnitude_mps=(1.0, 1.0))))
    falls = [_stand_episode(hard, seed, 10.0) for seed in range(4)]
    assert any(falls)


@pytest.mark.parametrize("override, key", [
    ("dr.pushh.enabled=true", "dr.pushh"),
    ("reward.alive=fast", "reward.alive"),
    ("dr.servo_kt_scale=[1.2, 0.8]", "dr.servo_kt_scale"),
    ("physics_dt_s=-1", "physics_dt_s"),
])
def test_bad_config_is_a_one_line_error_naming_the_key(override, key):
    with pytest.raises(ConfigError) as exc:
        load(EnvConfig, overrides=[override])
    message = str(exc.value)
    assert key in message and "\n" not in message


def test_yaml_config_unknown_key(tmp_path):
    path = tmp_path / "env.yaml"
    path.write_text("reward:\n  alive: 1.0\n  aliv: 2.0\n")
    with pytest.raises(ConfigError, match="reward.aliv"):
        load(EnvConfig, path)
    path.write_text("reward:\n  alive: 1.0\n")
    assert load(EnvConfig, path).reward.alive == 1.0


def test_capture_step_asks_the_swing_foot_to_step_by_the_velocity_error_over_omega():
    """A kicked base (0.5 m/s faster than commanded) wants the swing foot 0.5/omega ahead of
    its stance spot; the stance foot's position does not count, nor does anything when standing."""
    from duck.sim.rewards import _reward_capture_step

    cfg = EnvConfig()
    sim = BatchSim(1, no_randomization(cfg))
    sim.reset(np.arange(1))
    sim.set_command(np.array([0.1, 0.0, 0.0]))
    sim.step(np.zeros((1, CONTRACT.action_dim)))
    shape = cfg.shape
    omega = np.sqrt(9.81 / shape.capture_com_height_m)
    base = sim.step_state()
    left_target = np.array([base.home_foot_offset_xy[1, 0] + 0.5 / omega + 0.1 * shape.capture_lead_s,
                            shape.capture_half_width_m])

    def cost(left_foot, right_foot=(0.0, -0.05), phase_sin=1.0, command=(0.1, 0.0, 0.0)) -> float:
        state = dataclasses.replace(base, lin_vel_heading=np.array([[0.6, 0.0, 0.0]]), command=np.array([command]),
                                    foot_offset_xy=np.array([[right_foot, left_foot]]), phase_sin=np.array([phase_sin]))
        return float(_reward_capture_step(state, shape)[0])

    assert cost(left_target) == pytest.approx(0.0, abs=1e-12)
    assert cost(left_target, right_foot=(0.3, -0.3)) == pytest.approx(0.0, abs=1e-12)
    assert cost(left_target + [0.02, 0.0]) == pytest.approx(0.02**2)
    assert cost(left_target - [0.5 / omega, 0.0]) == pytest.approx((0.5 / omega) ** 2)  # no step into the kick
    assert cost(left_target, phase_sin=-1.0) > 0.0  # now the right foot swings, and it is far off
    assert cost(left_target + [0.1, 0.1], command=(0.0, 0.0, 0.0)) == 0.0
