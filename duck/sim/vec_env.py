"""A stable-baselines3 ``VecEnv`` over :class:`duck.sim.batch.BatchSim` (one process, C threads)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from duck.contract import CONTRACT, RobotContract
from duck.sim.batch import PRIVILEGED_DIM, BatchSim, privileged_mirror
from duck.sim.config import EnvConfig
from duck.sim.rewards import TERMS


def observation_space(contract: RobotContract = CONTRACT, privileged: bool = False) -> gym.spaces.Box:
    size = contract.obs_dim + (PRIVILEGED_DIM if privileged else 0)
    return gym.spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)


def policy_observation(obs: np.ndarray, contract: RobotContract = CONTRACT) -> np.ndarray:
    """The contract observation within a (possibly privileged) VecEnv observation: the
    privileged fields are appended after it, so it is always the leading block."""
    return obs[..., :contract.obs_dim]


def action_space(contract: RobotContract = CONTRACT) -> gym.spaces.Box:
    clip = contract.action_clip
    return gym.spaces.Box(-clip, clip, shape=(contract.action_dim,), dtype=np.float32)


class DuckVecEnv(VecEnv):
    """N walking envs with auto-reset. Env *i* is seeded ``seed + i``.

    With ``privileged=True`` each observation is the contract observation followed by
    :meth:`BatchSim.privileged_observation` (for an asymmetric critic; the actor only ever
    sees the leading contract block).

    Finished episodes put ``terminal_observation``, ``episode`` (SB3's r/l/t) and
    ``episode_terms`` (per-term reward sums) into that env's info.
    """

    def __init__(self, num_envs: int, config: EnvConfig = EnvConfig(), seed: int = 0,
                 contract: RobotContract = CONTRACT, nthread: int | None = None, privileged: bool = False):
        super().__init__(num_envs, observation_space(contract, privileged), action_space(contract))
        self.sim = BatchSim(num_envs, config, contract, nthread=nthread)
        self.privileged = privileged
        self._seed = seed
        self._actions = np.zeros((num_envs, contract.action_dim))
        self._ep_return = np.zeros(num_envs)
        self._ep_terms = {name: np.zeros(num_envs) for name in TERMS}
        self._episode_counter = np.zeros(num_envs, dtype=np.int64)

    def reset(self) -> np.ndarray:
        seed = self._seed if self._seed is not None else 0
        self.sim.seed(seed + np.arange(self.num_envs, dtype=np.int64))
        self._episode_counter[:] = 0
        self._ep_return[:] = 0.0
        for v in self._ep_terms.values():
            v[:] = 0.0
        obs = self._with_privileged(self.sim.reset(self.sim.all), self.sim.all)
        self._reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    @property
    def observation_mirror(self) -> tuple[np.ndarray, np.ndarray]:
        """(permutation, sign) of this env's whole observation under the sagittal mirror: the
        contract's, then the privileged block's when there is one."""
        perm, sign = self.sim.contract.observation_mirror
        if not self.privileged:
            return perm, sign
        block_perm, block_sign = privileged_mirror()
        return np.concatenate([perm, len(perm) + block_perm]), np.concatenate([sign, block_sign])

    def _with_privileged(self, obs: np.ndarray, idx: np.ndarray) -> np.ndarray:
        if not self.privileged:
            return obs
        return np.concatenate([obs, self.sim.privileged_observation(idx)], axis=1)

    def seed(self, seed: int | None = None) -> list[int | None]:
        self._seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        obs, reward, terminated, truncated, info = self.sim.step(self._actions)
        obs = self._with_privileged(obs, self.sim.all)
        self._ep_return += reward
        for name, value in info["reward_terms"].items():
            self._ep_terms[name] += value
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        finished = np.flatnonzero(done)
        if finished.size:
            lengths = self.sim.step_count[finished].copy()
            since_kick = lengths - self.sim.last_kick_step[finished]
            reset_obs = self._with_privileged(self.sim.reset(finished), finished)
            for j, i in enumerate(finished):  # only finished envs: SB3 needs per-env dicts here
                infos[i] = {
                    "terminal_observation": obs[i].copy(),
                    "TimeLimit.truncated": bool(truncated[i]),
                    "episode": {"r": float(self._ep_return[i]), "l": int(lengths[j]), "t": 0.0},
                    "episode_terms": {k: float(v[i]) / max(1, lengths[j]) for k, v in self._ep_terms.items()},
                    "fell": bool(terminated[i]),
                    "steps_since_kick": int(since_kick[j]),
                }
            obs[finished] = reset_obs
            self._ep_return[finished] = 0.0
            for v in self._ep_terms.values():
                v[finished] = 0.0
        return obs, reward.astype(np.float32), done, infos

    def close(self) -> None:
        self.sim.close()

    # SB3 plumbing: there are no wrapped sub-envs, attributes live on the sim.
    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = None if attr_name == "render_mode" else getattr(self.sim, attr_name)
        return [value] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.sim, attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list[Any]:
        return [getattr(self.sim, method_name)(*args, **kwargs)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)
