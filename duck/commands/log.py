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
    for line in _health_lines(log):
        print(line)
    for e in log.events:
        print(f"  t={e['t']:8.3f}s cycle {e['cycle']:6d}  {e['kind']:<14s} {e['detail']}")
    return 0


def _health_lines(log: Any) -> list[str]:
    """Supply, temperatures, bus errors and loop jitter, when the run logged them."""
    import numpy as np

    c, lines = log.cycles, []
    if "jitter_ms" in c:
        j = np.abs(c["jitter_ms"])
        lines.append(f"loop jitter (start - grid): p50 {np.percentile(j, 50):.2f} ms, "
                     f"p99 {np.percentile(j, 99):.2f} ms, max {j.max():.2f} ms")
    if "supply_v" in c:
        v = c["supply_v"][np.isfinite(c["supply_v"])]
        if v.size:
            lines.append(f"supply: min {v.min():.1f} V, last {v[-1]:.1f} V ({int((c['health_servo'] >= 0).sum())} "
                         "health reads)")
        temps = c["servo_temp_c"]
        names = log.meta.get("joint_names") or [f"j{i}" for i in range(temps.shape[1])]
        with np.errstate(all="ignore"):
            hottest = np.nanmax(np.where(np.isfinite(temps), temps, -np.inf), axis=0)
        order = np.argsort(-hottest)[:3]
        lines.append("hottest servos: " + ", ".join(f"{names[k]} {hottest[k]:.0f} degC" for k in order
                                                     if np.isfinite(hottest[k])))
        errors = c["bus_errors"][-1]
        lines.append("bus errors: " + (", ".join(f"{names[k]} {int(n)}" for k, n in enumerate(errors) if n) or "none"))
    return lines


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
    written = ["timing", "joints", "imu_command", "actions"]
    if "supply_v" in c or "jitter_ms" in c:
        _plot_health(plt, c, t, names, mark, out / "health.png")
        written.append("health")
    print(f"plots written to {out}/ ({', '.join(written)})")
    return 0


def _plot_health(plt: Any, c: dict[str, Any], t: Any, names: list[str], mark: Any, path: Path) -> None:
    """Supply voltage, servo temperatures and loop jitter against time."""
    import numpy as np

    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    if "supply_v" in c:
        # Each servo's readings as points (the round-robin reads one servo a cycle), the latest as a line.
        volts = c["servo_voltage_v"]
        axes[0].plot(t, c["supply_v"], lw=0.8, color="k", label="latest")
        fresh = c["health_servo"] >= 0
        axes[0].plot(t[fresh], volts[fresh, c["health_servo"][fresh]], ".", ms=2, label="reads")
        axes[0].legend(fontsize=7)
        temps = c["servo_temp_c"]
        for k, name in enumerate(names):
            if np.isfinite(temps[:, k]).any():
                axes[1].plot(t, temps[:, k], lw=0.8, label=name)
        axes[1].legend(fontsize=6, ncol=4)
    axes[0].set_ylabel("supply (V)")
    axes[1].set_ylabel("temperature (degC)")
    if "jitter_ms" in c:
        axes[2].plot(t, c["jitter_ms"], lw=0.7)
    axes[2].set_ylabel("loop jitter (ms)")
    axes[2].set_xlabel("t (s)")
    for ax in axes:
        mark(ax)
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    from duck.atomic import atomic_output

    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
