"""The KL-adaptive learning rate (rsl_rl's rule) on a real SB3 PPO over the real batched env."""

from __future__ import annotations

import pytest

from duck.sim.vec_env import DuckVecEnv
from duck.train.symmetry import SymmetricPPO


@pytest.fixture(scope="module")
def model():
    venv = DuckVecEnv(4, seed=0)
    m = SymmetricPPO("MlpPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, learning_rate=3e-4, device="cpu")
    m.desired_kl = 0.02
    yield m
    venv.close()


def test_rate_shrinks_on_large_kl_grows_on_small_and_holds_in_band(model):
    model.adaptive_lr = None
    assert model.adapt_learning_rate(0.1) == pytest.approx(3e-4 / 1.5)
    assert model.adapt_learning_rate(0.02) == pytest.approx(3e-4 / 1.5)
    assert model.adapt_learning_rate(0.001) == pytest.approx(3e-4)
    for _ in range(40):
        model.adapt_learning_rate(0.0)
    assert model.adaptive_lr == pytest.approx(SymmetricPPO.ADAPTIVE_LR_BOUNDS[1])


def test_one_update_runs_at_the_adapted_rate_then_adapts_it(model):
    model.adaptive_lr = 7e-5
    model.learn(64)  # 4 envs x 16 steps: exactly one PPO update
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(7e-5)
    kl = model.logger.name_to_value["train/approx_kl"]
    expected = 7e-5 / 1.5 if kl > 0.04 else 7e-5 * 1.5 if kl < 0.01 else 7e-5
    assert model.adaptive_lr == pytest.approx(expected)
