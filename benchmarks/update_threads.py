"""PPO training throughput with 1 vs 2 torch threads in the update, measured in one run.

A training iteration is a rollout (MuJoCo physics on the rollout pool's threads, numpy, and
a small policy forward per step) and then the PPO update (torch). With one torch thread the
update leaves the second core idle for about a third of the iteration. This script trains
the default config for a few iterations with each setting, alternating them so that the
noise of a shared machine hits both alike, and reports env steps/s and their ratio.

    python benchmarks/update_threads.py [--iterations 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecNormalize

from duck.paths import REPO_ROOT
from duck.train.config import TrainConfig
from duck.train.runner import make_model, make_vec_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=6, help="PPO iterations per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements per setting")
    args = parser.parse_args()

    cfg = TrainConfig()
    torch.set_num_threads(1)
    venv = VecNormalize(make_vec_env(cfg, cfg.ppo.n_envs), gamma=cfg.ppo.gamma)
    model = make_model(cfg, venv, Path(tempfile.mkdtemp()))
    model.tensorboard_log = None
    per_iteration = cfg.ppo.n_envs * cfg.ppo.n_steps
    model.learn(per_iteration)  # warm-up: allocations, first-call costs
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for threads in (1, 2):
            model.update_threads = threads
            t0 = time.perf_counter()
            model.learn(per_iteration * args.iterations, reset_num_timesteps=False)
            rates[threads].append(per_iteration * args.iterations / (time.perf_counter() - t0))
    venv.close()
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "env_steps_per_s": {str(k): [round(r) for r in v] for k, v in rates.items()},
        "median_ratio_2_over_1": round(float(np.median(rates[2]) / np.median(rates[1])), 3),
    }
    print(json.dumps(result, indent=1))
    out = REPO_ROOT / "benchmarks" / "results" / "update_threads.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
