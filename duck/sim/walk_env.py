"""``OpenDuck/Walk-v6``: the single-env gymnasium view of the batched simulation.

It is :class:`duck.sim.batch.BatchSim` with one env, so it agrees step for step
with env *i* of a :class:`duck.sim.vec_env.DuckVecEnv` seeded ``seed - i``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from duck.config import from_dict
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig
from duck.sim.vec_env import action_space, observation_space


class WalkEnv(gym.Env):
    """Command-tracking walking for the Open Duck Mini.

    Keyword config: ``gym.make("OpenDuck/Walk-v6", config=EnvConfig(...))`` or a
    plain mapping (validated strictly), e.g. ``config={"dr": {"enabled": False}}``.
    ``info`` carries ``reward_terms`` (weighted; they sum to the reward), ``command`` and ``fell``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, config: EnvConfig | dict | None = None, render_mode: str | None = None):
        if isinstance(config, dict):
            config = from_dict(EnvConfig, config)
        self.config = config or EnvConfig()
        self.sim = BatchSim(1, self.config)
        self.observation_space = observation_space(self.sim.contract)
        self.action_space = action_space(self.sim.contract)
        self.render_mode = render_mode
        self._renderer = None
        self._seeded = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            chosen = seed if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
            self.sim.seed(np.array([chosen]))
            self._seeded = True
        obs = self.sim.reset(np.array([0]))
        return obs[0], {"command": self.sim.command[0].copy()}

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.sim.step(np.asarray(action, dtype=np.float64)[None])
        out_info = {
            "reward_terms": {k: float(v[0]) for k, v in info["reward_terms"].items()},
            "command": info["command"][0],
            "fell": bool(info["fell"][0]),
        }
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), out_info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        import mujoco

        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.sim.model, 240, 320)
            self._data = mujoco.MjData(self.sim.model)
        mujoco.mj_setState(self.sim.model, self._data, self.sim.state[0], mujoco.mjtState.mjSTATE_FULLPHYSICS)
        mujoco.mj_forward(self.sim.model, self._data)
        self._renderer.update_scene(self._data)
        return self._renderer.render()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.sim.close()
