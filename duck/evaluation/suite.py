"""The fixed, seeded evaluation suite behind ``duck eval``.

Sections (top-level JSON keys): ``fixed``, ``tracking``, ``push``, ``stand``,
``gait``, ``sim2sim``, and walk bar 2's (issue 21) ``head_tracking``, ``fast`` and ``transfer``.
Metric names carry their unit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from duck.contract import CONTRACT
from duck.evaluation.episodes import Trace, eval_config, run_episodes
from duck.evaluation.transfer import Condition, TransferSettings, row_meets_bar
from duck.runtime.policy import Policy
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig

FIXED_COMMANDS = {
    "forward": (0.15, 0.0, 0.0),
    "backward": (-0.10, 0.0, 0.0),
    "left": (0.0, 0.10, 0.0),
    "right": (0.0, -0.10, 0.0),
    "turn_left": (0.0, 0.0, 0.5),
    "turn_right": (0.0, 0.0, -0.5),
}
KICKS_MPS = (0.2, 0.4, 0.6, 0.8, 1.0)
# Walk bar 2 (issue 21): faster forward walking; 0.25 m/s is an item, 0.30 a stretch reported.
FAST_COMMANDS = {"forward_0.25": (0.25, 0.0, 0.0), "forward_0.30": (0.30, 0.0, 0.0)}
# 90-degree sectors of the kick direction in the world frame, centred on +x (the robot
# starts facing +x), +y, -x, -y: which way a policy falls tells what it lacks.
KICK_SECTORS = ("front", "left", "back", "right")


@dataclass(frozen=True)
class SuiteSettings:
    """Sizes of the suite; the defaults are the documented suite, tests shrink them."""

    fixed_seconds: float = 10.0
    settle_seconds: float = 2.0  # metrics over the last (fixed_seconds - settle_seconds)
    tracking_episodes: int = 20
    tracking_seconds: float = 20.0
    resample_seconds: float = 5.0
    transient_seconds: float = 1.0  # excluded from RMSE after each command change
    push_episodes: int = 40  # per kick magnitude; a multiple of 4 gives each sector the same share
    push_walk_mps: float = 0.1
    push_at_seconds: float = 3.0
    push_seconds: float = 8.0
    head_tracking: bool = True  # random-command tracking with random head commands
    head_resample_seconds: float = 2.0
    fast: bool = True  # the 0.25 and 0.30 m/s forward commands
    sim2sim: bool = True
    seed: int = 1234

    def validate(self) -> None:
        """Sizes the suite can run: an empty batch (``tracking_episodes=0``) crashed inside
        ``mujoco.rollout``, and a section shorter than its settle/transient time has no samples."""
        from duck.config import check_range

        check_range("tracking_episodes", self.tracking_episodes, 1, 4096)
        check_range("push_episodes", self.push_episodes, 1, 4096)
        check_range("seed", self.seed, 0, 2**32 - 1)
        for name in ("fixed_seconds", "tracking_seconds", "push_seconds"):
            check_range(name, getattr(self, name), 1.0, 600.0)
        check_range("settle_seconds", self.settle_seconds, 0.0, self.fixed_seconds - 0.5)
        check_range("resample_seconds", self.resample_seconds, 0.5, 600.0)
        check_range("head_resample_seconds", self.head_resample_seconds, 0.5, 600.0)
        check_range("transient_seconds", self.transient_seconds, 0.0, self.resample_seconds - 0.1)
        check_range("push_at_seconds", self.push_at_seconds, 0.0, self.push_seconds - 0.5)
        vx = CONTRACT.commands.vx_mps
        check_range("push_walk_mps", self.push_walk_mps, vx.low, vx.high)


def kick_plan(rng: np.random.Generator, episodes: int, period_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Directions (rad, world frame) and gait-period offsets (control steps) of one kick per episode.

    Stratified rather than drawn independently: the directions are evenly spaced from a random
    start, and the offsets evenly spread over one gait period in random pairing with them. The
    quantity estimated is the same (survival over uniformly random directions and timings), but
    20 independent draws once put half of the kicks in the front sector and made one item
    mostly a forward-kick test (docs/training.md, exp38m).
    """
    angles = np.mod(rng.uniform(0.0, 2.0 * np.pi) + 2.0 * np.pi * np.arange(episodes) / episodes, 2.0 * np.pi)
    offsets = rng.permutation((np.arange(episodes) * period_steps) // episodes)
    return angles, offsets


def hold_command(command) -> callable:
    """A command function that sets ``command`` in every env at the first step and keeps it."""
    cmd = np.asarray(command, dtype=np.float64)
    return lambda t, sim: np.tile(cmd, (sim.n, 1)) if t == 0 else None


def scheduled_kicks(kick_step: np.ndarray, velocity_xy: np.ndarray) -> callable:
    """A kick function: env ``i`` gets the horizontal kick ``velocity_xy[i]`` (m/s) at step ``kick_step[i]``."""
    def kick_fn(t: int, sim: BatchSim) -> None:
        due = np.flatnonzero(kick_step == t)
        if due.size:
            sim.kick(due, velocity_xy[due])
    return kick_fn


def fixed_section(policy: Policy, cfg: EnvConfig, s: SuiteSettings, randomize: bool = False,
                  physics_dt_s: float | None = None, condition: Condition | None = None,
                  fixed_commands: dict[str, tuple[float, float, float]] = FIXED_COMMANDS,
                  ) -> tuple[dict, dict[str, Trace]]:
    out, traces = {}, {}
    ecfg = eval_config(cfg, s.fixed_seconds, randomize, physics_dt_s)
    names = list(fixed_commands)
    commands = np.array([fixed_commands[k] for k in names])
    trace = run_episodes(policy, ecfg, len(names), s.fixed_seconds, s.seed,
                         lambda t, sim: commands if t == 0 else None, condition=condition)
    k0 = int(s.settle_seconds / trace.dt)
    for i, name in enumerate(names):
        cmd = commands[i]
        achieved = trace.vel_heading[k0:, i].mean(axis=0)
        axis = int(np.argmax(np.abs(cmd)))
        disp = trace.base_pos[-1, i, :2] - trace.base_pos[0, i, :2]
        yaw0 = trace.yaw[0, i]
        along = disp[0] * np.cos(yaw0) + disp[1] * np.sin(yaw0)
        lateral = -disp[0] * np.sin(yaw0) + disp[1] * np.cos(yaw0)
        yaw_drift = float(np.unwrap(trace.yaw[:, i])[-1] - yaw0)
        out[name] = {
            "command": [float(c) for c in cmd],
            "achieved_vx_mps": float(achieved[0]),
            "achieved_vy_mps": float(achieved[1]),
            "achieved_yaw_rate_rad_s": float(achieved[2]),
            "achieved_over_commanded": float(achieved[axis] / cmd[axis]),
            "forward_distance_m": float(along),
            "lateral_drift_m": float(lateral),
            "yaw_drift_rad": yaw_drift,
            "fell": bool(trace.fell[i]),
        }
        traces[name] = _select(trace, i)
    return out, traces


def stand_section(policy: Policy, cfg: EnvConfig, s: SuiteSettings, n: int = 4) -> dict:
    trace = run_episodes(policy, eval_config(cfg, s.fixed_seconds, False), n, s.fixed_seconds, s.seed + 7,
                         hold_command((0.0, 0.0, 0.0)))
    drift = np.linalg.norm(trace.base_pos[-1, :, :2] - trace.base_pos[0, :, :2], axis=-1)
    yaw = np.abs(np.unwrap(trace.yaw, axis=0)[-1] - trace.yaw[0])
    return {"episodes": n, "seconds": s.fixed_seconds, "base_drift_m": float(drift.max()),
            "mean_base_drift_m": float(drift.mean()), "yaw_drift_rad": float(yaw.max()),
            "falls": int(trace.fell.sum())}


def head_schedule(s: SuiteSettings) -> callable:
    """A head function: every head joint's command uniform over the contract's range, drawn
    afresh every ``s.head_resample_seconds`` (teleop moving the head while the robot walks)."""
    every = int(round(s.head_resample_seconds / CONTRACT.control_dt_s))
    n_segments = int(np.ceil(s.tracking_seconds / s.head_resample_seconds))
    r = CONTRACT.head_command_range_rad
    heads = np.random.default_rng(s.seed + 3).uniform(
        r.low, r.high, size=(n_segments, s.tracking_episodes, len(CONTRACT.head_indices)))

    def head_fn(t: int, sim: BatchSim) -> None:
        if t % every == 0:
            sim.set_head_command(heads[t // every])
    return head_fn


def tracking_section(policy: Policy, cfg: EnvConfig, s: SuiteSettings, randomize: bool = False,
                     physics_dt_s: float | None = None, condition: Condition | None = None,
                     head: bool = False) -> tuple[dict, Trace]:
    ecfg = eval_config(cfg, s.tracking_seconds, randomize, physics_dt_s)
    every = int(round(s.resample_seconds / CONTRACT.control_dt_s))
    rng = np.random.default_rng(s.seed + 1)
    n_segments = int(np.ceil(s.tracking_seconds / s.resample_seconds))
    low, high = CONTRACT.commands.as_arrays()
    schedule = rng.uniform(low, high, size=(n_segments, s.tracking_episodes, 3))
    trace = run_episodes(policy, ecfg, s.tracking_episodes, s.tracking_seconds, s.seed + 2,
                         lambda t, sim: schedule[t // every] if t % every == 0 else None,
                         head_fn=head_schedule(s) if head else None, condition=condition)
    steps = np.arange(trace.alive.shape[0])
    in_segment = steps % every
    settled = in_segment >= int(s.transient_seconds / trace.dt)
    instant = _tracking_rmse(trace.vel_heading, trace.command, trace.alive & settled[:, None])
    # A biped's base sways within each stride; a velocity command is about the mean over
    # strides. Centered moving average over one gait period, using only windows that lie
    # inside one command segment (after its transient).
    window = int(round(CONTRACT.gait_period_s / trace.dt))
    half = window // 2
    inside = settled & (in_segment >= half) & (in_segment < every - half)
    stride = _tracking_rmse(_moving_average(trace.vel_heading, window), trace.command,
                            trace.alive & inside[:, None] & _alive_for(trace.alive, half))
    return {
        "episodes": s.tracking_episodes,
        "seconds": s.tracking_seconds,
        "survival_rate": float(1.0 - trace.fell.mean()),
        "lin_vel_rmse_mps": instant[0],
        "yaw_rate_rmse_rad_s": instant[1],
        "stride_lin_vel_rmse_mps": stride[0],
        "stride_yaw_rate_rmse_rad_s": stride[1],
        "stride_window_s": window * trace.dt,
        "rmse_excludes_seconds_after_command_change": s.transient_seconds,
    }, trace


def _tracking_rmse(vel: np.ndarray, command: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(planar velocity RMSE, yaw-rate RMSE) over the (T, N) ``mask``."""
    if not mask.any():
        return float("nan"), float("nan")
    lin = np.sum((vel[..., :2] - command[..., :2]) ** 2, axis=-1)[mask]
    yaw = ((vel[..., 2] - command[..., 2]) ** 2)[mask]
    return float(np.sqrt(lin.mean())), float(np.sqrt(yaw.mean()))


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centered moving average along time (axis 0); edges average what is there."""
    padded = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), x]), axis=0)
    t = np.arange(x.shape[0])
    lo = np.clip(t - window // 2, 0, x.shape[0])
    hi = np.clip(lo + window, 0, x.shape[0])
    count = (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return (padded[hi] - padded[lo]) / count


def _alive_for(alive: np.ndarray, half: int) -> np.ndarray:
    """True where the episode is still alive ``half`` steps later (whole window alive)."""
    later = np.concatenate([alive[half:], np.zeros((half,) + alive.shape[1:], dtype=bool)])
    return alive & later


def push_section(policy: Policy, cfg: EnvConfig, s: SuiteSettings, randomize: bool = False,
                 physics_dt_s: float | None = None, condition: Condition | None = None) -> dict:
    ecfg = eval_config(cfg, s.push_seconds, randomize, physics_dt_s)
    survival, impulse = {}, {}
    by_direction: dict[str, dict[str, float | None]] = {name: {} for name in KICK_SECTORS}
    first_kick_step = int(round(s.push_at_seconds / CONTRACT.control_dt_s))
    period_steps = int(round(CONTRACT.gait_period_s / CONTRACT.control_dt_s))
    mass = None
    for j, kick in enumerate(KICKS_MPS):
        # Each episode's kick lands at its own point of one gait period: a kick at one fixed
        # step would always meet the same stance leg, and bias every direction's result.
        angles, offsets = kick_plan(np.random.default_rng(s.seed + 100 + j), s.push_episodes, period_steps)
        direction = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
        kick_step = first_kick_step + offsets
        trace = run_episodes(policy, ecfg, s.push_episodes, s.push_seconds, s.seed + 200 + j,
                             hold_command((s.push_walk_mps, 0.0, 0.0)), scheduled_kicks(kick_step, kick * direction),
                             condition=condition)
        mass = trace.mass_kg
        survival[f"{kick:.1f}"] = float(1.0 - trace.fell.mean())
        sector = np.round(angles / (np.pi / 2)).astype(int) % 4
        for k, name in enumerate(KICK_SECTORS):
            hit = sector == k
            by_direction[name][f"{kick:.1f}"] = float(1.0 - trace.fell[hit].mean()) if hit.any() else None
        impulse[f"{kick:.1f}"] = round(float(kick * trace.mass_kg), 4)
    return {"episodes_per_kick": s.push_episodes, "walk_command_mps": s.push_walk_mps,
            "survival_rate_by_kick_mps": survival, "survival_rate_by_direction": by_direction,
            "impulse_ns_by_kick_mps": impulse, "robot_mass_kg": mass}


def gait_section(trace: Trace) -> dict:
    """Swing clearance, slip, power and cost of transport from walking traces (alive steps only)."""
    clearances = []
    for i in range(trace.alive.shape[1]):
        for foot in range(2):
            swing = ~trace.contact[:, i, foot] & trace.alive[:, i]
            height = trace.foot_height[:, i, foot]
            start = None
            for t, flag in enumerate(np.append(swing, False)):
                if flag and start is None:
                    start = t
                elif not flag and start is not None:
                    if t - start >= 2:  # ignore single-step contact flicker
                        clearances.append(height[start:t].max())
                    start = None
    alive = trace.alive
    slip = trace.foot_speed_xy[trace.contact & alive[..., None]]
    power = np.sum(np.abs(trace.torque * trace.joint_vel), axis=-1)[alive]
    speed = np.linalg.norm(trace.vel_heading[..., :2], axis=-1)[alive]
    mean_power = float(power.mean()) if power.size else float("nan")
    mean_speed = float(speed.mean()) if speed.size else float("nan")
    return {
        "swing_clearance_m": float(np.mean(clearances)) if clearances else 0.0,
        "swing_count": len(clearances),
        "stance_foot_slip_mps": float(slip.mean()) if slip.size else 0.0,
        "mechanical_power_w": mean_power,
        "mean_speed_mps": mean_speed,
        "cost_of_transport": mean_power / (trace.mass_kg * 9.81 * mean_speed) if mean_speed > 1e-3 else None,
    }


def robustness_row(policy: Policy, cfg: EnvConfig, s: SuiteSettings, **kwargs) -> dict:
    """Fixed commands, tracking and kicks (half the push section's episodes) under one changed
    setting (``kwargs`` of the sections): a row of the sim-to-sim and transfer sections."""
    fixed, _ = fixed_section(policy, cfg, s, **kwargs)
    tracking, _ = tracking_section(policy, cfg, s, **kwargs)
    push = push_section(policy, cfg, replace(s, push_episodes=max(4, s.push_episodes // 2)), **kwargs)
    falls = sum(v["fell"] for v in fixed.values())
    row = {
        "fixed_survival_rate": 1.0 - falls / len(fixed),
        "forward_achieved_vx_mps": fixed["forward"]["achieved_vx_mps"],
        "tracking_survival_rate": tracking["survival_rate"],
        "tracking_lin_vel_rmse_mps": tracking["lin_vel_rmse_mps"],
        "tracking_yaw_rate_rmse_rad_s": tracking["yaw_rate_rmse_rad_s"],
        "tracking_stride_lin_vel_rmse_mps": tracking["stride_lin_vel_rmse_mps"],
        "tracking_stride_yaw_rate_rmse_rad_s": tracking["stride_yaw_rate_rmse_rad_s"],
        "push_survival_rate_by_kick_mps": push["survival_rate_by_kick_mps"],
    }
    row["survival_rate"] = min(row["fixed_survival_rate"], row["tracking_survival_rate"])
    return row


def sim2sim_section(policy: Policy, cfg: EnvConfig, s: SuiteSettings) -> dict:
    out = {}
    for name, kwargs in (("fine_timestep", {"physics_dt_s": cfg.physics_dt_s / 4}),
                         ("randomized_dynamics", {"randomize": True})):
        out[name] = robustness_row(policy, cfg, s, **kwargs)
    out["fine_timestep"]["physics_dt_s"] = cfg.physics_dt_s / 4
    return out


def transfer_section(policy: Policy, cfg: EnvConfig, s: SuiteSettings, transfer: TransferSettings,
                     progress=None) -> dict:
    """One row per enabled condition (duck/evaluation/transfer.py), on nominal dynamics plus it."""
    out = {}
    for name, condition in transfer.conditions().items():
        if progress:
            progress(f"transfer: {name}")
        row = robustness_row(policy, cfg, s, condition=condition)
        row["setting"] = condition.describe(cfg)
        row["meets_bar"] = row_meets_bar(row)
        out[name] = row
    return out


def head_tracking_section(policy: Policy, cfg: EnvConfig, s: SuiteSettings) -> dict:
    """Random-command tracking while random head commands move the head (nominal dynamics)."""
    tracking, _ = tracking_section(policy, cfg, s, head=True)
    tracking["head_resample_seconds"] = s.head_resample_seconds
    tracking["head_command_range_rad"] = [CONTRACT.head_command_range_rad.low, CONTRACT.head_command_range_rad.high]
    return tracking


def fast_section(policy: Policy, cfg: EnvConfig, s: SuiteSettings) -> dict:
    """Forward commands above today's range (FAST_COMMANDS), nominal dynamics."""
    fast, _ = fixed_section(policy, cfg, s, fixed_commands=FAST_COMMANDS)
    return fast


def run_suite(policy: Policy, cfg: EnvConfig, s: SuiteSettings = SuiteSettings(), progress=None,
              transfer: TransferSettings | None = None) -> tuple[dict, dict]:
    """All sections (``transfer`` None: every transfer condition). Returns (metrics JSON, traces for plots)."""
    transfer = TransferSettings() if transfer is None else transfer
    step = progress or (lambda name: None)
    step("fixed commands")
    fixed, fixed_traces = fixed_section(policy, cfg, s)
    step("stand still")
    stand = stand_section(policy, cfg, s)
    step("random command tracking")
    tracking, tracking_trace = tracking_section(policy, cfg, s)
    step("push recovery")
    push = push_section(policy, cfg, s)
    metrics = {
        "policy": {"path": str(policy.path), "steps": policy.steps, "contract": policy.contract.fingerprint,
                   "mirror_averaged": policy.mirror_averaged},
        "fixed": fixed, "tracking": tracking, "push": push, "stand": stand,
        "gait": gait_section(tracking_trace),
    }
    if s.sim2sim:
        step("sim-to-sim")
        metrics["sim2sim"] = sim2sim_section(policy, cfg, s)
    if s.head_tracking:
        step("tracking with head motion")
        metrics["head_tracking"] = head_tracking_section(policy, cfg, s)
    if s.fast:
        step("fast forward")
        metrics["fast"] = fast_section(policy, cfg, s)
    if transfer.enabled:
        metrics["transfer"] = transfer_section(policy, cfg, s, transfer, step)
    metrics["gait"]["forward"] = gait_section(fixed_traces["forward"])
    return metrics, {"fixed": fixed_traces, "tracking": tracking_trace}


def _select(trace: Trace, i: int) -> Trace:
    fields = {k: (v[:, i:i + 1] if isinstance(v, np.ndarray) else v) for k, v in trace.__dict__.items()}
    return Trace(**fields)
