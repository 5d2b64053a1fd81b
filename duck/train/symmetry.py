"""Mirror-symmetry regularization for PPO.

The robot, its reward and its contract are symmetric about the sagittal plane, so the
ideal policy is *equivariant*: in the mirrored state it takes the mirrored action, and
the value is the same. Policies trained without this drift to one side (lab notebook,
exp6: the same +y drift under every command). After each PPO update, :class:`SymmetricPPO`
runs one extra pass over the rollout that minimises

    symmetry_coef * ( |mu(mirror(s)) - mirror(mu(s))|^2 + |V(mirror(s)) - V(s)|^2 )

with the policy's own optimizer (so the coefficient weighs against PPO's gradient
scale through Adam's shared second moments). The mirror maps come from the contract, and
for a privileged critic's extra inputs from the sim (``DuckVecEnv.observation_mirror``).
Observations in the buffer are normalized; they are mirrored in physical units.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3 import PPO

from duck.contract import CONTRACT


class SymmetricPPO(PPO):
    """PPO with a mirror-symmetry pass after each update (``symmetry_coef = 0`` is plain PPO)
    and an optional KL-adaptive learning rate (``desired_kl``; None keeps SB3's schedule)."""

    symmetry_coef: float = 0.0
    desired_kl: float | None = None
    # The adaptive rate's current value and where it started; saved with the model, so a
    # resumed run continues it.
    adaptive_lr: float | None = None
    adaptive_lr_start: float | None = None
    ADAPTIVE_LR_BOUNDS = (1e-5, 1e-3)
    # Threads for the update only: the rollout's per-step inference on 64 observations is too
    # small to gain from more, and its physics threads need the cores then; in the update the
    # cores are otherwise idle.
    update_threads: int = 1
    min_action_std: float = 0.0  # held after every update (PPOConfig.min_action_std)

    def use_adaptive_lr(self, desired_kl: float | None, start_lr: float) -> None:
        """Turn the KL-adaptive rate on (``desired_kl``) or off (None). A new start value (a
        new run, or ``--resume --set ppo.learning_rate=...``) restarts the rate there; the same
        one keeps the rate a resumed model had reached."""
        self.desired_kl = desired_kl
        if self.adaptive_lr_start != start_lr:
            self.adaptive_lr, self.adaptive_lr_start = start_lr, start_lr

    def _current_adaptive_lr(self) -> float:
        if self.adaptive_lr is None:
            self.adaptive_lr = float(self.lr_schedule(self._current_progress_remaining))
        return self.adaptive_lr

    def train(self) -> None:
        rollout_threads = torch.get_num_threads()
        torch.set_num_threads(self.update_threads)
        try:
            super().train()
            if self.desired_kl is not None:
                self.adapt_learning_rate(float(self.logger.name_to_value.get("train/approx_kl", self.desired_kl)))
            if self.symmetry_coef > 0:
                self._train_symmetry()
            self.apply_action_std_floor()
        finally:
            torch.set_num_threads(rollout_threads)

    def apply_action_std_floor(self) -> None:
        """Raise every action's std to at least ``min_action_std`` (SB3's state-independent log std)."""
        if self.min_action_std > 0:
            with torch.no_grad():
                self.policy.log_std.clamp_(min=float(np.log(self.min_action_std)))

    def _update_learning_rate(self, optimizers) -> None:
        if self.desired_kl is None:
            return super()._update_learning_rate(optimizers)
        lr = self._current_adaptive_lr()
        self.logger.record("train/learning_rate", lr)
        for optimizer in optimizers if isinstance(optimizers, list) else [optimizers]:
            for group in optimizer.param_groups:
                group["lr"] = lr

    def adapt_learning_rate(self, approx_kl: float) -> float:
        """rsl_rl's rule, once per update: shrink the rate by 1.5 when the update's KL was over
        twice the target, grow it by 1.5 when under half. Returns the new rate."""
        lr, (lo, hi) = self._current_adaptive_lr(), self.ADAPTIVE_LR_BOUNDS
        if approx_kl > 2.0 * self.desired_kl:
            self.adaptive_lr = max(lo, lr / 1.5)
        elif approx_kl < 0.5 * self.desired_kl:
            self.adaptive_lr = min(hi, lr * 1.5)
        return self.adaptive_lr

    def _mirror_normalized(self, obs: torch.Tensor) -> torch.Tensor:
        """The mirror of normalized observations: an affine map, ``obs[:, perm] * gain + bias``."""
        perm, gain, bias, clip = self._normalized_mirror_map()
        return torch.clamp(obs[:, perm] * gain + bias, -clip, clip)

    def _normalized_mirror_map(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        # n = (raw - mean) / std, mirrored raw = raw[perm] * sign, so
        # n' = n[perm] * std[perm] * sign / std + (mean[perm] * sign - mean) / std.
        # The env's whole observation: the contract's, then a privileged critic's block if any.
        perm_np, sign = self.env.observation_mirror
        perm = torch.tensor(perm_np)
        norm = self.get_vec_normalize_env()
        if norm is None or not norm.norm_obs:
            return perm, torch.tensor(sign, dtype=torch.float32), torch.zeros(len(sign)), float("inf")
        mean = norm.obs_rms.mean
        std = np.sqrt(norm.obs_rms.var + norm.epsilon)
        gain = std[perm_np] * sign / std
        bias = (mean[perm_np] * sign - mean) / std
        return (perm, torch.tensor(gain, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32),
                float(norm.clip_obs))

    def _train_symmetry(self) -> None:
        action_perm, action_sign = CONTRACT.action_mirror
        action_perm, action_sign_t = torch.tensor(action_perm), torch.tensor(action_sign, dtype=torch.float32)
        self.policy.set_training_mode(True)
        action_losses, value_losses = [], []
        for batch in self.rollout_buffer.get(self.batch_size):
            obs = batch.observations
            mirrored_obs = self._mirror_normalized(obs)
            both = torch.cat([obs, mirrored_obs])
            mean_action = self.policy.get_distribution(both).distribution.mean
            values = self.policy.predict_values(both)
            n = obs.shape[0]
            action_loss = torch.mean((mean_action[n:] - mean_action[:n][:, action_perm] * action_sign_t) ** 2)
            value_loss = torch.mean((values[n:] - values[:n]) ** 2)
            loss = self.symmetry_coef * (action_loss + value_loss)
            self.policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            action_losses.append(action_loss.item())
            value_losses.append(value_loss.item())
        self.logger.record("train/symmetry_action_loss", float(np.mean(action_losses)))
        self.logger.record("train/symmetry_value_loss", float(np.mean(value_losses)))


def symmetry_error(policy_fn, obs: np.ndarray) -> float:
    """RMS difference between a deterministic policy's action on the mirrored observation
    and the mirrored action: 0 for a perfectly equivariant policy. ``policy_fn`` maps a
    batch of raw observations to actions."""
    direct = CONTRACT.mirror_action(policy_fn(obs))
    mirrored = policy_fn(CONTRACT.mirror_observation(obs).astype(np.float32))
    return float(np.sqrt(np.mean((direct - mirrored) ** 2)))
