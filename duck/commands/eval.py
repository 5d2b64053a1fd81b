"""``duck eval``: run an ONNX policy through the fixed, seeded evaluation suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate an ONNX policy in MuJoCo",
        description="Run the ONNX policy (onnxruntime, not torch) in MuJoCo over the seeded suite: fixed "
                    "commands, random command tracking, push recovery, stand still, sim-to-sim (4x finer "
                    "timestep and randomized dynamics), gait quality, and walk bar 2's tracking with "
                    "head motion, 0.25/0.30 m/s forward and the transfer table (soft/stiff servos, low "
                    "battery, backlash, latency, slippery floor, payload, rough floor). Prints the bar.")
    p.add_argument("--policy", type=Path, required=True, help="ONNX policy file (from duck export)")
    p.add_argument("--json", type=Path, default=None, help="write all metrics to this JSON file")
    p.add_argument("--plots", type=Path, default=None, help="write PNG plots and report.md into this folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override the env config (e.g. --set physics_dt_s=0.002), the suite "
                        "(e.g. --set suite.tracking_episodes=4, suite.fast=false) or the transfer section "
                        "(e.g. --set transfer.enabled=false, transfer.late.enabled=false, "
                        "transfer.slippery.floor_friction=0.3); repeatable")
    p.add_argument("--quick", action="store_true", help="a small suite (few episodes) for smoke tests")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from duck.atomic import check_writable, write_text
    from duck.config import ConfigError, load, parse_override
    from duck.errors import UserError

    # Outputs first: a read-only --json must not cost a whole suite run.
    if args.json:
        check_writable(args.json, what="--json")
    if args.plots:
        check_writable(args.plots, directory=True, what="--plots")

    env_overrides, suite_overrides, transfer_overrides = [], [], []
    for text in args.overrides:
        path, _ = parse_override(text)
        if path[0] == "suite":
            suite_overrides.append(text.split(".", 1)[1])
        elif path[0] == "transfer":
            transfer_overrides.append(text.split(".", 1)[1])
        else:
            env_overrides.append(text)
    from duck.runtime.policy import load_policy

    policy = load_policy(args.policy)
    probe, _ = policy(np.zeros(policy.contract.obs_dim, dtype=np.float32))
    if not np.all(np.isfinite(probe)):
        print(f"duck eval: {args.policy} outputs non-finite actions (NaN/inf) at the zero observation; "
              "nothing to evaluate", file=sys.stderr)
        return 1
    from duck.evaluation import plots as plot_mod
    from duck.evaluation.report import markdown, whole_bar
    from duck.evaluation.suite import SuiteSettings, run_suite
    from duck.evaluation.transfer import TransferSettings
    from duck.sim.config import EnvConfig

    env_cfg = load(EnvConfig, None, env_overrides)
    base_suite = ["tracking_episodes=4", "push_episodes=4", "tracking_seconds=10.0"] if args.quick else []
    try:
        suite = load(SuiteSettings, None, base_suite + suite_overrides)
    except ConfigError as exc:
        raise UserError(f"suite.{exc}") from None
    try:
        transfer = load(TransferSettings, None, transfer_overrides)
    except ConfigError as exc:
        raise UserError(f"transfer.{exc}") from None
    from tqdm import tqdm

    sections = 4 + suite.sim2sim + suite.head_tracking + suite.fast + len(transfer.conditions())
    bar = tqdm(total=sections, desc="eval", unit="section", leave=False)

    def progress(name: str) -> None:
        bar.set_description(name)
        bar.update(0 if bar.n == 0 and name == "fixed commands" else 1)

    watched = FiniteWatch(policy)
    metrics, traces = run_suite(watched, env_cfg, suite, progress, transfer)
    bar.update(1)
    bar.close()
    rows = whole_bar(metrics)
    for name, value, bar_text, ok in rows:
        print(f"{'PASS' if ok else 'fail'}  {name:48s} {value:8.3f}   (bar {bar_text})")
    print(f"{sum(ok for *_, ok in rows)}/{len(rows)} criteria met")
    if args.json:
        write_text(args.json, json.dumps(metrics, indent=2))
        print(f"wrote {args.json}")
    if args.plots:
        paths = _write_plots(plot_mod, metrics, traces, args.plots)
        write_text(args.plots / "report.md", markdown(metrics, paths, args.plots))
        print(f"wrote {len(paths)} plots and report.md to {args.plots}")
    if watched.bad:
        print(f"duck eval: the policy output non-finite actions in {watched.bad} of {watched.calls} batched "
              "steps; its metrics are not meaningful", file=sys.stderr)
        return 1
    return 0


class FiniteWatch:
    """The policy, counting the inference calls whose output is not finite (NaN/inf)."""

    def __init__(self, policy) -> None:
        self.policy, self.bad, self.calls = policy, 0, 0

    def __call__(self, obs):
        import numpy as np

        action, offsets = self.policy(obs)
        self.calls += 1
        if not (np.all(np.isfinite(action)) and np.all(np.isfinite(offsets))):
            self.bad += 1
        return action, offsets

    def __getattr__(self, name: str):
        return getattr(self.policy, name)


def _write_plots(plot_mod, metrics: dict, traces: dict, out_dir: Path) -> list[Path]:
    """Render into a scratch folder beside ``out_dir``, then rename each plot into place: a
    plot is either the old one or the whole new one."""
    import os
    import tempfile

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".plots-", dir=out_dir) as scratch:
        made = plot_mod.write_all(metrics, traces, Path(scratch))
        final = []
        for path in made:
            os.replace(path, out_dir / path.name)
            final.append(out_dir / path.name)
    return final
