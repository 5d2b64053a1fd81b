"""Carry a checkpoint trained on the fixed gait clock over to the learned-rate contract.

The learned clock added one action entry (``gait_rate``, after the leg joints) and so one
observation entry (the same in ``last_action``). This writes a checkpoint of the new shape
into a new run directory whose policy does exactly what the old one did: the new input
column has zero weights, the new action has zero mean (the nominal clock rate), and the
normaliser keeps every old statistic. Training then resumes from it with ``--resume``.

    python scripts/add_gait_rate_action.py runs/exp20/keep/step_19000000.zip runs/exp22
    duck train --run-dir runs/exp22 --resume --steps 29000000
"""

from __future__ import annotations

import argparse
import pickle
import shutil
from pathlib import Path

import numpy as np


def insert_zero_columns(weight, at: int, count: int):
    """A first-layer weight (out, in) with ``count`` zero input columns inserted at ``at``."""
    import torch

    zeros = torch.zeros(weight.shape[0], count, dtype=weight.dtype)
    return torch.cat([weight[:, :at], zeros, weight[:, at:]], dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="old step_<N>.zip (its _vecnormalize.pkl next to it)")
    parser.add_argument("run_dir", type=Path, help="new run directory (created)")
    parser.add_argument("--rate-log-std", type=float, default=-1.2,
                        help="initial log std of the new action (default -1.2: std 0.3, +-15%% clock rate); "
                             "the legs' stds after training are ~0.1, too little to find a use for the clock")
    args = parser.parse_args()

    import torch
    from stable_baselines3.common.vec_env import VecNormalize

    from duck.contract import CONTRACT
    from duck.train.runner import load_run_config, make_model, make_vec_env, matching_checkpoint
    from duck.train.symmetry import SymmetricPPO

    old_run = args.checkpoint.parent.parent
    cfg = matching_checkpoint(load_run_config(old_run), args.checkpoint)
    old = SymmetricPPO.load(str(args.checkpoint), device="cpu")
    added_actions = CONTRACT.action_dim - old.action_space.shape[0]
    if added_actions != 1:
        raise SystemExit(f"{args.checkpoint} has {old.action_space.shape[0]} actions; "
                         f"expected {CONTRACT.action_dim - 1}")
    # The old layout is the new one without the gait-rate entry of last_action.
    at = CONTRACT.term_slice("last_action").start + CONTRACT.gait_rate_index

    args.run_dir.mkdir(parents=True, exist_ok=False)
    shutil.copy(old_run / "config.yaml", args.run_dir / "config.yaml")
    venv = VecNormalize(make_vec_env(cfg, 2), norm_obs=True, norm_reward=cfg.ppo.normalize_reward, clip_obs=10.0,
                        gamma=cfg.ppo.gamma)
    new = make_model(cfg, venv, args.run_dir)
    old_state, state = old.policy.state_dict(), new.policy.state_dict()
    first_layers = {k for k in old_state if k.endswith("net.0.weight") and "mlp_extractor" in k}
    for key, value in old_state.items():
        if key in first_layers:
            state[key] = insert_zero_columns(value, at, 1)
        elif key.startswith("action_net.weight"):
            state[key] = torch.cat([value, torch.zeros(1, value.shape[1])])
        elif key.startswith("action_net.bias"):
            state[key] = torch.cat([value, torch.zeros(1)])
        elif key == "log_std":
            state[key] = torch.cat([value, torch.tensor([args.rate_log_std], dtype=value.dtype)])
        else:
            state[key] = value
    new.policy.load_state_dict(state)
    new.num_timesteps = old.num_timesteps

    with open(args.checkpoint.with_name(args.checkpoint.stem + "_vecnormalize.pkl"), "rb") as f:
        old_norm = pickle.load(f)
    venv.obs_rms.mean = np.insert(old_norm.obs_rms.mean, at, 0.0)
    venv.obs_rms.var = np.insert(old_norm.obs_rms.var, at, 1.0)
    venv.obs_rms.count = old_norm.obs_rms.count
    venv.ret_rms = old_norm.ret_rms

    stem = args.run_dir / "checkpoints" / f"step_{old.num_timesteps}"
    stem.parent.mkdir()
    new.save(str(stem) + ".zip")
    venv.save(str(stem) + "_vecnormalize.pkl")
    venv.close()
    print(f"wrote {stem}.zip: {old.num_timesteps} steps, gait-rate action added with zero mean")


if __name__ == "__main__":
    main()
