"""Score training checkpoints against the walk bar, to pick one to ship.

Checkpoints fluctuate a lot from one to the next (docs/training.md, exp11), so a policy is
chosen by evaluating several. ``duck train`` now does this itself while it trains
(duck/train/scoring.py: RUN/scores.jsonl and RUN/best/); this script scores given checkpoints
with the same code, e.g. those of older runs or with other suite sizes. Selection uses a suite
seed other than the report's (1234), so the shipped report is not the maximum of noisy draws on
its own seed.

    python scripts/score_checkpoints.py runs/exp13 runs/exp13/keep/step_*.zip --jsonl runs/exp13/scores40.jsonl

Each line: checkpoint, items of the whole bar passed, and the failing items with their values.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from duck.train.scoring import ScoreConfig, score_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the training run the checkpoints belong to")
    parser.add_argument("checkpoints", type=Path, nargs="+", help="checkpoint .zip files")
    parser.add_argument("--seed", type=int, default=99, help="suite seed (the report uses 1234)")
    parser.add_argument("--episodes", type=int, default=10, help="tracking episodes")
    parser.add_argument("--push-episodes", type=int, default=40,
                        help="kicks per magnitude (the report's 40: fewer cannot resolve a 0.7 bar)")
    parser.add_argument("--no-transfer", action="store_true", help="skip the transfer section (walk bar 2)")
    parser.add_argument("--jsonl", type=Path, default=None, help="append one JSON line per checkpoint")
    args = parser.parse_args()

    cfg = ScoreConfig(seed=args.seed, tracking_episodes=args.episodes, push_episodes=args.push_episodes,
                      transfer=not args.no_transfer)
    for checkpoint in args.checkpoints:
        line, _ = score_checkpoint(args.run_dir, checkpoint, cfg)
        line.pop("items")
        print(json.dumps(line), flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
