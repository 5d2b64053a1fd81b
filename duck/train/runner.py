"""``duck train``: PPO (stable-baselines3) on the batched VecEnv, with checkpoints and resume.

A run directory holds:
  config.yaml          the resolved config (defaults <- YAML <- --set)
  command.txt, git_commit.txt
  checkpoints/step_<N>.zip + step_<N>_vecnormalize.pkl   (the latest two are kept)
  tb/                  TensorBoard logs: every reward term, episode length, fall rate, evals
  evals.jsonl          periodic evaluation results
  scores.jsonl, scores.png, best/   checkpoints scored against the walk bar while training, and
                       the best of them (duck/train/scoring.py; ``duck export RUN`` takes it)
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from duck.atomic import atomic_outputs, write_text
from duck.config import load, to_dict
from duck.contract import CONTRACT
from duck.errors import UserError
from duck.paths import REPO_ROOT
from duck.sim.vec_env import DuckVecEnv
from duck.train.asymmetric import AsymmetricActorCriticPolicy
from duck.train.config import TrainConfig
from duck.train.scoring import BackgroundScorer
from duck.train.symmetry import SymmetricPPO
from duck.transforms import heading_frame, quat_to_yaw


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_CHECKPOINT_NAME = re.compile(r"^step_(\d+)\.zip$")
# What a truncated, corrupted or foreign checkpoint raises from SB3/torch/pickle.
CHECKPOINT_ERRORS = (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, RuntimeError, ValueError, KeyError,
                     OSError, AttributeError, TypeError, IndexError)


def checkpoint_files(run_dir: Path) -> list[Path]:
    """``checkpoints/step_<N>.zip`` files, oldest first (other names are ignored)."""
    found = [(int(m.group(1)), p) for p in (run_dir / "checkpoints").glob("step_*.zip")
             if (m := _CHECKPOINT_NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def checkpoints(run_dir: Path) -> list[tuple[Path, Path]]:
    """(model zip, normalizer) pairs, newest first."""
    pairs = [(z, z.with_name(z.stem + "_vecnormalize.pkl")) for z in reversed(checkpoint_files(run_dir))]
    return [(z, n) for z, n in pairs if n.is_file()]


def latest_checkpoint(run_dir: Path) -> tuple[Path, Path] | None:
    found = checkpoints(run_dir)
    return found[0] if found else None


def checkpoint_problem(zip_path: Path, norm_path: Path) -> str | None:
    """Why a checkpoint cannot be loaded (its zip and normalizer are read whole), or None."""
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        load_from_zip_file(str(zip_path), device="cpu", load_data=True)
        with open(norm_path, "rb") as f:
            pickle.load(f)
    except CHECKPOINT_ERRORS as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    return None


def usable_checkpoint(run_dir: Path, warn=None) -> tuple[Path, Path] | None:
    """The newest checkpoint that loads; each damaged newer one is skipped with a warning."""
    warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
    for zip_path, norm_path in checkpoints(run_dir):
        problem = checkpoint_problem(zip_path, norm_path)
        if problem is None:
            return zip_path, norm_path
        warn(f"checkpoint {zip_path.name} is damaged ({problem}); falling back to the previous one")
    return None


def curriculum_state_path(zip_path: Path) -> Path:
    """The checkpoint's curriculum state (JSON), next to its model and normalizer."""
    return zip_path.with_name(zip_path.stem + "_curriculum.json")


def saved_push_scale(zip_path: Path) -> float | None:
    """The kick-magnitude scale a checkpoint was saved at; None for checkpoints from before
    it was saved (their resume restarts the curriculum at 0)."""
    path = curriculum_state_path(zip_path)
    if not path.is_file():
        return None
    return float(json.loads(path.read_text())["push_scale"])


