"""``ppo.min_action_std``: the policy's exploration std is held at a floor after every update."""

from __future__ import annotations

import numpy as np
import pytest

from duck.sim.vec_env import DuckVecEnv
from duck.train.symmetry import SymmetricPPO


@pytest.fixture(scope="module")
def venv():
    env = DuckVecEnv(4, seed=0)
    yield env
    env.close()


def _model(venv, floor: float) -> SymmetricPPO:
    # std 0.05 at the start, well under the floor, as in a late-training policy.
    model = SymmetricPPO("MlpPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, device="cpu", seed=0,
                         policy_kwargs={"log_std_init": float(np.log(0.05))})
    model.min_action_std = floor
    return model


def test_an_update_leaves_every_std_at_or_above_the_floor(venv):
    model = _model(venv, 0.2)
    model.learn(64)  # 4 envs x 16 steps: one PPO update
    std = model.policy.log_std.exp().detach().numpy()
    assert std.shape == (venv.action_space.shape[0],)
    assert np.all(std >= 0.2 - 1e-6)


def test_without_a_floor_the_std_stays_where_ppo_puts_it(venv):
    model = _model(venv, 0.0)
    model.learn(64)
    assert np.all(model.policy.log_std.exp().detach().numpy() < 0.1)


def test_the_floor_only_raises(venv):
    model = _model(venv, 0.2)
    model.policy.log_std.data[:] = float(np.log(0.5))
    model.apply_action_std_floor()
    np.testing.assert_allclose(model.policy.log_std.exp().detach().numpy(), 0.5, rtol=1e-6)
