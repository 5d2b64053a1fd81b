"""Figures for ``duck sysid fit`` and ``duck sysid compare`` (matplotlib, written atomically)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from .recording import SysidLog, atomic_write_bytes

SEGMENT_COLOURS = {"hold": "#e8f0fe", "steps": "#fef7e0", "reversal": "#e6f4ea", "chirp": "#fce8e6"}


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def _figure(rows: int, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, 1, figsize=(13, height), sharex=True, squeeze=False)


def plot_fit(path: str | Path, log: SysidLog, default_rollout, fitted_rollout, title: str) -> Path:
    """Position, tracking error and duty of one log: measured vs the default and the fitted model.
    ``*_rollout``: :class:`~.replay.Rollout` rows of one candidate (``position_rad`` 1-D)."""
    fig, axes = _figure(3, 9.0)
    ax_q, ax_e, ax_d = axes[:, 0]
    ok = log["ok"]
    t = log["t_s"]
    deg = np.degrees
    for ax in (ax_q, ax_e, ax_d):
        for name, s0, s1 in log.meta.get("segments", []):
            if name in SEGMENT_COLOURS:
                ax.axvspan(s0, s1, color=SEGMENT_COLOURS[name], zorder=0)
                if ax is ax_q:
                    ax.text(0.5 * (s0 + s1), 1.0, name, transform=ax.get_xaxis_transform(), ha="center",
                            va="bottom", fontsize=8)
    ax_q.plot(t, deg(log["goal_rad"]), color="0.6", lw=0.8, label="goal")
    ax_q.plot(t[ok], deg(log["position_rad"][ok]), color="k", lw=1.0, label="measured")
    ax_q.plot(t, deg(default_rollout.position_rad), color="tab:red", lw=0.8, ls="--", label="datasheet model")
    ax_q.plot(t, deg(fitted_rollout.position_rad), color="tab:blue", lw=0.8, label="fitted model")
    ax_q.set_ylabel("position (deg)")
    ax_q.legend(loc="lower left", fontsize=8, ncol=4)
    for rollout, colour, label in ((default_rollout, "tab:red", "datasheet"), (fitted_rollout, "tab:blue", "fitted")):
        err = deg(rollout.position_rad[ok] - log["position_rad"][ok])
        rmse = math.sqrt(float(np.mean(err**2)))
        ax_e.plot(t[ok], err, color=colour, lw=0.7, label=f"{label}: RMSE {rmse:.2f} deg")
    ax_e.set_ylabel("sim - measured (deg)")
    ax_e.legend(loc="lower left", fontsize=8)
    ax_d.plot(t[ok], log["pwm"][ok], color="k", lw=0.8, label="measured Present PWM")
    ax_d.plot(t, fitted_rollout.duty, color="tab:blue", lw=0.7, label="fitted model duty")
    ax_d.set_ylabel("duty")
    ax_d.set_xlabel("time (s)")
    ax_d.legend(loc="lower left", fontsize=8)
    ax_q.set_title(title, pad=14)
    return _save(fig, path)


def plot_compare(path: str | Path, t: np.ndarray, names: list[str], target: np.ndarray, measured: np.ndarray,
                 simulated: np.ndarray, rmse: np.ndarray, title: str) -> Path:
    """Per joint: the runtime's target, the logged position and the replayed sim position."""
    n = len(names)
    cols = 2
    rows = math.ceil(n / cols)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(13, 1.9 * rows), sharex=True, squeeze=False)
    for j in range(rows * cols):
        ax = axes[j // cols, j % cols]
        if j >= n:
            ax.axis("off")
            continue
        ax.plot(t, np.degrees(target[:, j]), color="0.6", lw=0.7, label="target")
        ax.plot(t, np.degrees(measured[:, j]), color="k", lw=0.9, label="log")
        ax.plot(t, np.degrees(simulated[:, j]), color="tab:blue", lw=0.8, label="sim replay")
        ax.set_title(f"{names[j]}: RMSE {math.degrees(rmse[j]):.2f} deg", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