def saved_wall_s(zip_path: Path, run_dir: Path) -> float:
    """Training wall-clock up to a checkpoint, so a resumed run's clock (scores.jsonl, evals.jsonl,
    scores.png) goes on from there instead of restarting at 0. Checkpoints from before it was
    saved fall back to the run's last quick eval at or before the checkpoint's steps."""
    path = curriculum_state_path(zip_path)
    if path.is_file():
        state = json.loads(path.read_text())
        if "wall_s" in state:
            return float(state["wall_s"])
    steps = int(_CHECKPOINT_NAME.match(zip_path.name).group(1))
    walls = [0.0]
    evals = run_dir / "evals.jsonl"
    if evals.is_file():
        for line in evals.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a torn last line from a killed run
                continue
            if row.get("steps", steps + 1) <= steps and "wall_s" in row:
                walls.append(float(row["wall_s"]))
    return max(walls)


def load_run_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a training run (no config.yaml)")
    return load(TrainConfig, path)


def matching_checkpoint(cfg: TrainConfig, zip_path: Path) -> TrainConfig:
    """``cfg`` with ``ppo.privileged_critic`` as the checkpoint's network has it. Runs from
    before the option (it defaults to on since) have no key for it in config.yaml, and a
    network's inputs cannot change on resume anyway."""
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        data, _, _ = load_from_zip_file(str(zip_path), device="cpu", load_data=True)
    except CHECKPOINT_ERRORS as exc:
        raise UserError(f"checkpoint {zip_path} is damaged ({type(exc).__name__}: {exc})") from None
    check_network_shape(cfg, data, zip_path)
    privileged = int(data["observation_space"].shape[0]) > CONTRACT.obs_dim
    if privileged == cfg.ppo.privileged_critic:
        return cfg
    return replace(cfg, ppo=replace(cfg.ppo, privileged_critic=privileged))


def check_network_shape(cfg: TrainConfig, data: dict, zip_path: Path) -> None:
    """A run's config must describe the network its checkpoint holds: a layer edit in
    config.yaml or a ``--set`` on resume is an error naming what changed, not a new record."""
    arch = (data.get("policy_kwargs") or {}).get("net_arch")
    if not isinstance(arch, dict):
        return  # not one of ours: SB3 itself will refuse a wrong shape
    for key, name in (("pi", "policy_layers"), ("vf", "value_layers")):
        theirs, ours = [int(v) for v in arch.get(key, [])], list(getattr(cfg.ppo, name))
        if theirs != ours:
            raise UserError(f"ppo.{name}: the config says {ours} but checkpoint {zip_path.name} holds a "
                            f"{theirs} network; a network's shape cannot change on resume")


