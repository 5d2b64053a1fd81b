"""What rough floors in training (``dr.terrain.probability``) cost the batched sim, in one run.

The batched env (64 envs, all randomization on, the shipped policy acting so that the robots
walk and episodes end and reset as in training) is stepped with a share of 0, 0.5 and 1 of the
episodes on a heightfield, in interleaved rounds; the ratios are medians over the rounds, so
that a shared machine's load hits every setting alike.

    python benchmarks/terrain_cost.py [--steps 150] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from duck.paths import POLICIES_DIR, REPO_ROOT
from duck.runtime.policy import load_policy
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig, TerrainConfig

SHARES = (0.0, 0.5, 1.0)


def steps_per_s(sim: BatchSim, policy, obs: np.ndarray, steps: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    for _ in range(steps):
        action, _ = policy(obs)
        obs, _, terminated, truncated, _ = sim.step(action)
        done = np.flatnonzero(terminated | truncated)
        if done.size:
            obs[done] = sim.reset(done)
    return sim.n * steps / (time.perf_counter() - start), obs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="control steps per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--envs", type=int, default=64)
    args = parser.parse_args()

    policy = load_policy(POLICIES_DIR / "walk.onnx")
    base = EnvConfig()
    sims, obs = {}, {}
    for share in SHARES:
        cfg = replace(base, dr=replace(base.dr, terrain=TerrainConfig(probability=share)))
        sims[share] = BatchSim(args.envs, cfg)
        sims[share].seed(np.arange(args.envs))
        obs[share] = sims[share].reset(sims[share].all)
        _, obs[share] = steps_per_s(sims[share], policy, obs[share], 10)  # warm-up
    rates: dict[float, list[float]] = {s: [] for s in SHARES}
    for _ in range(args.rounds):
        for share in SHARES:
            rate, obs[share] = steps_per_s(sims[share], policy, obs[share], args.steps)
            rates[share].append(rate)
    for sim in sims.values():
        sim.close()
    flat = float(np.median(rates[0.0]))
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "envs": args.envs,
        "env_steps_per_s": {str(s): [round(r) for r in v] for s, v in rates.items()},
        "median_ratio_to_flat": {str(s): round(float(np.median(v)) / flat, 3) for s, v in rates.items()},
    }
    print(json.dumps(result, indent=1))
    out = REPO_ROOT / "benchmarks" / "results" / "terrain_cost.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
