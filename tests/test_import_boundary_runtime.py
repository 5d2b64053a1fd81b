"""The on-robot runtime must not pull training/sim stacks (torch, SB3, gymnasium, mujoco)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "stable_baselines3", "gymnasium", "mujoco")
MODULES = ("duck.runtime.loop", "duck.runtime.imu", "duck.runtime.teleop", "duck.runtime.safety",
           "duck.runtime.telemetry", "duck.runtime.port", "duck.runtime.robot_io", "duck.runtime.runner",
           "duck.runtime.policy", "duck.runtime.health", "duck.commands.run", "duck.commands.log",
           "duck.commands.doctor", "duck.doctor.checks", "duck.doctor.sim_rig")


def test_runtime_imports_no_heavy_stacks() -> None:
    code = (
        "import sys\n"
        f"for m in {MODULES!r}: __import__(m)\n"
        "import firmware_bridge.bus\n"  # what the runtime loads at start-up on the robot
        "import duck.cli; duck.cli.build_parser()\n"
        f"print(','.join(h for h in {HEAVY!r} if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"runtime imported {out.stdout.strip()}"