class TrainingCallback(BaseCallback):
    """Progress bar, per-term TensorBoard logs, checkpoints and periodic evaluation."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, total_steps: int, push_scale: float | None = None,
                 wall_s: float = 0.0):
        super().__init__()
        self.wall_s0 = wall_s  # training wall-clock before this process (a resumed run's earlier part)
        self.cfg, self.run_dir, self.total = cfg, run_dir, total_steps
        # On resume, the adaptive curriculum goes on from the checkpoint's kick scale
        # instead of relearning it from 0 (~2 M steps of easy kicks).
        self.initial_push_scale = push_scale
        self.terms: dict[str, list[float]] = {}
        self.falls: list[bool] = []
        self.kick_falls = 0  # falls within push_curriculum_kick_window_s of a kick, this rollout
        self.kicks_before = 0  # the sim's kicks_given at this rollout's start
        self.rollout_env_steps = 0
        self.lengths: list[int] = []
        self.bar = None
        self.t0 = time.time()
        self.steps0 = 0
        self.saved_steps = 0  # steps of the newest checkpoint on disk (Ctrl-C says what is lost)
        self.scorer = BackgroundScorer(run_dir, cfg.score) if cfg.score.enabled else None
        self.last_scored = -1

    def _on_training_start(self) -> None:
        from tqdm import tqdm

        self.steps0 = self.num_timesteps
        self.sim = self.model.get_vec_normalize_env().venv.sim
        self.kick_window_steps = int(round(self.cfg.push_curriculum_kick_window_s / self.sim.contract.control_dt_s))
        self.kicks_before = self.sim.kicks_given
        if self.cfg.push_curriculum in ("adaptive", "kick_falls") and self.initial_push_scale is not None:
            self.sim.push_scale = self.initial_push_scale
        elif self.cfg.push_curriculum != "off":
            self.sim.push_scale = 0.0
        self.next_ckpt = (self.num_timesteps // self.cfg.checkpoint_every_steps + 1) * self.cfg.checkpoint_every_steps
        self.next_eval = (self.num_timesteps // self.cfg.eval_every_steps + 1) * self.cfg.eval_every_steps
        every = self.cfg.score.every_steps
        self.next_score = max(self.cfg.score.start_steps, (self.num_timesteps // every + 1) * every)
        self.bar = tqdm(total=self.total, initial=self.num_timesteps, unit="step", unit_scale=True,
                        dynamic_ncols=True, mininterval=2.0, file=sys.stderr)

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode_terms" in info:
                for k, v in info["episode_terms"].items():
                    self.terms.setdefault(k, []).append(v)
                self._count_fall(info)
                self.lengths.append(info["episode"]["l"])
        self.bar.update(self.training_env.num_envs)
        self.rollout_env_steps += self.training_env.num_envs
        if self.cfg.push_curriculum == "linear":
            self.sim.push_scale = min(1.0, self.num_timesteps / max(1, self.cfg.push_curriculum_steps))
        if self.num_timesteps >= self.next_ckpt:
            self.save_checkpoint()
            self.next_ckpt += self.cfg.checkpoint_every_steps
        if self.num_timesteps >= self.next_eval:
            self.evaluate()
            self.next_eval += self.cfg.eval_every_steps
        return True

    def _count_fall(self, info: dict) -> None:
        """An episode's end: a fall or not, and a fall the latest kick caused or not."""
        self.falls.append(info["fell"])
        self.kick_falls += info["fell"] and info["steps_since_kick"] <= self.kick_window_steps

    def _push_gate(self) -> str:
        """The curriculum in force now: kick_falls runs the fall gate until its start step."""
        cfg = self.cfg
        if cfg.push_curriculum == "kick_falls" and self.num_timesteps < cfg.push_curriculum_kick_from_steps:
            return "adaptive"
        return cfg.push_curriculum

    def _update_push_curriculum(self) -> None:
        cfg = self.cfg
        gate = self._push_gate()
        if gate == "off":
            self.sim.push_scale = 1.0
        elif gate == "adaptive":
            # Falls per full-length episode's worth of env steps: unbiased by how many
            # episodes happened to end within this rollout.
            episodes = self.rollout_env_steps / self.sim.max_steps
            rate = float(np.sum(self.falls)) / max(episodes, 1e-9)
            self.logger.record("curriculum/falls_per_episode", rate)
            self._step_push_scale(rate, cfg.push_curriculum_falls)
        elif gate == "kick_falls":
            kicks = self.sim.kicks_given - self.kicks_before
            if kicks:
                rate = self.kick_falls / kicks
                self.logger.record("curriculum/falls_per_kick", rate)
                self._step_push_scale(rate, cfg.push_curriculum_kick_falls)
        self.kicks_before, self.kick_falls = self.sim.kicks_given, 0
        self.logger.record("curriculum/push_scale", self.sim.push_scale)

    def _step_push_scale(self, rate: float, band: tuple[float, float]) -> None:
        """One curriculum step up below the band, down above it."""
        low, high = band
        if rate < low:
            self.sim.push_scale = min(1.0, self.sim.push_scale + self.cfg.push_curriculum_step)
        elif rate > high:
            self.sim.push_scale = max(0.0, self.sim.push_scale - self.cfg.push_curriculum_step)

    def _update_terrain(self) -> None:
        """Rough floors on from cfg.terrain_from_steps (the envs reset after it draw them)."""
        if self.sim.terrain is None:
            return
        self.sim.terrain.probability = rough_floor_probability(self.cfg, self.num_timesteps)
        self.logger.record("curriculum/rough_floor_probability", self.sim.terrain.probability)

    def _on_rollout_end(self) -> None:
        self._update_push_curriculum()
        self._update_terrain()
        for k, v in self.terms.items():
            self.logger.record(f"reward_terms/{k}", float(np.mean(v)))
        if self.falls:
            self.logger.record("rollout/fall_rate", float(np.mean(self.falls)))
            self.logger.record("rollout/episode_length_steps", float(np.mean(self.lengths)))
            ep = self.model.ep_info_buffer
            self.bar.set_postfix(ep_len=f"{np.mean(self.lengths):.0f}", falls=f"{np.mean(self.falls):.2f}",
                                 ret=f"{np.mean([e['r'] for e in ep]):.0f}" if ep else "-")
        elapsed = time.time() - self.t0
        self.logger.record("time/wall_steps_per_s", (self.num_timesteps - self.steps0) / max(elapsed, 1e-9))
        if self.scorer is not None:
            self.scorer.poll()
        self.terms, self.falls, self.lengths = {}, [], []
        self.rollout_env_steps = 0

    def _on_training_end(self) -> None:
        self.save_checkpoint(final=True)
        self.bar.close()
        if self.scorer is not None and self.scorer.pending():
            print(f"scoring the last {self.scorer.pending()} checkpoint(s) against the walk bar "
                  f"(log: {self.scorer.log})", file=sys.stderr)
            self.scorer.finish(lambda text: print(text, file=sys.stderr))

    def save_checkpoint(self, final: bool = False, prune: bool = True) -> Path:
        """Model, normalizer and curriculum state as one unit (temp files, then renames with the
        model last): an interrupted save leaves the previous checkpoints as they were. ``prune``:
        then delete all but the newest two."""
        ckpt_dir = self.run_dir / "checkpoints"
        ckpt_dir.mkdir(exist_ok=True)
        zip_path = ckpt_dir / f"step_{self.num_timesteps}.zip"
        norm_path = zip_path.with_name(zip_path.stem + "_vecnormalize.pkl")
        with atomic_outputs([curriculum_state_path(zip_path), norm_path, zip_path]) as (tmp_cur, tmp_norm, tmp_zip):
            self.model.save(str(tmp_zip))
            self.model.get_vec_normalize_env().save(str(tmp_norm))
            tmp_cur.write_text(json.dumps({"push_scale": self.sim.push_scale, "wall_s": self.wall_s()}))
        self.saved_steps = int(self.num_timesteps)
        due = self.num_timesteps >= self.next_score or (final and self.num_timesteps >= self.cfg.score.start_steps)
        if self.scorer is not None and due and self.num_timesteps != self.last_scored:
            self.scorer.submit(zip_path, self.wall_s())
            self.last_scored = self.num_timesteps
            while self.next_score <= self.num_timesteps:
                self.next_score += self.cfg.score.every_steps
        ckpts = checkpoint_files(self.run_dir) if prune else []
        for old in ckpts[:-2]:
            old.unlink(missing_ok=True)
            old.with_name(old.stem + "_vecnormalize.pkl").unlink(missing_ok=True)
            curriculum_state_path(old).unlink(missing_ok=True)
        return zip_path

    def wall_s(self) -> float:
        """Training wall-clock of the whole run, across resumes."""
        return round(self.wall_s0 + time.time() - self.t0, 1)

    def evaluate(self) -> None:
        result = quick_eval(self.model, self.cfg, self.cfg.eval_episodes)
        result["steps"] = int(self.num_timesteps)
        result["wall_s"] = self.wall_s()
        for k, v in result.items():
            self.logger.record(f"eval/{k}", v)
        with open(self.run_dir / "evals.jsonl", "a") as f:
            f.write(json.dumps(result) + "\n")


