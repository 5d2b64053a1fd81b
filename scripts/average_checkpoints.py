"""Average the weights of neighbouring checkpoints of one run into a new checkpoint.

PPO policies fluctuate from checkpoint to checkpoint (docs/training.md, exp17: 12-14 of 17
walk-bar items within 2 M steps). Checkpoints a few hundred updates apart sit in one basin,
and the mean of their weights is a smoother policy than any one of them (stochastic weight
averaging). Each checkpoint normalises observations with its own running statistics, so
before averaging each network's first layers are re-expressed in the statistics of the last
checkpoint given, which the averaged checkpoint keeps:

    W x_k + b  with  x_k = (x - mu_k) / s_k  equals  (W s_ref / s_k) x_ref + b + W (mu_ref - mu_k) / s_k.

The result is a checkpoint pair (``.zip`` + ``_vecnormalize.pkl``) that ``duck export`` and
``scripts/score_checkpoints.py`` read like any other.

    python scripts/average_checkpoints.py runs/exp17/keep/step_9500032.zip runs/exp17/keep/step_10000000.zip \\
        runs/exp17/keep/step_10500032.zip --out runs/exp17/avg/step_10000000.zip
"""

from __future__ import annotations

import argparse
import pickle
import shutil
from pathlib import Path


def normalizer_path(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.stem + "_vecnormalize.pkl")


def first_layers(policy) -> list:
    """The Linear layers that read the (normalised) observation directly."""
    extractor = policy.mlp_extractor
    return [extractor.policy_net[0], extractor.value_net[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+", help="checkpoint .zip files of one run")
    parser.add_argument("--out", type=Path, required=True, help="the averaged checkpoint's .zip path")
    args = parser.parse_args()

    import numpy as np
    import torch
    from stable_baselines3 import PPO

    if len(args.checkpoints) < 2:
        parser.error("give at least two checkpoints")
    norms = []
    for path in args.checkpoints:
        if not path.is_file() or not normalizer_path(path).is_file():
            parser.error(f"{path} or its {normalizer_path(path).name} is missing")
        with open(normalizer_path(path), "rb") as f:
            norms.append(pickle.load(f))
    reference = norms[-1]
    ref_mean, ref_std = reference.obs_rms.mean, np.sqrt(reference.obs_rms.var + reference.epsilon)

    models = [PPO.load(str(path), device="cpu") for path in args.checkpoints]
    states = []
    for model, norm in zip(models, norms):
        mean, std = norm.obs_rms.mean, np.sqrt(norm.obs_rms.var + norm.epsilon)
        with torch.no_grad():
            for layer in first_layers(model.policy):
                width = layer.in_features
                gain = torch.as_tensor(ref_std[:width] / std[:width], dtype=torch.float32)
                shift = torch.as_tensor((ref_mean[:width] - mean[:width]) / std[:width], dtype=torch.float32)
                layer.bias += layer.weight @ shift
                layer.weight *= gain
        states.append(model.policy.state_dict())
    averaged = {key: sum(state[key] for state in states) / len(states) for key in states[0]}
    target = models[-1]
    target.policy.load_state_dict(averaged)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    target.save(str(args.out))
    shutil.copyfile(normalizer_path(args.checkpoints[-1]), normalizer_path(args.out))
    print(f"wrote {args.out} (mean of {len(states)} checkpoints, statistics of {args.checkpoints[-1].name})")


if __name__ == "__main__":
    main()
