"""Typed training config (PPO hyperparameters + the env config), strict like the env's."""

from __future__ import annotations

from dataclasses import dataclass, field

from duck.config import check_interval, check_range
from duck.sim.config import EnvConfig
from duck.train.scoring import ScoreConfig

# How the kick scale moves (TrainConfig.push_curriculum).
PUSH_CURRICULA = ("adaptive", "kick_falls", "linear", "off")


@dataclass(frozen=True)
class PPOConfig:
    """stable-baselines3 PPO settings. ``n_envs * n_steps`` samples per update."""

    n_envs: int = 64
    n_steps: int = 64
    batch_size: int = 2048
    n_epochs: int = 5
    learning_rate: float = 5e-4  # the start value of the adaptive schedule
    # "adaptive": x/÷1.5 per update to keep approx_kl near desired_kl (rsl_rl's rule); at a
    # constant 5e-4 approx_kl grew to 0.07-0.14 with clip fraction 0.4-0.5 (notebook exp10).
    lr_schedule: str = "adaptive"  # or "constant", "linear"
    desired_kl: float = 0.02
    gamma: float = 0.98
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 1.0
    target_kl: float | None = None
    log_std_init: float = -1.0
    # Lower bound on the policy's action std (0: none), held after every update. Without it PPO
    # shrinks the std to 0.07-0.12 (2-4 cm at the foot) by 15 M steps, and a policy that explores
    # that little never tries the big forward step a forward kick needs. 0.2 from exp35 (Walk-v4),
    # with kicks every 2-5 s: 0.6 m/s kicks survived in all four directions by 8 M steps (exp28,
    # without: 0.34, never forward). The floor alone (exp36) or the kicks alone (exp34) did not.
    min_action_std: float = 0.2
    policy_layers: tuple[int, ...] = (128, 128, 128)
    value_layers: tuple[int, ...] = (256, 256)
    normalize_reward: bool = True
    # Mirror-symmetry pass after each update (duck/train/symmetry.py); 0 turns it off. On from
    # exp28: on the fixed clock it slowed early learning (exp12, exp19), but on the learned
    # clock it was what let the sharper yaw reward remove the walk's turning bias (exp24).
    symmetry_coef: float = 0.3
    # Asymmetric actor-critic (duck/train/asymmetric.py): the critic also sees the sim's
    # privileged state (base velocity, contacts, friction, latencies); the actor does not.
    # On from exp16: against exp13 (the same run without it) +1 to +2 walk-bar items at
    # 6, 8, 10 and 12 M steps (docs/training.md).
    privileged_critic: bool = True

    def validate(self) -> None:
        check_range("n_envs", self.n_envs, 1, 4096)
        check_range("n_steps", self.n_steps, 2)
        check_range("batch_size", self.batch_size, 2)
        check_range("learning_rate", self.learning_rate, 0.0, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_range("symmetry_coef", self.symmetry_coef, 0.0, 100.0)
        check_range("desired_kl", self.desired_kl, 1e-5, 1.0)
        check_range("min_action_std", self.min_action_std, 0.0, 1.0)
        from duck.config import ConfigError

        if self.lr_schedule not in ("constant", "linear", "adaptive"):
            raise ConfigError(f"lr_schedule: must be 'constant', 'linear' or 'adaptive', got {self.lr_schedule!r}")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run."""

    total_steps: int = 20_000_000
    seed: int = 0
    checkpoint_every_steps: int = 500_000
    eval_every_steps: int = 1_000_000
    eval_episodes: int = 8
    # Torch threads for the PPO update (the rollout's inference uses one). 2 measured 1.02x the
    # env steps/s of 1 on the 2-core dev VM (benchmarks/update_threads.py): the update is not
    # where the time goes.
    torch_threads: int = 1
    # Kick magnitude multiplier: "adaptive" raises it by push_curriculum_step after each rollout
    # whose fall rate is under push_curriculum_falls[0] and lowers it above [1]; "linear" ramps
    # it from 0 to 1 over push_curriculum_steps; "off" applies the full range from the start.
    # Adaptive by default: the full linear ramp (exp13, exp29) and full kicks on a trained
    # policy (exp14, exp30) cost tracking for no gain against 0.6 m/s kicks (docs/training.md).
    # The scale rises while falls per 20 s episode stay under 0.5 and drops above 1.0 (from
    # exp35; it was 0.15 / 0.4, which held kicks under ~0.55 m/s).
    # "kick_falls" gates the same steps on the kicks alone: the share of kicks followed within
    # push_curriculum_kick_window_s by a fall, against push_curriculum_kick_falls. Falls per episode
    # also count falls that no kick caused (a rough floor's, a new gait's), which held the
    # adaptive scale at 0.30-0.48 through exp42-exp46: no training kick above ~0.55 m/s. The
    # window is short because kicks come every 2-5 s: a fall 1 s after one is nearly always its
    # (a forward kick the policy cannot stop pitches it over in ~0.4 s, exp32), and a fall of other cause
    # lands in the window with odds of about 1 in 3.5. On a walking policy it made the shipped one
    # (exp50-51: every 0.6 m/s kick survived); from scratch it brings ~0.75 m/s kicks before the
    # gait and the policy learns to stand (exp53), so the fall gate stays the default.
    push_curriculum: str = "adaptive"
    push_curriculum_steps: int = 10_000_000
    push_curriculum_step: float = 0.02
    push_curriculum_falls: tuple[float, float] = (0.5, 1.0)
    # 0.3-0.5 from exp51: the scale settles at ~0.72 (kicks up to ~0.85 m/s); 0.2-0.35 (exp50) held
    # it at 0.50-0.60 and left 0.8 m/s kicks at 0.40-0.45.
    push_curriculum_kick_falls: tuple[float, float] = (0.3, 0.5)
    push_curriculum_kick_window_s: float = 1.0
    # With kick_falls: the fall gate ("adaptive") until this step, the kick gate from it on, so one
    # run can grow the gait first (exp53: the kick gate from step 0 stands still).
    push_curriculum_kick_from_steps: int = 0
    # Rough floors (env.dr.terrain.probability) from this step on; every floor is flat before it.
    # From step 0 they kept the gait from forming (exp48); switched on once it exists (exp46 at
    # 20 M, exp49 at 8.9 M) they took a policy from 16 to 21 of 27 items.
    terrain_from_steps: int = 0
    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    # Checkpoints scored against the walk bar while training, the best kept (duck/train/scoring.py).
    # Changes nothing of what is trained.
    score: ScoreConfig = field(default_factory=ScoreConfig)

    def validate(self) -> None:
        check_range("total_steps", self.total_steps, 1)
        check_range("checkpoint_every_steps", self.checkpoint_every_steps, 1)
        check_range("eval_every_steps", self.eval_every_steps, 1)
        check_range("torch_threads", self.torch_threads, 1, 64)
        check_range("terrain_from_steps", self.terrain_from_steps, 0)
        if self.push_curriculum not in PUSH_CURRICULA:
            from duck.config import ConfigError

            raise ConfigError(f"push_curriculum: must be one of {', '.join(PUSH_CURRICULA)}, "
                              f"got {self.push_curriculum!r}")
        check_interval("push_curriculum_falls", self.push_curriculum_falls, 0.0)
        check_interval("push_curriculum_kick_falls", self.push_curriculum_kick_falls, 0.0, 1.0)
        check_range("push_curriculum_kick_window_s", self.push_curriculum_kick_window_s, 0.02, 20.0)
        check_range("push_curriculum_kick_from_steps", self.push_curriculum_kick_from_steps, 0)
