"""Watch a policy walk: the MuJoCo passive viewer, or a headless MP4 with a following camera."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from duck.errors import UserError
from duck.runtime.policy import Policy
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig


@dataclass
class PlaybackSummary:
    seconds: float
    distance_m: float
    mean_speed_mps: float
    fell: bool
    frames: int

    def __str__(self) -> str:
        state = "FELL" if self.fell else "stayed up"
        return (f"{self.seconds:.1f} s: walked {self.distance_m:.2f} m "
                f"(mean {self.mean_speed_mps:.3f} m/s), {state}, {self.frames} frames")


def make_sim(cfg: EnvConfig, seconds: float, pushes: bool) -> BatchSim:
    # The scene's flat floor: the viewer draws the heightfield as it was when it opened.
    dr = replace(cfg.dr, enabled=pushes, push=replace(cfg.dr.push, enabled=pushes),
                 terrain=replace(cfg.dr.terrain, probability=0.0))
    # The head stays at home: training's random head commands are not the user's.
    commands = replace(cfg.commands, head=replace(cfg.commands.head, range_scale=0.0))
    sim = BatchSim(1, replace(cfg, dr=dr, commands=commands, episode_length_s=seconds + 1.0, init_joint_noise_rad=0.0))
    sim.seed(np.array([0]))
    return sim


def record_video(policy: Policy, cfg: EnvConfig, command: np.ndarray, seconds: float, out: Path,
                 width: int = 480, height: int = 320, fps: int = 25, pushes: bool = False) -> PlaybackSummary:
    """Roll the policy out and write an H.264 MP4 with the camera tracking the trunk."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import imageio.v2 as imageio
    import mujoco
    from tqdm import tqdm

    sim = make_sim(cfg, seconds, pushes)
    obs = sim.reset(sim.all)
    sim.set_command(command[None])
    obs = sim.observe()
    model = sim.model
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    try:
        renderer = mujoco.Renderer(model, height, width)
    except Exception as exc:  # no GL backend
        raise UserError(f"cannot render offscreen ({exc}); try MUJOCO_GL=egl or MUJOCO_GL=osmesa") from None
    data = mujoco.MjData(model)
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    camera.trackbodyid = sim.idx.trunk_body
    camera.distance, camera.elevation, camera.azimuth = 0.8, -15.0, 135.0
    steps = int(seconds / sim.contract.control_dt_s)
    every = max(1, int(round(sim.contract.control_rate_hz / fps)))
    start = sim.qpos[0, :2].copy()
    fell, frames = False, 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(str(out), fps=sim.contract.control_rate_hz / every, codec="libx264",
                            quality=7, macro_block_size=8) as writer:
        for t in tqdm(range(steps), desc="simulating", unit="step", leave=False):
            action, _ = policy(obs[0])
            obs, _, terminated, _, _ = sim.step(action[None])
            fell |= bool(terminated[0])
            if t % every == 0:
                mujoco.mj_setState(model, data, sim.state[0], mujoco.mjtState.mjSTATE_FULLPHYSICS)
                mujoco.mj_forward(model, data)
                renderer.update_scene(data, camera)
                writer.append_data(renderer.render())
                frames += 1
            if fell and t > 0:
                break
    renderer.close()
    distance = float(np.linalg.norm(sim.qpos[0, :2] - start))
    elapsed = (t + 1) * sim.contract.control_dt_s
    sim.close()
    return PlaybackSummary(elapsed, distance, distance / elapsed, fell, frames)


def view(policy: Policy, cfg: EnvConfig, command: np.ndarray, seconds: float, pushes: bool = False) -> PlaybackSummary:
    """Interactive passive viewer. Arrow keys: vx / yaw rate; , and . : vy; space: stop; R: reset."""
    import mujoco
    import mujoco.viewer

    sim = make_sim(cfg, seconds, pushes)
    obs = sim.reset(sim.all)
    cmd = np.array(command, dtype=np.float64)
    low, high = sim.contract.commands.as_arrays()
    keys = {265: (0, 0.05), 264: (0, -0.05), 263: (2, 0.1), 262: (2, -0.1), 44: (1, 0.05), 46: (1, -0.05)}
    reset = [False]

    def on_key(code: int) -> None:
        if code in keys:
            axis, delta = keys[code]
            cmd[axis] = np.clip(cmd[axis] + delta, low[axis], high[axis])
        elif code == 32:
            cmd[:] = 0.0
        elif code == 82:
            reset[0] = True

    data = mujoco.MjData(sim.model)
    start = sim.qpos[0, :2].copy()
    fell, t = False, 0
    try:
        with mujoco.viewer.launch_passive(sim.model, data, key_callback=on_key) as viewer:
            while viewer.is_running() and t * sim.contract.control_dt_s < seconds:
                tick = time.perf_counter()
                if reset[0]:
                    obs = sim.reset(sim.all)
                    reset[0] = False
                sim.set_command(cmd[None])
                obs = sim.observe()
                action, _ = policy(obs[0])
                obs, _, terminated, _, _ = sim.step(action[None])
                fell |= bool(terminated[0])
                mujoco.mj_setState(sim.model, data, sim.state[0], mujoco.mjtState.mjSTATE_FULLPHYSICS)
                mujoco.mj_forward(sim.model, data)
                viewer.sync()
                t += 1
                time.sleep(max(0.0, sim.contract.control_dt_s - (time.perf_counter() - tick)))
    except RuntimeError as exc:
        raise UserError(f"cannot open the viewer ({exc}); use --video out.mp4 when headless") from None
    distance = float(np.linalg.norm(sim.qpos[0, :2] - start))
    elapsed = max(t, 1) * sim.contract.control_dt_s
    return PlaybackSummary(elapsed, distance, distance / elapsed, fell, t)
