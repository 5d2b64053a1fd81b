"""``duck train``: train a walking policy with PPO on the CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from duck.validation import arg_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a walking policy (PPO, CPU)",
        description="Train a walking policy with stable-baselines3 PPO on the batched MuJoCo VecEnv. "
                    "Writes config, TensorBoard logs, checkpoints and periodic evals to the run directory, and "
                    "scores checkpoints against the walk bar in a low-priority background process, keeping "
                    "the best in RUN_DIR/best/ (score.* keys; score.enabled=false turns it off).")
    p.add_argument("--run-dir", type=Path, default=Path("runs/walk"),
                   help="run directory (default: runs/walk); with --resume, the run to continue")
    p.add_argument("--config", type=Path, default=None,
                   help="YAML config overriding the defaults (a run's config.yaml lists every key)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set ppo.n_envs=32 (repeatable)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --run-dir from its latest checkpoint, with its saved config")
    p.add_argument("--steps", type=arg_int(1, 10**12), default=None, help="shorthand for --set total_steps=N")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duck.atomic import check_writable
    from duck.config import load
    from duck.errors import UserError
    from duck.train.config import TrainConfig

    check_writable(args.run_dir, directory=True, what="--run-dir")

    overrides = list(args.overrides) + ([f"total_steps={args.steps}"] if args.steps is not None else [])
    if args.resume:
        if args.config is not None:
            raise UserError("--resume uses the run's saved config; drop --config")
        saved = args.run_dir / "config.yaml"
        if not saved.is_file():
            raise UserError(f"--resume: {args.run_dir} has no config.yaml")
        cfg = load(TrainConfig, saved, overrides, allow_empty=False)  # empty is damage, not "defaults"
    else:
        cfg = load(TrainConfig, args.config, overrides)
        if (args.run_dir / "checkpoints").is_dir() and any((args.run_dir / "checkpoints").iterdir()):
            raise UserError(f"{args.run_dir} already holds checkpoints; use --resume or another --run-dir")
    from duck.train.runner import train

    final = train(cfg, args.run_dir, resume=args.resume, argv=args.argv)
    print(f"final checkpoint: {final}")
    from duck.train.scoring import best_checkpoint, first_full_bar

    best = best_checkpoint(args.run_dir)
    if best is not None:
        print(f"best by the walk bar: {best[1]['checkpoint']} ({best[1]['passed']}/{best[1]['of']} items; "
              f"scores in {args.run_dir / 'scores.jsonl'}, plot {args.run_dir / 'scores.png'})")
    first = first_full_bar(args.run_dir)
    if first is not None:
        wall = f" after {first['wall_s'] / 60:.1f} min of training" if first.get("wall_s") is not None else ""
        print(f"the whole bar first held at {first['steps']:,} steps{wall} ({first['checkpoint']})")
    print(f"export it with: duck export {args.run_dir} --out {args.run_dir / 'policy.onnx'}")
    return 0
