"""Issue 20's decision: (a) MJCF parameters derived from the servo model, or (b) the full servo law per
physics substep in numpy. Step and chirp responses of a leg joint carrying the leg's load, and what (b)
would cost per control step of the batched sim.

(a) is the training env's model (mjcf/duck.xml, generated from the servo model). (b) is the software
servo's physics (duck.sim.servo_backend: ServoBank per substep: PWM Slope, backlash, the I term, the
DC motor law at the supply). Both: the whole robot, trunk held 10 cm up (feet free), gravity on, every
other joint held at home by its own servo; the profile's gains (duck/servo_profile.py), 5.0 V.

    python benchmarks/servo_model_ab.py            # -> docs/servo_model_ab.png, benchmarks/results/servo_model_ab.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import mujoco
import numpy as np

from duck.contract import CONTRACT
from duck.servo_profile import SERVO_PROFILE
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig, no_randomization
from duck.sim.servo_backend import MujocoServoBackend
from firmware_bridge.servo_model import ServoBank, servo_params

ROOT = Path(__file__).resolve().parents[1]
DT = 0.004  # the env's physics step
LIFT_M = 0.10


def goal_step(t: np.ndarray, size: float) -> np.ndarray:
    return np.where(t >= 0.1, size, 0.0)


def goal_chirp(t: np.ndarray, amp: float, f0: float = 0.5, f1: float = 6.0, duration: float = 4.0) -> np.ndarray:
    k = (f1 - f0) / duration
    return amp * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t * t))


def run_a(joint: str, offsets: np.ndarray) -> np.ndarray:
    """The training env's actuators (option a)."""
    sim = BatchSim(1, no_randomization(EnvConfig()))
    model, data = sim.model, mujoco.MjData(sim.model)
    data.qpos[:] = sim.idx.home_qpos
    data.qpos[2] += LIFT_M
    k = CONTRACT.joint_names.index(joint)
    qadr = sim.idx.qpos_joints[k]
    free = data.qpos[:7].copy()
    out = np.zeros(len(offsets))
    for n, off in enumerate(offsets):
        data.ctrl[:] = CONTRACT.home
        data.ctrl[k] += off
        mujoco.mj_step(model, data)
        data.qpos[:7], data.qvel[:6] = free, 0.0
        out[n] = data.qpos[qadr] - CONTRACT.home[k]
    sim.close()
    return out


def run_b(joint: str, offsets: np.ndarray, backlash_deg: float = 0.0, supply_v: float | None = None,
          slope: bool = True) -> np.ndarray:
    """The software servo's physics: the full law per substep (option b)."""
    overrides = {}
    if backlash_deg:
        for m in {j.servo_model for j in CONTRACT.joints}:
            overrides[m] = servo_params(m).with_overrides(backlash_rad=math.radians(backlash_deg))
    b = MujocoServoBackend(overrides=overrides, supply_v=supply_v)
    b.model.opt.timestep = DT
    for j in CONTRACT.joints:
        g = SERVO_PROFILE.gains_for(j.servo_model)
        b.set_gains(j.servo_id, g.p, g.i, g.d, None, None if slope else 0)
        b.set_goal(j.servo_id, j.home_rad)
        b.set_torque(j.servo_id, True)
    b.data.qpos[2] += LIFT_M
    k = CONTRACT.joint_names.index(joint)
    sid = CONTRACT.joints[k].servo_id
    free = b.data.qpos[:7].copy()
    out = np.zeros(len(offsets))
    for n, off in enumerate(offsets):
        b.set_goal(sid, CONTRACT.home[k] + off)
        b._physics_step()
        b.data.qpos[:7], b.data.qvel[:6] = free, 0.0
        out[n] = b.data.qpos[b._qadr[k]] - CONTRACT.home[k]
    return out


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - y) ** 2)))


