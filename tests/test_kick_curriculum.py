"""The kick curriculum gated on the kicks alone (TrainConfig.push_curriculum="kick_falls"): the sim
records each env's latest kick, an episode's end says how long after it the robot fell, and the
trainer steps the kick scale on the share of kicks followed by a fall (real MuJoCo, real SB3 logger)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from stable_baselines3.common.logger import configure

from duck.config import ConfigError, load
from duck.sim.config import EnvConfig
from duck.sim.vec_env import DuckVecEnv
from duck.train.config import TrainConfig
from duck.train.runner import TrainingCallback


def _kicking(magnitude_mps: float, interval_s: float) -> EnvConfig:
    cfg = EnvConfig()
    push = replace(cfg.dr.push, magnitude_mps=(magnitude_mps, magnitude_mps), interval_s=(interval_s, interval_s))
    return replace(cfg, dr=replace(cfg.dr, push=push))


def _run_until_episodes_end(env: DuckVecEnv, max_steps: int) -> list[dict]:
    env.reset()
    ended: list[dict] = []
    for _ in range(max_steps):
        env.step_async(np.zeros((env.num_envs, env.action_space.shape[0])))
        _, _, done, infos = env.step_wait()
        ended += [info for info, d in zip(infos, done) if d]
        if len(ended) >= env.num_envs:
            break
    return ended


def test_a_kick_is_recorded_and_the_fall_it_causes_is_timed_from_it():
    # 3 m/s after 0.2 s: no policy (here a zero action, which falls by itself only after ~0.7 s)
    # stays up, and the fall follows within half a second.
    env = DuckVecEnv(2, _kicking(3.0, 0.2), seed=0)
    ended = _run_until_episodes_end(env, 200)
    assert len(ended) >= 2 and all(info["fell"] for info in ended)
    assert all(1 <= info["steps_since_kick"] <= 25 for info in ended)
    # the kick happened 0.2 s (10 control steps) into each episode
    assert all(info["episode"]["l"] - info["steps_since_kick"] == 10 for info in ended)
    assert env.sim.kicks_given >= 2
    env.sim.reset(env.sim.all)
    assert np.all(env.sim.step_count - env.sim.last_kick_step > 10**9)  # a new episode has had no kick


def test_an_episode_without_a_kick_reports_none():
    env = DuckVecEnv(2, _kicking(0.5, 60.0), seed=0)  # the first kick would come after the episode's 20 s
    ended = _run_until_episodes_end(env, 1100)
    assert ended and env.sim.kicks_given == 0
    assert all(info["steps_since_kick"] > 10**9 for info in ended)


def _callback(cfg: TrainConfig, kicks_given: int, push_scale: float) -> TrainingCallback:
    callback = TrainingCallback(cfg, run_dir=None, total_steps=1)
    callback.sim = SimpleNamespace(kicks_given=kicks_given, push_scale=push_scale, max_steps=1000)
    callback.kick_window_steps = 100
    callback.model = SimpleNamespace(logger=configure(None, []))
    return callback


def _episode_end(fell: bool, steps_since_kick: int) -> dict:
    return {"fell": fell, "steps_since_kick": steps_since_kick}


@pytest.mark.parametrize(("kick_falls", "other_falls", "expected"), [
    (0, 8, 0.52),  # falls no kick caused do not hold the scale back (the adaptive gate would drop it)
    (3, 0, 0.48),  # 3 of 10 kicks then a fall: above the band's top 0.25
    (2, 0, 0.50),  # 2 of 10: inside the band, the scale stays
])
def test_the_kick_gate_counts_only_falls_that_follow_a_kick(kick_falls, other_falls, expected):
    cfg = load(TrainConfig, None, ["push_curriculum=kick_falls", "push_curriculum_kick_falls=[0.15,0.25]",
                                   "score.enabled=false"])
    callback = _callback(cfg, kicks_given=0, push_scale=0.5)
    callback.sim.kicks_given = 10
    for _ in range(kick_falls):
        callback._count_fall(_episode_end(True, 40))
    for _ in range(other_falls):
        callback._count_fall(_episode_end(True, 400))  # long after the kick: not its fall
    callback._count_fall(_episode_end(False, 5))
    callback._update_push_curriculum()
    assert callback.sim.push_scale == pytest.approx(expected)
    # the next rollout starts its count afresh
    assert callback.kick_falls == 0 and callback.kicks_before == 10


def test_the_adaptive_gate_still_counts_every_fall():
    cfg = load(TrainConfig, None, ["score.enabled=false"])
    assert cfg.push_curriculum == TrainConfig().push_curriculum == "adaptive"
    callback = _callback(cfg, kicks_given=0, push_scale=0.5)
    callback.rollout_env_steps = 1000  # one episode's worth
    for _ in range(2):
        callback._count_fall(_episode_end(True, 400))
    callback._update_push_curriculum()
    assert callback.sim.push_scale == pytest.approx(0.48)


def test_the_kick_gate_can_start_later_with_the_fall_gate_before_it():
    """push_curriculum_kick_from_steps: the fall gate until then, so one run grows the gait first."""
    cfg = load(TrainConfig, None, ["push_curriculum=kick_falls", "push_curriculum_kick_from_steps=5000",
                                   "score.enabled=false"])
    for steps, expected in ((4999, 0.48), (5000, 0.52)):
        callback = _callback(cfg, kicks_given=0, push_scale=0.5)
        callback.num_timesteps, callback.rollout_env_steps, callback.sim.kicks_given = steps, 1000, 10
        for _ in range(2):
            callback._count_fall(_episode_end(True, 400))  # 2 falls per episode, none a kick's
        callback._update_push_curriculum()
        assert callback.sim.push_scale == pytest.approx(expected), steps


@pytest.mark.parametrize("override", ["push_curriculum=kicks", "push_curriculum_kick_falls=[0.4,0.2]",
                                      "push_curriculum_kick_falls=[0.1,1.5]", "push_curriculum_kick_window_s=0",
                                      "push_curriculum_kick_from_steps=-1"])
def test_bad_kick_curriculum_settings_are_refused(override):
    with pytest.raises(ConfigError):
        load(TrainConfig, None, [override])
