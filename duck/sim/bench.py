"""``duck bench sim``: physics bound vs the SubprocVecEnv path vs the batched VecEnv, in one run.

(a) raw ``mj_step``/s of the scene: one thread, and ``mujoco.rollout`` on all cores;
(b) the gymnasium env under SB3's ``SubprocVecEnv`` (one process per env), control steps/s;
(c) the batched :class:`DuckVecEnv`, all randomization on, control steps/s.
The physics bound is (a, all cores) / substeps per control step.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np


def _rate(fn, seconds: float, per_call: int) -> float:
    fn()  # warm up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += per_call
    return count / (time.perf_counter() - start)


def physics_rates(seconds: float, n_envs: int) -> tuple[float, float, int]:
    import mujoco
    from mujoco import rollout

    from duck.sim.config import EnvConfig
    from duck.sim.model import load_model

    cfg = EnvConfig()
    model = load_model(cfg.physics_dt_s)
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, 0)
    data.ctrl[:] = model.key_ctrl[0]

    def one_thread(chunk: int = 200) -> None:
        for _ in range(chunk):
            mujoco.mj_step(model, data)

    single = _rate(one_thread, seconds, 200)
    cores = os.cpu_count() or 1
    nstep = 50
    state0 = np.zeros((n_envs, mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)))
    mujoco.mj_getState(model, data, state0[0], mujoco.mjtState.mjSTATE_FULLPHYSICS)
    state0[:] = state0[0]
    ctrl = np.tile(model.key_ctrl[0], (n_envs, nstep, 1))
    datas = [mujoco.MjData(model) for _ in range(cores)]
    with rollout.Rollout(nthread=cores) as pool:
        multi = _rate(lambda: pool.rollout(model, datas, state0, ctrl, nstep=nstep), seconds, n_envs * nstep)
    substeps = int(round(0.02 / cfg.physics_dt_s))
    return single, multi, substeps


def _random_actions(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=(n, dim)).astype(np.float32)


def _make_single_env():
    import gymnasium as gym

    from duck.sim.registration import ENV_ID

    return gym.make(ENV_ID)


def vec_rate(venv, seconds: float) -> float:
    rng = np.random.default_rng(0)
    venv.reset()
    dim = venv.action_space.shape[0]
    return _rate(lambda: venv.step(_random_actions(rng, venv.num_envs, dim)), seconds, venv.num_envs)


def run_bench(n_envs: int = 64, seconds: float = 5.0, subproc_envs: int | None = None) -> dict:
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from duck.sim.config import EnvConfig
    from duck.sim.vec_env import DuckVecEnv

    single, multi, substeps = physics_rates(seconds, n_envs)
    n_sub = subproc_envs or 2 * (os.cpu_count() or 1)
    sub = SubprocVecEnv([_make_single_env for _ in range(n_sub)], start_method="forkserver")
    try:
        subproc = vec_rate(sub, seconds)
    finally:
        sub.close()
    batched_env = DuckVecEnv(n_envs, EnvConfig(), seed=0)
    try:
        batched = vec_rate(batched_env, seconds)
    finally:
        batched_env.close()
    bound = multi / substeps
    return {
        "cores": os.cpu_count(),
        "n_envs": n_envs,
        "subproc_envs": n_sub,
        "substeps_per_control_step": substeps,
        "physics_steps_per_s_1thread": round(single, 1),
        "physics_steps_per_s_all_cores": round(multi, 1),
        "physics_bound_control_steps_per_s": round(bound, 1),
        "subproc_steps_per_s": round(subproc, 1),
        "batched_steps_per_s": round(batched, 1),
        "physics_bound_ratio": round(batched / bound, 3),
        "vs_subproc_ratio": round(batched / subproc, 2),
    }


def format_table(r: dict) -> str:
    rows = [
        ("(a) mj_step/s, 1 thread", f"{r['physics_steps_per_s_1thread']:,.0f}"),
        (f"(a) mj_step/s, rollout on {r['cores']} cores", f"{r['physics_steps_per_s_all_cores']:,.0f}"),
        (f"    physics bound, control steps/s (/{r['substeps_per_control_step']})",
         f"{r['physics_bound_control_steps_per_s']:,.0f}"),
        (f"(b) SubprocVecEnv x{r['subproc_envs']}, control steps/s", f"{r['subproc_steps_per_s']:,.0f}"),
        (f"(c) batched VecEnv x{r['n_envs']}, full DR, control steps/s", f"{r['batched_steps_per_s']:,.0f}"),
        ("(c) / physics bound", f"{r['physics_bound_ratio']:.2f}"),
        ("(c) / (b)", f"{r['vs_subproc_ratio']:.1f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v:>10}" for k, v in rows)


def main(args) -> int:
    result = run_bench(n_envs=args.envs, seconds=args.seconds)
    print(format_table(result))
    if args.json:
        from duck.atomic import write_text

        write_text(args.json, json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0