def cost_per_control_step(n_env: int = 256, repeats: int = 30) -> dict[str, float]:
    """What (b) would add to one batched control step: 5 rollout calls of 1 substep instead of one
    of 5, plus the servo law on (n_env, 13) per substep."""

    sim = BatchSim(n_env, no_randomization(EnvConfig()))
    sim.reset(np.arange(n_env))
    pool, models, datas, m = sim.pool, sim.models, sim.datas, sim.model
    sim.step(np.zeros((n_env, CONTRACT.action_dim)))  # a state with contacts, as in training
    state0 = sim.state.copy()
    ctrl5 = np.tile(CONTRACT.home, (n_env, 5, 1))
    ctrl1 = ctrl5[:, :1].copy()
    out5 = np.zeros((n_env, 5, sim.nstate))
    out1 = np.zeros((n_env, 1, sim.nstate))
    sens5 = np.zeros((n_env, 5, m.nsensordata))
    sens1 = np.zeros((n_env, 1, m.nsensordata))

    def a_step():
        pool.rollout(models, datas, state0, ctrl5, nstep=5, skip_checks=True, state=out5, sensordata=sens5)

    params = [servo_params(j.servo_model) for j in CONTRACT.joints]
    gains = [SERVO_PROFILE.gains_for(j.servo_model) for j in CONTRACT.joints]
    bank = ServoBank(params, gains)
    bstate = bank.state((n_env,))
    supply = np.full((n_env, 1), 5.0)
    q = np.zeros((n_env, 13))

    def b_step():
        s = state0
        for _ in range(5):
            bank.torque(q, q, q, supply, bstate, DT, coulomb=False, damping=False)
            pool.rollout(models, datas, s, ctrl1, nstep=1, skip_checks=True, state=out1, sensordata=sens1)
            s = out1[:, -1]

    def once(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    a_step(), b_step()
    # Interleaved, best of ``repeats``: the 2-core machine is shared, so the minimum is the honest figure.
    times = [(once(a_step), once(b_step)) for _ in range(repeats)]
    ta, tb = min(t[0] for t in times), min(t[1] for t in times)
    law = min(once(lambda: bank.torque(q, q, q, supply, bstate, DT, coulomb=False, damping=False))
              for _ in range(repeats))
    sim.close()
    return {"n_env": n_env, "physics_a_ms": ta * 1e3, "physics_b_ms": tb * 1e3, "b_over_a": tb / ta,
            "servo_law_per_substep_ms": law * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joint", default="right_hip_pitch", help="a leg joint (default: hip pitch, the whole leg)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "servo_model_ab.png")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "servo_model_ab.json")
    args = parser.parse_args()
    t = np.arange(0.0, 1.0, DT)
    tc = np.arange(0.0, 4.0, DT)
    step_size, chirp_amp = 0.2, 0.1
    step = goal_step(t, step_size)
    chirp = goal_chirp(tc, chirp_amp)
    results: dict = {"joint": args.joint, "step_rad": step_size, "chirp_amp_rad": chirp_amp,
                     "gains": {m: g.to_dict() for m, g in SERVO_PROFILE.gains.items()}, "supply_v": 5.0}
    curves = {}
    for name, kw in (("b", {}), ("b_no_slope", {"slope": False}), ("b_backlash_0.5deg", {"backlash_deg": 0.5}),
                     ("b_4.5V", {"supply_v": 4.5})):
        curves[name] = (run_b(args.joint, step, **kw), run_b(args.joint, chirp, **kw))
    curves["a"] = (run_a(args.joint, step), run_a(args.joint, chirp))
    a_step, a_chirp = curves["a"]
    for name, (s, c) in curves.items():
        if name == "a":
            continue
        results[name] = {"step_rmse_vs_a_pct_of_step": 100 * rmse(s, a_step) / step_size,
                         "chirp_rmse_vs_a_pct_of_amp": 100 * rmse(c, a_chirp) / chirp_amp}
    results["cost"] = cost_per_control_step()
    print(json.dumps(results, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 7))
    axes[0].plot(t, step, "k:", label="goal")
    axes[1].plot(tc, chirp, "k:", label="goal")
    for name, (s, c) in curves.items():
        style = "-" if name in ("a", "b") else "--"
        axes[0].plot(t, s, style, label=name)
        axes[1].plot(tc, c, style, label=name)
    axes[0].set_title(f"{args.joint}, leg in the air: step {step_size} rad (profile gains, 5.0 V unless named)")
    axes[1].set_title(f"chirp {chirp_amp} rad, 0.5-6 Hz")
    for ax in axes:
        ax.set_xlabel("s")
        ax.set_ylabel("rad from home")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
