"""Mirror symmetry: the contract's observation/action reflection matches real MuJoCo physics,
and the symmetry phase of training makes the policy equivariant."""

from __future__ import annotations

import numpy as np

from duck.contract import CONTRACT
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig, no_randomization


def test_mirror_is_an_involution_and_swaps_the_swinging_foot():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(5, CONTRACT.obs_dim))
    action = rng.normal(size=(5, CONTRACT.action_dim))
    np.testing.assert_array_equal(CONTRACT.mirror_observation(CONTRACT.mirror_observation(obs)), obs)
    np.testing.assert_array_equal(CONTRACT.mirror_action(CONTRACT.mirror_action(action)), action)
    # The stepping reference of the mirrored state is the mirrored reference.
    phase = CONTRACT.gait_phase(np.linspace(0.0, 1.0, 7))
    command = np.tile([0.1, 0.05, 0.2], (7, 1))
    mirrored = CONTRACT.unpack(CONTRACT.mirror_observation(CONTRACT.pack({
        "gyro": np.zeros((7, 3)), "gravity": np.zeros((7, 3)), "command": command,
        "joint_pos": np.zeros((7, 13)), "joint_vel": np.zeros((7, 13)),
        "last_action": np.zeros((7, CONTRACT.action_dim)),
        "gait_phase": phase})))
    np.testing.assert_allclose(CONTRACT.reference_offsets(mirrored["gait_phase"], mirrored["command"]),
                               CONTRACT.mirror_leg_offsets(CONTRACT.reference_offsets(phase, command)), atol=1e-6)


def test_mirrored_actions_give_mirrored_observations_in_mujoco():
    """Env 1 gets the mirror of env 0's random actions (standing command, so no reference
    gait); its observations must be the mirror of env 0's, term by term, in real physics."""
    sim = BatchSim(2, no_randomization(EnvConfig()))
    sim.reset(np.arange(2))
    sim.set_command(np.zeros(3))
    rng = np.random.default_rng(1)
    compared = [n for n in CONTRACT.term_names if n != "gait_phase"]  # same clock in both envs
    worst = {n: 0.0 for n in compared}
    for _ in range(40):
        action = rng.uniform(-0.6, 0.6, CONTRACT.action_dim)
        obs = sim.step(np.stack([action, CONTRACT.mirror_action(action)]))[0]
        expected = CONTRACT.unpack(CONTRACT.mirror_observation(obs[0]))
        got = CONTRACT.unpack(obs[1])
        for n in compared:
            worst[n] = max(worst[n], float(np.max(np.abs(got[n] - expected[n]))))
    assert max(worst.values()) < 1e-3, worst
    # and the motion was not trivially symmetric on its own
    assert np.max(np.abs(obs[0] - obs[1])) > 0.05


def test_symmetry_pass_makes_the_policy_equivariant(tmp_path):
    """A few symmetry passes over one real rollout cut the policy's mirror error several-fold
    (measured on observations it has not trained on), and leave the contract maps alone."""
    import torch
    from stable_baselines3.common.vec_env import VecNormalize

    from duck.sim.vec_env import DuckVecEnv
    from duck.train.config import PPOConfig, TrainConfig
    from duck.train.runner import make_model
    from duck.train.symmetry import symmetry_error

    torch.manual_seed(0)
    cfg = TrainConfig(ppo=PPOConfig(n_envs=8, n_steps=32, batch_size=128, n_epochs=1, log_std_init=0.0,
                                    privileged_critic=False))
    venv = VecNormalize(DuckVecEnv(8, cfg.env, seed=0), clip_obs=10.0)
    model = make_model(cfg, venv, tmp_path)
    model.learn(8 * 32)  # fills the rollout buffer (plain PPO: coefficient 0)
    # The untrained actor outputs ~0 for every input; give it an asymmetric bias to remove.
    with torch.no_grad():
        model.policy.action_net.bias.copy_(torch.linspace(-0.5, 0.5, CONTRACT.action_dim))
    held_out = venv.normalize_obs(DuckVecEnv(8, cfg.env, seed=7).reset())

    def act(normalized_obs):
        return model.predict(normalized_obs, deterministic=True)[0]

    def mirrored_error():
        mirrored = model._mirror_normalized(torch.as_tensor(held_out)).numpy()
        return float(np.sqrt(np.mean((CONTRACT.mirror_action(act(held_out)) - act(mirrored)) ** 2)))

    before = mirrored_error()
    model.symmetry_coef = 1.0
    for _ in range(30):
        model._train_symmetry()
    after = mirrored_error()
    assert before > 0.1
    assert after < before / 3, (before, after)
    # the metric itself: a policy that echoes its last action is equivariant, a fixed lean is not
    assert symmetry_error(lambda o: CONTRACT.unpack(o)["last_action"], held_out) < 1e-6
    lean = np.linspace(-0.5, 0.5, CONTRACT.action_dim)
    assert symmetry_error(lambda o: np.broadcast_to(lean, (len(o), CONTRACT.action_dim)), held_out) > 0.1
