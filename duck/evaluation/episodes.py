"""Run an ONNX policy (onnxruntime, batched) in the MuJoCo sim and record what happens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from duck.runtime.policy import Policy
from duck.sim.batch import SOLE_SITE_HEIGHT, BatchSim
from duck.sim.config import EnvConfig
from duck.transforms import heading_frame, quat_to_yaw

if TYPE_CHECKING:
    from duck.evaluation.transfer import Condition

# command_fn(step, sim) -> (N, 3) command or None to keep; kick_fn(step, sim) -> None (may call sim.kick)
CommandFn = Callable[[int, BatchSim], "np.ndarray | None"]
KickFn = Callable[[int, BatchSim], None]


@dataclass
class Trace:
    """Per-step records, shape (T, N, ...), and the alive mask (T, N) (False from the fall on)."""

    base_pos: np.ndarray
    yaw: np.ndarray
    vel_heading: np.ndarray  # (T, N, 3) vx, vy (heading frame), wz (world)
    command: np.ndarray
    contact: np.ndarray  # (T, N, 2) right, left
    foot_height: np.ndarray  # (T, N, 2)
    foot_speed_xy: np.ndarray  # (T, N, 2)
    joint_pos: np.ndarray  # (T, N, 13)
    joint_vel: np.ndarray
    torque: np.ndarray
    alive: np.ndarray
    dt: float
    mass_kg: float

    @property
    def fell(self) -> np.ndarray:
        return ~self.alive[-1]


def eval_config(base: EnvConfig, seconds: float, randomize: bool, physics_dt_s: float | None = None) -> EnvConfig:
    """Eval env: no random pushes, command or head-command resampling (the suite drives them),
    long enough episodes, the scene's flat floor (the rough floor is the transfer section's row)."""
    dr = replace(base.dr, push=replace(base.dr.push, enabled=False), enabled=randomize,
                 terrain=replace(base.dr.terrain, probability=0.0))
    commands = replace(base.commands, head=replace(base.commands.head, range_scale=0.0))
    cfg = replace(base, dr=dr, commands=commands, episode_length_s=seconds + 1.0,
                  init_joint_noise_rad=base.init_joint_noise_rad if randomize else 0.0)
    if physics_dt_s is not None:
        cfg = replace(cfg, physics_dt_s=physics_dt_s)
    return cfg


def run_episodes(policy: Policy, cfg: EnvConfig, n: int, seconds: float, seed: int,
                 command_fn: CommandFn, kick_fn: KickFn | None = None, head_fn: KickFn | None = None,
                 condition: Condition | None = None) -> Trace:
    """``head_fn(step, sim)`` may set head commands; ``condition`` (the transfer section's)
    changes the sim: its model before the sim is built, the rest after the reset."""
    model = condition.build_model(cfg, seed) if condition is not None else None
    sim = BatchSim(n, cfg, model=model)
    try:
        sim.seed(seed + np.arange(n))
        obs = sim.reset(sim.all)
        if condition is not None:
            condition.apply(sim, cfg)
        first = command_fn(0, sim)
        if first is not None:
            sim.set_command(first)
            obs = sim.observe()  # the first observation must carry the command
        steps = int(round(seconds / sim.contract.control_dt_s))
        rec: dict[str, list[np.ndarray]] = {k: [] for k in Trace.__dataclass_fields__ if k not in ("dt", "mass_kg")}
        alive = np.ones(n, dtype=bool)
        for t in range(steps):
            if t > 0:
                cmd = command_fn(t, sim)
                if cmd is not None:
                    sim.set_command(cmd)
                    obs = sim.observe()
            if kick_fn is not None:
                kick_fn(t, sim)
            if head_fn is not None:
                head_fn(t, sim)
            action, _ = policy(obs)
            obs, _, terminated, _, _ = sim.step(action)
            alive &= ~terminated
            s = sim.step_state()
            yaw = quat_to_yaw(sim.qpos[:, 3:7])
            vel = heading_frame(yaw, sim.qvel[:, 0:3])
            vel[:, 2] = s.ang_vel_world[:, 2]
            rec["base_pos"].append(sim.qpos[:, 0:3].copy())
            rec["yaw"].append(yaw)
            rec["vel_heading"].append(vel)
            rec["command"].append(sim.command.copy())
            rec["contact"].append(s.foot_contact)
            rec["foot_height"].append(s.foot_height)
            rec["foot_speed_xy"].append(np.linalg.norm(s.foot_vel_xy, axis=-1))
            rec["joint_pos"].append(s.joint_pos_rel + sim.contract.home)
            rec["joint_vel"].append(s.joint_vel)
            rec["torque"].append(s.torque)
            rec["alive"].append(alive.copy())
        return Trace(**{k: np.array(v) for k, v in rec.items()}, dt=sim.contract.control_dt_s, mass_kg=sim.idx.mass)
    finally:
        sim.close()


__all__ = ["Trace", "run_episodes", "eval_config", "SOLE_SITE_HEIGHT"]
