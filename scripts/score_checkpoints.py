"""Score training checkpoints against the walk bar, to pick one to ship.

Checkpoints fluctuate a lot from one to the next (docs/training.md, exp11), so a policy is
chosen by evaluating several. Selection uses a suite seed other than the report's (1234),
so the shipped report is not the maximum of noisy draws on its own seed.

    python scripts/score_checkpoints.py runs/exp13 runs/exp13/keep/step_*.zip --jsonl runs/exp13/scores.jsonl

Each line: checkpoint, walk-bar items passed, and the failing items with their values.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the training run the checkpoints belong to")
    parser.add_argument("checkpoints", type=Path, nargs="+", help="checkpoint .zip files")
    parser.add_argument("--seed", type=int, default=99, help="suite seed (the report uses 1234)")
    parser.add_argument("--episodes", type=int, default=10, help="tracking episodes")
    parser.add_argument("--push-episodes", type=int, default=40,
                        help="kicks per magnitude (the report's 40: fewer cannot resolve a 0.7 bar)")
    parser.add_argument("--jsonl", type=Path, default=None, help="append one JSON line per checkpoint")
    args = parser.parse_args()

    from duck.evaluation.report import walk_bar
    from duck.evaluation.suite import SuiteSettings, run_suite
    from duck.runtime.policy import load_policy
    from duck.sim.config import EnvConfig
    from duck.train.export import export, load_run

    suite = replace(SuiteSettings(), seed=args.seed, tracking_episodes=args.episodes, push_episodes=args.push_episodes)
    for checkpoint in args.checkpoints:
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = Path(tmp) / "candidate.onnx"
            loaded = load_run(args.run_dir, checkpoint)
            export(loaded, onnx_path)
            metrics, _ = run_suite(load_policy(onnx_path), EnvConfig(), suite)
        rows = walk_bar(metrics)
        line = {"checkpoint": checkpoint.name, "steps": loaded.steps, "passed": sum(ok for *_, ok in rows),
                "of": len(rows), "failing": {name: round(value, 3) for name, value, _, ok in rows if not ok}}
        print(json.dumps(line), flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
