"""PNG plots of an evaluation: velocity tracking, push survival, joints, foot contacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from duck.contract import CONTRACT
from duck.evaluation.episodes import Trace


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def velocity_tracking(trace: Trace, path: Path, episode: int = 0) -> None:
    plt = _plt()
    t = np.arange(trace.alive.shape[0]) * trace.dt
    fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
    labels = ("vx [m/s]", "vy [m/s]", "yaw rate [rad/s]")
    for k, ax in enumerate(axes):
        ax.plot(t, trace.command[:, episode, k], "k--", label="command")
        ax.plot(t, trace.vel_heading[:, episode, k], label="achieved", alpha=0.8)
        ax.set_ylabel(labels[k])
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[-1].set_xlabel("time [s]")
    fig.suptitle(f"Random command tracking (episode {episode})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# The eval's kick sectors name the direction the kick pushes the robot (world frame, robot facing +x).
_PUSHED = {"front": "forward", "left": "left", "back": "backward", "right": "right"}


def push_survival(push: dict, path: Path) -> None:
    """Survival against kick size: all directions (the walk bar's figure) and one line per direction,
    because a policy's weakness is usually one direction (front kicks on a knee-backward leg)."""
    plt = _plt()
    kicks = [float(k) for k in push["survival_rate_by_kick_mps"]]
    rates = list(push["survival_rate_by_kick_mps"].values())
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(kicks, rates, "o-", color="k", lw=2, label="all directions")
    for direction, by_kick in push.get("survival_rate_by_direction", {}).items():
        pts = [(float(k), v) for k, v in by_kick.items() if v is not None]
        ax.plot([k for k, _ in pts], [v for _, v in pts], ".--", lw=1, label=f"pushed {_PUSHED[direction]}")
    ax.set_xlabel("kick [m/s]   (impulse = mass x kick)")
    ax.set_ylabel("survival rate")
    ax.set_ylim(-0.05, 1.05)
    ax.axhline(0.9, color="g", ls=":", lw=1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(f"Push recovery while walking at {push['walk_command_mps']} m/s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def joint_trajectories(trace: Trace, path: Path, seconds: float = 3.0) -> None:
    plt = _plt()
    n = min(trace.alive.shape[0], int(seconds / trace.dt))
    t = np.arange(n) * trace.dt
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for side, ax in zip(("right", "left"), axes):
        for j, name in enumerate(CONTRACT.joint_names):
            if name.startswith(side):
                ax.plot(t, trace.joint_pos[:n, 0, j], label=name.removeprefix(side + "_"))
        ax.set_ylabel(f"{side} leg [rad]")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=7, ncol=5)
    axes[-1].set_xlabel("time [s]")
    fig.suptitle("Joint positions, forward 0.15 m/s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def foot_contacts(trace: Trace, path: Path, seconds: float = 3.0) -> None:
    plt = _plt()
    n = min(trace.alive.shape[0], int(seconds / trace.dt))
    t = np.arange(n) * trace.dt
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
    for foot, name in enumerate(("right", "left")):
        ax0.fill_between(t, foot, foot + 0.8 * trace.contact[:n, 0, foot], step="post", label=name)
        ax1.plot(t, trace.foot_height[:n, 0, foot] * 100, label=name)
    ax0.set_yticks([0.4, 1.4], ["right", "left"])
    ax0.set_title("Foot contact (filled = on the ground), forward 0.15 m/s")
    ax1.set_ylabel("sole height [cm]")
    ax1.set_xlabel("time [s]")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_all(metrics: dict, traces: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / n for n in ("velocity_tracking.png", "push_survival.png", "joint_trajectories.png",
                                   "foot_contacts.png")]
    velocity_tracking(traces["tracking"], paths[0])
    push_survival(metrics["push"], paths[1])
    joint_trajectories(traces["fixed"]["forward"], paths[2])
    foot_contacts(traces["fixed"]["forward"], paths[3])
    return paths
