"""Scoring checkpoints against the walk bar, during training and after it.

Adjacent checkpoints differ by one or two walk-bar items (docs/training.md, exp11, exp17), so a
run's best policy is found by scoring many. ``duck train`` does it itself (``score.*`` in the
train config): every ``score.every_steps`` it copies the checkpoint just saved to
``RUN/scoring/`` and scores it in a child process at low CPU priority (``nice``) while training
goes on, one checkpoint at a time; at the end of training it waits for the ones still queued.
``scripts/score_checkpoints.py`` scores given checkpoints the same way.

The run directory then holds

  scores.jsonl   one line per scored checkpoint: items met, the failing items, every item's
                 value, the training wall-clock at the checkpoint and the scoring time
  scores.png     items met against env steps and against wall-clock
  best/          the best checkpoint by the bar (model, normaliser, curriculum) and best.json,
                 its score line; ``duck export RUN`` exports it by default

"Best by the bar", in order (:func:`rank_key`): more items of the whole bar met (walk bar + walk
bar 2's additions); then the higher robustness figure, the mean of the survival rates the bar
asks for (tracking, tracking with head motion, 0.6 and 0.8 m/s kicks, each transfer row's 0.6
m/s kicks and survival); then the later checkpoint.

Selection uses suite seed 99, not the report's 1234, so a shipped report is not the maximum of
noisy draws on its own seed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from duck.config import check_range

SCORES_FILE = "scores.jsonl"
SCORES_PLOT = "scores.png"
BEST_DIR = "best"
BEST_FILE = "best.json"
QUEUE_DIR = "scoring"


@dataclass(frozen=True)
class ScoreConfig:
    """In-training checkpoint scoring (``--set score.enabled=false`` turns it off).

    The defaults are a reduced suite: 6 tracking episodes instead of 20, 20 kicks per magnitude
    instead of 40 (10 per transfer row), the whole transfer table. Its cost is in docs/training.md."""

    enabled: bool = True
    every_steps: int = 2_000_000
    start_steps: int = 2_000_000  # nothing to score before the policy walks
    seed: int = 99
    tracking_episodes: int = 6
    push_episodes: int = 20
    transfer: bool = True
    # Further suite settings as KEY=VALUE, the keys of `duck eval --set suite.KEY=VALUE`
    # (e.g. tracking_seconds=10.0); tests shrink the suite with them.
    suite: tuple[str, ...] = ()
    nice: int = 19  # the scorer's CPU priority: training comes first

    def validate(self) -> None:
        check_range("every_steps", self.every_steps, 1)
        check_range("start_steps", self.start_steps, 0)
        check_range("tracking_episodes", self.tracking_episodes, 1, 1000)
        check_range("push_episodes", self.push_episodes, 4, 1000)
        check_range("nice", self.nice, 0, 19)
        from duck.config import ConfigError, load
        from duck.evaluation.suite import SuiteSettings

        try:  # a bad suite key fails now, not in the scorer an hour into training
            load(SuiteSettings, None, self.suite)
        except ConfigError as exc:
            raise ConfigError(f"suite: {exc}") from None


def rank_key(line: dict) -> tuple[int, float, int]:
    """Sort key of a score line, larger is better (see the module docstring)."""
    return (int(line["passed"]), float(line["robustness"]), int(line["steps"]))


def robustness(metrics: dict) -> float:
    """Mean of the survival rates the bar asks for (the tie-break after items met)."""
    rates = [metrics["tracking"]["survival_rate"], metrics["push"]["survival_rate_by_kick_mps"]["0.6"],
             metrics["push"]["survival_rate_by_kick_mps"]["0.8"]]
    if "head_tracking" in metrics:
        rates.append(metrics["head_tracking"]["survival_rate"])
    for row in metrics.get("transfer", {}).values():
        rates += [row["survival_rate"], row["push_survival_rate_by_kick_mps"]["0.6"]]
    return float(sum(rates) / len(rates))


def score_line(metrics: dict, checkpoint: Path, steps: int) -> dict:
    """One scores.jsonl line from a suite's metrics."""
    from duck.evaluation.report import whole_bar

    rows = whole_bar(metrics)
    return {"checkpoint": checkpoint.name, "steps": steps, "passed": sum(ok for *_, ok in rows), "of": len(rows),
            "robustness": round(robustness(metrics), 4),
            "failing": {name: round(value, 3) for name, value, _, ok in rows if not ok},
            "items": {name: [round(float(value), 4), bool(ok)] for name, value, _, ok in rows}}


