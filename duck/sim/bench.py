"""``duck bench sim``: physics bound vs the SubprocVecEnv path vs the batched VecEnv, in one run.

(a) raw ``mj_step``/s of the scene: one thread, and ``mujoco.rollout`` on all cores;
(b) the gymnasium env under SB3's ``SubprocVecEnv`` (one process per env), control steps/s;
(c) the batched :class:`DuckVecEnv`, all randomization on, control steps/s.
The physics bound is (a, all cores) / substeps per control step. The paths are measured in
interleaved rounds and the ratios are medians over the rounds: on a machine shared with other
work the load changes within a run, and measured one after the other the ratios swung from 0.4
to 1.3 between two runs a minute apart.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np


def _timed(fn, seconds: float, per_call: int) -> tuple[float, float]:
    """(items, seconds) of calling ``fn`` for about ``seconds`` (no warm-up)."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += per_call
    return count, time.perf_counter() - start


def _physics(n_envs: int):
    """(one-thread stepper, all-core rollout stepper, items per call, substeps, cleanup)."""
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

    cores = os.cpu_count() or 1
    nstep = 50
    state0 = np.zeros((n_envs, mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)))
    mujoco.mj_getState(model, data, state0[0], mujoco.mjtState.mjSTATE_FULLPHYSICS)
    state0[:] = state0[0]
    ctrl = np.tile(model.key_ctrl[0], (n_envs, nstep, 1))
    datas = [mujoco.MjData(model) for _ in range(cores)]
    pool = rollout.Rollout(nthread=cores)

    def all_cores() -> None:
        pool.rollout(model, datas, state0, ctrl, nstep=nstep)

    substeps = int(round(0.02 / cfg.physics_dt_s))
    return one_thread, all_cores, n_envs * nstep, substeps, pool.close


def _random_actions(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=(n, dim)).astype(np.float32)


def _make_single_env():
    import gymnasium as gym

    from duck.sim.registration import ENV_ID

    return gym.make(ENV_ID)


def _vec_stepper(venv):
    rng = np.random.default_rng(0)
    venv.reset()
    dim = venv.action_space.shape[0]
    return lambda: venv.step(_random_actions(rng, venv.num_envs, dim))


def run_bench(n_envs: int = 64, seconds: float = 5.0, subproc_envs: int | None = None, rounds: int = 5) -> dict:
    """The three paths measured in ``rounds`` interleaved rounds of ``seconds / rounds`` each, so
    that a change of load on a shared machine hits all of them alike. Rates are totals over the
    rounds; the two ratios are the medians of the per-round ratios."""
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from duck.sim.config import EnvConfig
    from duck.sim.vec_env import DuckVecEnv

    one_thread, all_cores, per_call, substeps, close_pool = _physics(n_envs)
    n_sub = subproc_envs or 2 * (os.cpu_count() or 1)
    sub = SubprocVecEnv([_make_single_env for _ in range(n_sub)], start_method="forkserver")
    batched_env = DuckVecEnv(n_envs, EnvConfig(), seed=0)
    paths = {"single": (one_thread, 200), "multi": (all_cores, per_call),
             "subproc": (_vec_stepper(sub), n_sub), "batched": (_vec_stepper(batched_env), n_envs)}
    totals = {name: [0.0, 0.0] for name in paths}
    per_round = {name: [] for name in paths}
    try:
        for fn, _ in paths.values():
            fn()  # warm up
        for _ in range(rounds):
            for name, (fn, items) in paths.items():
                count, elapsed = _timed(fn, seconds / rounds, items)
                totals[name][0] += count
                totals[name][1] += elapsed
                per_round[name].append(count / elapsed)
    finally:
        sub.close()
        batched_env.close()
        close_pool()
    rate = {name: count / elapsed for name, (count, elapsed) in totals.items()}
    rounds_arr = {name: np.array(v) for name, v in per_round.items()}
    bound_ratio = np.median(rounds_arr["batched"] / (rounds_arr["multi"] / substeps))
    subproc_ratio = np.median(rounds_arr["batched"] / rounds_arr["subproc"])
    return {
        "cores": os.cpu_count(),
        "n_envs": n_envs,
        "subproc_envs": n_sub,
        "rounds": rounds,
        "substeps_per_control_step": substeps,
        "physics_steps_per_s_1thread": round(rate["single"], 1),
        "physics_steps_per_s_all_cores": round(rate["multi"], 1),
        "physics_bound_control_steps_per_s": round(rate["multi"] / substeps, 1),
        "subproc_steps_per_s": round(rate["subproc"], 1),
        "batched_steps_per_s": round(rate["batched"], 1),
        "physics_bound_ratio": round(float(bound_ratio), 3),
        "vs_subproc_ratio": round(float(subproc_ratio), 2),
        "physics_bound_ratio_per_round": np.round(rounds_arr["batched"] / (rounds_arr["multi"] / substeps),
                                                  3).tolist(),
    }


def format_table(r: dict) -> str:
    rows = [
        ("(a) mj_step/s, 1 thread", f"{r['physics_steps_per_s_1thread']:,.0f}"),
        (f"(a) mj_step/s, rollout on {r['cores']} cores", f"{r['physics_steps_per_s_all_cores']:,.0f}"),
        (f"    physics bound, control steps/s (/{r['substeps_per_control_step']})",
         f"{r['physics_bound_control_steps_per_s']:,.0f}"),
        (f"(b) SubprocVecEnv x{r['subproc_envs']}, control steps/s", f"{r['subproc_steps_per_s']:,.0f}"),
        (f"(c) batched VecEnv x{r['n_envs']}, full DR, control steps/s", f"{r['batched_steps_per_s']:,.0f}"),
        (f"(c) / physics bound, median of {r['rounds']} interleaved rounds", f"{r['physics_bound_ratio']:.2f}"),
        ("(c) / (b), median of the rounds", f"{r['vs_subproc_ratio']:.1f}x"),
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