def quick_eval(model: SymmetricPPO, cfg: TrainConfig, episodes: int, seconds: float = 10.0) -> dict[str, float]:
    """Deterministic policy on fresh envs (training randomization, no pushes): survival and tracking."""
    env_cfg = replace(cfg.env, dr=replace(cfg.env.dr, push=replace(cfg.env.dr.push, enabled=False)))
    venv = make_vec_env(cfg, episodes, env_cfg, seed=10_000 + cfg.seed)
    norm = model.get_vec_normalize_env()
    obs = venv.reset()
    alive = np.ones(episodes, dtype=bool)
    sq_err, count = 0.0, 0
    for _ in range(int(seconds * venv.sim.contract.control_rate_hz)):
        action, _ = model.predict(norm.normalize_obs(obs), deterministic=True)
        obs, _, dones, infos = venv.step(action)
        for i in np.flatnonzero(dones):
            if infos[i].get("fell"):
                alive[i] = False
        vel = heading_frame(quat_to_yaw(venv.sim.qpos[:, 3:7]), venv.sim.qvel[:, 0:3])
        err = np.sum((vel[:, :2] - venv.sim.command[:, :2]) ** 2, axis=-1)
        sq_err += float(np.sum(err[alive]))
        count += int(alive.sum())
    venv.close()
    return {"survival_rate": float(alive.mean()), "lin_vel_rmse_mps": float(np.sqrt(sq_err / max(count, 1)))}