def score_checkpoint(run_dir: Path, checkpoint: Path, cfg: ScoreConfig) -> tuple[dict, dict]:
    """Export ``checkpoint`` (as ``duck export`` would: mirror-averaged when trained with the
    symmetry pass) and run the suite on it. Returns (score line, metrics)."""
    from duck.config import load
    from duck.evaluation.suite import SuiteSettings, run_suite
    from duck.evaluation.transfer import TransferSettings
    from duck.runtime.policy import load_policy
    from duck.sim.config import EnvConfig
    from duck.train.export import export, load_run

    suite = replace(load(SuiteSettings, None, cfg.suite), seed=cfg.seed, tracking_episodes=cfg.tracking_episodes,
                    push_episodes=cfg.push_episodes)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_run(run_dir, checkpoint)
        onnx_path = export(loaded, Path(tmp) / "candidate.onnx")
        metrics, _ = run_suite(load_policy(onnx_path), EnvConfig(), suite,
                               transfer=TransferSettings(enabled=cfg.transfer))
    return score_line(metrics, checkpoint, loaded.steps), metrics


def checkpoint_files(zip_path: Path) -> list[Path]:
    """A checkpoint's files: model, normaliser and (when saved) curriculum state."""
    stem = zip_path.with_suffix("")
    return [p for p in (zip_path, Path(f"{stem}_vecnormalize.pkl"), Path(f"{stem}_curriculum.json")) if p.is_file()]


def read_scores(run_dir: Path) -> list[dict]:
    path = run_dir / SCORES_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def first_full_bar(run_dir: Path) -> dict | None:
    """The score line of the first checkpoint (by steps) that met every item, or None."""
    full = [line for line in read_scores(run_dir) if line["passed"] == line["of"]]
    return min(full, key=lambda line: line["steps"]) if full else None


def best_checkpoint(run_dir: Path) -> tuple[Path, dict] | None:
    """The run's best checkpoint by the bar and its score line, or None when none was scored."""
    info = run_dir / BEST_DIR / BEST_FILE
    if not info.is_file():
        return None
    line = json.loads(info.read_text())
    zip_path = run_dir / BEST_DIR / line["checkpoint"]
    return (zip_path, line) if zip_path.is_file() else None


def record(run_dir: Path, checkpoint: Path, line: dict) -> bool:
    """Append ``line`` to scores.jsonl; make ``checkpoint`` the best when it ranks above the
    current best (files replaced atomically by a directory rename). Returns whether it did."""
    with open(run_dir / SCORES_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")
    current = best_checkpoint(run_dir)
    if current is not None and rank_key(current[1]) >= rank_key(line):
        return False
    staging = run_dir / f".{BEST_DIR}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for path in checkpoint_files(checkpoint):
        shutil.copy2(path, staging / path.name)
    (staging / BEST_FILE).write_text(json.dumps(line, indent=2))
    old = run_dir / f".{BEST_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if (run_dir / BEST_DIR).exists():
        (run_dir / BEST_DIR).rename(old)
    staging.rename(run_dir / BEST_DIR)
    shutil.rmtree(old, ignore_errors=True)
    return True


def plot_scores(run_dir: Path, out: Path | None = None) -> Path | None:
    """Items met against env steps and against training wall-clock (scores.png)."""
    lines = sorted(read_scores(run_dir), key=lambda r: r["steps"])
    if not lines:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best, first = best_checkpoint(run_dir), first_full_bar(run_dir)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, key, scale, label in ((axes[0], "steps", 1e-6, "env steps [M]"),
                                  (axes[1], "wall_s", 1 / 60, "training wall-clock [min]")):
        xs = [r.get(key, float("nan")) * scale for r in lines]
        ax.plot(xs, [r["passed"] for r in lines], "o-", label="items met")
        ax.axhline(lines[-1]["of"], color="green", lw=0.8, ls="--", label=f"whole bar ({lines[-1]['of']})")
        if best is not None:
            ax.plot([best[1].get(key, float("nan")) * scale], [best[1]["passed"]], "r*", ms=14, label="best")
        if first is not None and first.get(key) is not None:
            ax.axvline(first[key] * scale, color="green", lw=0.8, label="whole bar first met")
        ax.set_xlabel(label)
        ax.set_ylim(0, lines[-1]["of"] + 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("walk-bar items met\n(selection seed)")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"checkpoint scores: {run_dir.name}")
    fig.tight_layout()
    out = out or run_dir / SCORES_PLOT
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out)
    return out


