"""``duck sim``: watch a policy walk in MuJoCo (viewer, or headless MP4)."""

from __future__ import annotations

import argparse
from pathlib import Path

from duck.validation import arg_float, arg_floats, arg_size


def parse_command(given: str | tuple[float, ...]) -> tuple[float, float, float]:
    """"vx,vy,yaw" (or the parsed triple) -> finite floats, within the contract's command ranges."""
    from duck.contract import CONTRACT
    from duck.errors import UserError

    try:
        values = arg_floats(3, "vx,vy,yaw")(given) if isinstance(given, str) else tuple(given)
    except argparse.ArgumentTypeError as exc:
        raise UserError(f"--command: {exc}") from None
    c = CONTRACT.commands
    for value, rng, name in zip(values, (c.vx_mps, c.vy_mps, c.yaw_rate_rad_s), ("vx", "vy", "yaw")):
        if not rng.low - 1e-9 <= value <= rng.high + 1e-9:
            raise UserError(f"--command {name}={value} outside the contract range [{rng.low}, {rng.high}]")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim", help="watch a policy walk in simulation",
        description="Roll out an ONNX policy in MuJoCo. With a display: the passive viewer (arrow keys change "
                    "vx and yaw rate, ',' '.' vy, space stops, R resets). Headless: --video writes an MP4 with "
                    "the camera following the robot, and a summary is printed.")
    p.add_argument("--policy", type=Path, default=Path("policies/walk.onnx"),
                   help="ONNX policy (default: policies/walk.onnx)")
    p.add_argument("--video", type=Path, default=None, help="write an MP4 here instead of opening a viewer")
    p.add_argument("--command", type=arg_floats(3, "vx,vy,yaw"), default="0.15,0,0",
                   help="velocity command vx,vy,yaw (default 0.15,0,0)")
    p.add_argument("--seconds", type=arg_float(0.0, 3600.0, low_open=True), default=10.0, help="duration (default 10)")
    p.add_argument("--pushes", action="store_true", help="enable random pushes and dynamics randomization")
    p.add_argument("--size", type=arg_size(16, 4096), default="320x240", help="video size WxH (default 320x240)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override the env config, e.g. --set physics_dt_s=0.002")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    if args.video is not None:
        os.environ.setdefault("MUJOCO_GL", "egl")  # must precede the first mujoco import
    import numpy as np

    from duck.config import load
    from duck.errors import UserError
    from duck.runtime.policy import load_policy

    command = np.array(parse_command(args.command))
    width, height = args.size
    if args.video is not None:
        from duck.atomic import check_writable

        check_writable(args.video, what="--video")
    policy = load_policy(args.policy)
    from duck.sim.config import EnvConfig
    from duck.sim.playback import record_video, view

    cfg = load(EnvConfig, None, args.overrides)
    if args.video is None and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise UserError("no display found; use --video out.mp4 to render headless")
    if args.video is not None:
        from duck.atomic import atomic_output

        with atomic_output(args.video) as tmp:  # the MP4 appears whole, or the old one stays
            summary = record_video(policy, cfg, command, args.seconds, tmp, width, height, pushes=args.pushes)
        print(f"wrote {args.video}")
    else:
        summary = view(policy, cfg, command, args.seconds, pushes=args.pushes)
    print(f"command vx={command[0]:.2f} m/s vy={command[1]:.2f} m/s yaw={command[2]:.2f} rad/s: {summary}")
    return 1 if summary.fell else 0