def rough_floor_probability(cfg: TrainConfig, steps: int) -> float:
    """The share of resets that draw a rough floor at ``steps`` into a run."""
    return cfg.env.dr.terrain.probability if steps >= cfg.terrain_from_steps else 0.0


def make_vec_env(cfg: TrainConfig, num_envs: int, env_cfg=None, seed: int = 0) -> DuckVecEnv:
    """The VecEnv a run's model reads: with the privileged block when the run has a privileged critic."""
    return DuckVecEnv(num_envs, cfg.env if env_cfg is None else env_cfg, seed=seed,
                      privileged=cfg.ppo.privileged_critic)


def resumable_hyperparameters(cfg: TrainConfig) -> dict:
    """The PPO settings that may change between runs of the same network."""
    p = cfg.ppo
    # "adaptive" starts from learning_rate; SymmetricPPO adjusts it from there.
    lr = (lambda progress: p.learning_rate * progress) if p.lr_schedule == "linear" else p.learning_rate
    return {"learning_rate": lr, "n_steps": p.n_steps, "batch_size": p.batch_size, "n_epochs": p.n_epochs,
            "gamma": p.gamma, "gae_lambda": p.gae_lambda, "clip_range": p.clip_range, "ent_coef": p.ent_coef,
            "vf_coef": p.vf_coef, "max_grad_norm": p.max_grad_norm, "target_kl": p.target_kl}


def make_model(cfg: TrainConfig, venv: VecNormalize, run_dir: Path) -> SymmetricPPO:
    p = cfg.ppo
    policy_kwargs = {"net_arch": {"pi": list(p.policy_layers), "vf": list(p.value_layers)},
                     "activation_fn": torch.nn.ELU, "log_std_init": p.log_std_init}
    policy: str | type = "MlpPolicy"
    if p.privileged_critic:
        policy = AsymmetricActorCriticPolicy
        policy_kwargs["actor_obs_dim"] = venv.venv.sim.contract.obs_dim
    return SymmetricPPO(policy, venv, **resumable_hyperparameters(cfg), seed=cfg.seed, verbose=0,
                        tensorboard_log=str(run_dir / "tb"), device="cpu", policy_kwargs=policy_kwargs)


