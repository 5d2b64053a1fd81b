"""One picture of a training run: walk-bar items per checkpoint, quick-eval tracking error
and the kick curriculum, against env steps and wall-clock.

    python scripts/plot_training_curve.py runs/exp39 --scores runs/exp39/scores.jsonl \
        runs/exp39/scores40.jsonl --out docs/exp39_training_curve.png

``--scores`` takes JSONL files written by ``scripts/score_checkpoints.py --jsonl``; each is
drawn as its own series (their settings, e.g. kicks per magnitude, may differ). The run's own
``scores.jsonl`` (scored by ``duck train`` while it trained, duck/train/scoring.py) is drawn
too; ``duck train`` also writes its items-vs-steps-and-wall-clock plot as RUN/scores.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def push_scale_curve(run_dir: Path) -> tuple[list[float], list[float]]:
    """(steps, kick scale) from the run's TensorBoard logs; empty when there are none."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps, values = [], []
    for folder in sorted((run_dir / "tb").glob("*")):
        events = EventAccumulator(str(folder))
        events.Reload()
        if "curriculum/push_scale" in events.Tags()["scalars"]:
            for e in events.Scalars("curriculum/push_scale"):
                steps.append(e.step / 1e6)
                values.append(e.value)
    return steps, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--scores", type=Path, nargs="*", default=[], help="score_checkpoints JSONL files")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals_path = args.run_dir / "evals.jsonl"
    if not evals_path.is_file():
        raise SystemExit(f"{evals_path} not found: is {args.run_dir} a training run?")
    evals = read_jsonl(evals_path)
    fig, (ax_bar, ax_rmse, ax_kick) = plt.subplots(3, 1, figsize=(8, 8), sharex=True)

    own = args.run_dir / "scores.jsonl"
    series = list(args.scores) + ([own] if own.is_file() and own not in args.scores else [])
    of = set()
    for path in series:
        rows = sorted(read_jsonl(path), key=lambda r: r["steps"])
        of |= {r.get("of", 17) for r in rows}
        ax_bar.plot([r["steps"] / 1e6 for r in rows], [r["passed"] for r in rows], "o-",
                    label=f"{path.name} (of {'/'.join(str(n) for n in sorted({r.get('of', 17) for r in rows}))})")
    for n in sorted(of or {17}):
        ax_bar.axhline(n, color="green", lw=0.8, ls="--")
    ax_bar.set_ylabel("walk-bar items met\n(selection seed)")
    ax_bar.legend(loc="lower right", fontsize=8)

    steps = [e["steps"] / 1e6 for e in evals]
    ax_rmse.plot(steps, [e["lin_vel_rmse_mps"] for e in evals], "o-", label="lin-vel RMSE [m/s]")
    ax_rmse.plot(steps, [1.0 - e["survival_rate"] for e in evals], "s-", label="falls (1 - survival)")
    ax_rmse.set_ylabel("quick eval\n(no kicks)")
    ax_rmse.legend(loc="upper right", fontsize=8)
    # wall-clock along the top: minutes at each quick eval
    top = ax_bar.secondary_xaxis("top")
    top.set_xticks(steps[1::4])
    top.set_xticklabels([f"{e['wall_s'] / 60:.0f} min" for e in evals[1::4]], fontsize=8)

    kick_steps, kick_scale = push_scale_curve(args.run_dir)
    ax_kick.plot(kick_steps, kick_scale, lw=0.8)
    ax_kick.set_ylabel("kick scale\n(curriculum)")
    ax_kick.set_xlabel("env steps [M]")
    fig.suptitle(f"training curve: {args.run_dir.name}")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
