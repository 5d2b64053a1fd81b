"""``duck log``: read runtime telemetry (also after a crash, from the ``.parts`` chunks).

Module-level imports are stdlib only; numpy/matplotlib load inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path
from typing import Any

REQUIRED_COLUMNS = ("t", "overrun", "mode", "bus_ms", "imu_ms", "inference_ms", "other_ms")


def register(sub: Any) -> None:
    p = sub.add_parser("log", help="inspect and plot `duck run` telemetry logs")
    lsub = p.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    plot = lsub.add_parser("plot", help="write PNG plots of a run log")
    plot.add_argument("log", type=Path, help="run log (.npz); a crashed run's .npz.parts is read too")
    plot.add_argument("--out", type=Path, help="output folder (default: next to the log, <name>_plots)")
    plot.set_defaults(func=plot_cmd)
    show = lsub.add_parser("show", help="print a summary and the events of a run log")
    show.add_argument("log", type=Path)
    show.set_defaults(func=show_cmd)


def _load(path: Path) -> Any:
    from duck.errors import UserError
    from duck.runtime.telemetry import load_log

    try:
        log = load_log(path)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path} is not a readable duck run log: {str(exc).splitlines()[0]}") from None
    for note in log.skipped:
        print(f"warning: {path}: skipped {note}", file=sys.stderr)
    if len(log) == 0:
        raise UserError(f"{path} holds no cycles")
    missing = [k for k in REQUIRED_COLUMNS if k not in log.cycles]
    if missing:
        raise UserError(f"{path} is not a duck run log: no {', '.join(missing)}")
    return log


def show_cmd(args: argparse.Namespace) -> int:
    import numpy as np

    log = _load(args.log)
    c = log.cycles
    period = np.diff(c["t"]) * 1e3
    print(f"{args.log}: {len(log)} cycles, {c['t'][-1] - c['t'][0]:.1f} s, "
          f"{'complete' if log.complete else 'recovered from chunks (run did not end cleanly)'}")
    print(f"period mean {period.mean():.2f} ms, overruns {int(c['overrun'].sum())}; phase means (ms): "
          + ", ".join(f"{k[:-3]} {c[k].mean():.2f}" for k in ("bus_ms", "imu_ms", "inference_ms", "other_ms")))
    for e in log.events:
        print(f"  t={e['t']:8.3f}s cycle {e['cycle']:6d}  {e['kind']:<14s} {e['detail']}")
    return 0


def plot_cmd(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from duck.atomic import check_writable

    out = args.out or args.log.with_name(args.log.name.removesuffix(".npz") + "_plots")
    check_writable(out, directory=True, what="--out")
    log = _load(args.log)
    missing = [k for k in ("targets", "joint_pos", "gyro", "gravity", "command", "action") if k not in log.cycles]
    if missing:
        from duck.errors import UserError

        raise UserError(f"{args.log} has no {', '.join(missing)} to plot")
    out.mkdir(parents=True, exist_ok=True)
    c, t = log.cycles, log.cycles["t"]
    names = log.meta.get("joint_names") or [f"j{i}" for i in range(c["targets"].shape[1])]
    events = [e for e in log.events if e["kind"] not in ("overrun", "servo_read", "button")]

    def mark(ax: Any) -> None:
        for e in events:
            ax.axvline(e["t"], color="grey", lw=0.6, ls="--")

    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    axes[0].plot(t[1:], np.diff(t) * 1e3, lw=0.7)
    axes[0].set_ylabel("period (ms)")
    phases = [c[k] for k in ("bus_ms", "imu_ms", "inference_ms", "other_ms")]
    axes[1].stackplot(t, *phases, labels=["bus", "imu", "inference", "other"])
    axes[1].set_ylabel("cycle work (ms)")
    axes[1].legend(loc="upper right", fontsize=7)
    axes[2].step(t, c["mode"], where="post")
    axes[2].set_ylabel("mode")
    axes[2].set_xlabel("t (s)")
    for ax in axes:
        mark(ax)
    _save(fig, out / "timing.png")

    n = len(names)
    fig, axes = plt.subplots((n + 2) // 3, 3, figsize=(12, 2.2 * ((n + 2) // 3)), sharex=True)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        ax.plot(t, c["targets"][:, i], lw=0.8, label="target")
        ax.plot(t, c["joint_pos"][:, i], lw=0.8, label="measured")
        ax.set_title(names[i], fontsize=8)
        mark(ax)
    axes.flat[0].legend(fontsize=7)
    _save(fig, out / "joints.png")

    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    axes[0].plot(t, c["gyro"], lw=0.7)
    axes[0].set_ylabel("gyro (rad/s)")
    axes[1].plot(t, c["gravity"], lw=0.7)
    axes[1].set_ylabel("gravity (body)")
    axes[2].plot(t, c["command"], lw=0.8)
    axes[2].set_ylabel("command")
    axes[2].set_xlabel("t (s)")
    for ax in axes:
        mark(ax)
    _save(fig, out / "imu_command.png")

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(t, c["action"], lw=0.6)
    ax.set_ylabel("policy action")
    ax.set_xlabel("t (s)")
    mark(ax)
    _save(fig, out / "actions.png")
    print(f"plots written to {out}/ (timing, joints, imu_command, actions)")
    return 0


def _save(fig: Any, path: Path) -> None:
    from duck.atomic import atomic_output

    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