def train(cfg: TrainConfig, run_dir: Path, resume: bool = False, argv: list[str] | None = None) -> Path:
    """Train (or resume) a run in ``run_dir``; returns the final checkpoint path."""
    torch.set_num_threads(1)  # rollout inference; the update uses cfg.torch_threads
    checkpoint = None
    if resume:
        if not checkpoints(run_dir):
            raise UserError(f"--resume: no checkpoint in {run_dir / 'checkpoints'}")
        checkpoint = usable_checkpoint(run_dir)  # a damaged newest one falls back, with a warning
        if checkpoint is None:
            raise UserError(f"--resume: every checkpoint in {run_dir / 'checkpoints'} is damaged")
        cfg = matching_checkpoint(cfg, checkpoint[0])

    base = make_vec_env(cfg, cfg.ppo.n_envs, seed=cfg.seed)
    if checkpoint is not None:
        venv = VecNormalize.load(str(checkpoint[1]), base)
        # The run's config wins over the checkpoint's saved hyperparameters, so
        # `--resume --set ppo.learning_rate=...` takes effect (network shapes cannot change).
        model = SymmetricPPO.load(str(checkpoint[0]), env=venv, device="cpu", **resumable_hyperparameters(cfg))
        model.tensorboard_log = str(run_dir / "tb")
        push_scale = saved_push_scale(checkpoint[0])
        wall_s = saved_wall_s(checkpoint[0], run_dir)
        print(f"resuming {run_dir} from {checkpoint[0].name} at {model.num_timesteps} steps"
              + (f", kick scale {push_scale:.2f}" if push_scale is not None else ""), file=sys.stderr)
    else:
        venv = VecNormalize(base, norm_obs=True, norm_reward=cfg.ppo.normalize_reward, clip_obs=10.0,
                            gamma=cfg.ppo.gamma)
        model = make_model(cfg, venv, run_dir)
        push_scale, wall_s = None, 0.0
    # Only now that the model has loaded is the run's record written. The resolved config; on
    # --resume with --set overrides it becomes the run's config (command.txt keeps the history).
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    with open(run_dir / "git_commit.txt", "a") as f:
        f.write(git_commit() + "\n")
    with open(run_dir / "command.txt", "a") as f:
        f.write(" ".join(argv or sys.argv) + "\n")
    model.symmetry_coef = cfg.ppo.symmetry_coef
    model.update_threads = cfg.torch_threads
    model.min_action_std = cfg.ppo.min_action_std
    model.apply_action_std_floor()
    model.use_adaptive_lr(cfg.ppo.desired_kl if cfg.ppo.lr_schedule == "adaptive" else None, cfg.ppo.learning_rate)
    if base.sim.terrain is not None:  # before learn()'s first reset draws the floors
        base.sim.terrain.probability = rough_floor_probability(cfg, model.num_timesteps)
    remaining = cfg.total_steps - model.num_timesteps
    if remaining > 0:
        callback = TrainingCallback(cfg, run_dir, cfg.total_steps, push_scale, wall_s)
        callback.saved_steps = int(model.num_timesteps) if checkpoint is not None else 0
        try:
            model.learn(remaining, callback=callback, reset_num_timesteps=checkpoint is None, tb_log_name="ppo")
        except KeyboardInterrupt:
            save_on_interrupt(model, callback, run_dir)
            raise
        finally:
            if callback.scorer is not None:
                callback.scorer.stop()  # only still running when training was interrupted
    venv.close()
    final = latest_checkpoint(run_dir)
    return final[0] if final else run_dir


def save_on_interrupt(model: SymmetricPPO, callback: TrainingCallback, run_dir: Path) -> None:
    """Ctrl-C: save a checkpoint before exiting, and say exactly what it holds. A second
    Ctrl-C during the save leaves the previous checkpoints intact and says how many steps
    that loses."""
    if callback.bar is not None:
        callback.bar.close()
    steps = int(model.num_timesteps)
    if getattr(callback, "sim", None) is None:
        print("duck train: interrupted before training started; nothing to save", file=sys.stderr)
        return
    # The rollout in progress was collected but not learned from yet (SB3 learns per rollout).
    unlearned = int(model.rollout_buffer.pos) * model.n_envs if model.rollout_buffer.pos < model.n_steps else 0
    print(f"duck train: interrupted at {steps} steps; saving a checkpoint (Ctrl-C again to skip it)...",
          file=sys.stderr, flush=True)
    try:
        path = callback.save_checkpoint(prune=False)  # an interrupted run deletes none of the earlier ones
    except KeyboardInterrupt:
        lost = steps - callback.saved_steps
        print(f"duck train: not saved; the {lost} steps since the last checkpoint (at {callback.saved_steps} "
              "steps) are lost", file=sys.stderr)
        return
    print(f"duck train: saved {path.relative_to(run_dir)} at {steps} steps"
          + (f" (the interrupted rollout's last {unlearned} steps were collected but not yet learned from)"
             if unlearned else "")
          + f"; continue with: duck train --run-dir {run_dir} --resume", file=sys.stderr)