class BackgroundScorer:
    """Queues checkpoints and scores them one at a time in a low-priority child process."""

    def __init__(self, run_dir: Path, cfg: ScoreConfig):
        self.run_dir, self.cfg = run_dir, cfg
        self.queue: list[tuple[Path, float]] = []
        self.proc: subprocess.Popen | None = None
        self.log = run_dir / "scoring.log"

    def submit(self, checkpoint: Path, wall_s: float) -> None:
        """Copy ``checkpoint`` aside (training rotates its checkpoints) and queue it."""
        folder = self.run_dir / QUEUE_DIR
        folder.mkdir(exist_ok=True)
        for path in checkpoint_files(checkpoint):
            shutil.copy2(path, folder / path.name)
        self.queue.append((folder / checkpoint.name, wall_s))
        self.poll()

    def poll(self) -> None:
        """Start the next queued checkpoint when the scorer is idle."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = None
        if self.queue:
            checkpoint, wall_s = self.queue.pop(0)
            self.proc = self._start(checkpoint, wall_s, self.cfg.nice)

    def _start(self, checkpoint: Path, wall_s: float, nice: int) -> subprocess.Popen:
        c = self.cfg
        cmd = [sys.executable, "-m", "duck.train.scoring", str(self.run_dir), str(checkpoint), "--wall-s", str(wall_s),
               "--seed", str(c.seed), "--episodes", str(c.tracking_episodes), "--push-episodes",
               str(c.push_episodes), "--remove-after", "--nice", str(nice)] + ([] if c.transfer else ["--no-transfer"])
        cmd += [f"--suite={item}" for item in c.suite]
        with open(self.log, "a") as log:
            return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def pending(self) -> int:
        return len(self.queue) + (self.proc is not None and self.proc.poll() is None)

    def finish(self, progress=print) -> None:
        """Wait for the running scorer and score what is still queued (at normal priority:
        training is over)."""
        self.cfg = replace(self.cfg, nice=0)
        while self.pending():
            if self.proc is not None:
                self.proc.wait()
            if self.queue:
                progress(f"scoring {self.queue[0][0].name} ({len(self.queue)} left)")
            self.poll()

    def stop(self) -> None:
        """Stop a running scorer (training interrupted); the queue stays on disk in scoring/."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    """The scorer's child process: score one checkpoint, record it, update best/ and the plot."""
    parser = argparse.ArgumentParser(description="score one training checkpoint against the walk bar")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--wall-s", type=float, default=None, help="training wall-clock at the checkpoint")
    parser.add_argument("--seed", type=int, default=ScoreConfig.seed)
    parser.add_argument("--episodes", type=int, default=ScoreConfig.tracking_episodes)
    parser.add_argument("--push-episodes", type=int, default=ScoreConfig.push_episodes)
    parser.add_argument("--no-transfer", action="store_true")
    parser.add_argument("--suite", action="append", default=[], metavar="KEY=VALUE", help="a suite setting")
    parser.add_argument("--remove-after", action="store_true", help="delete the checkpoint's copy when scored")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by this much first")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)  # here rather than a preexec_fn, which is unsafe in the threaded trainer
    cfg = ScoreConfig(seed=args.seed, tracking_episodes=args.episodes, push_episodes=args.push_episodes,
                      transfer=not args.no_transfer, suite=tuple(args.suite))
    t0, cpu0 = time.time(), time.process_time()
    line, _ = score_checkpoint(args.run_dir, args.checkpoint, cfg)
    line["wall_s"] = args.wall_s
    line["score_seconds"] = round(time.time() - t0, 1)
    line["score_cpu_seconds"] = round(time.process_time() - cpu0, 1)
    best = record(args.run_dir, args.checkpoint, line)
    plot_scores(args.run_dir)
    print(json.dumps({k: line[k] for k in ("checkpoint", "passed", "of", "score_seconds")} | {"best": best}),
          flush=True)
    if args.remove_after:
        for path in checkpoint_files(args.checkpoint):
            path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
