"""``duck doctor``: the preflight checklist. Run it on the robot before the first walk and
after any repair; the exit code says whether it is safe to run (0 safe, 1 not).

Module level: standard library only. ``--sim`` runs every check against the software
servo (``--inject`` breaks one thing on purpose, to see what the doctor says).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_BAUD = 2_000_000  # what `duck run` uses (duck.commands.run.DEFAULT_BAUD)
EXIT_SAFE, EXIT_NOT_SAFE = 0, 1
# The software servo runs in this process, so a busy machine delays its replies by its scheduling
# slack; the doctor is not timing-critical, so wait generously (duck run --sim uses 6 ms).
SIM_LATENCY_MS = 20.0
SIM_RETRIES = 5


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="preflight checklist: is the robot safe to run? (each failure says the fix)",
                       description="Check port, USB latency, baud, every servo (id, model, firmware, return "
                                   "delay, status level, mode, limits, gains), calibration, IMU mount, supply, "
                                   "temperatures and gamepad. Exit 0: safe to run; 1: fix what failed first.")
    p.add_argument("--port", help="servo bus serial port (default: find the U2D2 by its USB id)")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                   help=f"the bus baud duck run uses (default {DEFAULT_BAUD})")
    p.add_argument("--calibration", type=Path, help="servo calibration JSON from `duck servo calibrate`")
    p.add_argument("--imu-config", type=Path, help="IMU config (YAML/JSON), as for duck run")
    p.add_argument("--policy", type=Path, help="also check this policy's contract and that its servo settings "
                                               "can be written")
    p.add_argument("--json", action="store_true", help="print the results as JSON (for scripts)")
    p.add_argument("--yes", action="store_true", help="do not wait for Enter before the IMU check")
    p.add_argument("--sim", action="store_true", help="run every check against the software servo")
    p.add_argument("--inject", action="append", default=[], metavar="NAME[:SERVO]",
                   help="with --sim: break one thing (latency, wrong_baud, wrong_id, missing_servo, old_firmware, "
                        "return_delay, status_level, wrong_mode, position_limits, wrong_gain, calibration_sign, "
                        "no_calibration, flipped_imu, low_voltage, high_voltage, high_temperature, no_gamepad, "
                        "torque_on)")
    p.set_defaults(func=doctor)


def doctor(args: argparse.Namespace) -> int:
    from duck.doctor.checks import Robot, run_checks
    from duck.errors import UserError
    from duck.runtime.imu import load_imu_config

    if args.inject and not args.sim:
        raise UserError("--inject breaks the simulated robot; it needs --sim")
    from firmware_bridge.control_table import BAUD_TO_CODE

    if args.baud not in BAUD_TO_CODE:
        raise UserError(f"--baud {args.baud} is not a Dynamixel baud; use one of {sorted(BAUD_TO_CODE)}")
    imu_config = load_imu_config(args.imu_config)
    if args.sim:
        from duck.doctor.sim_rig import Injection, SimRig

        injections = [Injection.parse(t) for t in args.inject]
        with SimRig(args.baud, injections) as rig:
            robot = Robot(port=rig.port, baud=args.baud, calibration=rig.calibration if args.calibration is None
                          else args.calibration, open_imu=lambda: rig.open_imu(imu_config.mount_matrix),
                          find_gamepad=rig.find_gamepad, confirm_upright=lambda: None, sysfs=rig.sysfs,
                          policy=args.policy, imu_mount=imu_config.mount_matrix, label="(software servo)",
                          bus_latency_ms=SIM_LATENCY_MS, bus_retries=SIM_RETRIES)
            results = run_checks(robot)
    else:
        robot = Robot(port=args.port, baud=args.baud, calibration=args.calibration,
                      open_imu=lambda: _open_real_imu(imu_config), find_gamepad=_find_gamepad,
                      confirm_upright=(lambda: None) if args.yes or args.json else _ask_upright,
                      policy=args.policy, imu_mount=imu_config.mount_matrix)
        results = run_checks(robot)
    return _report(results, args, robot)


def _open_real_imu(config: Any) -> Any:
    from duck.runtime.imu import open_imu

    imu = open_imu(config)
    imu.open()
    return imu


def _find_gamepad() -> Any:
    from duck.runtime.teleop import find_gamepad

    return find_gamepad()


def _ask_upright() -> None:
    print("IMU check: hold the robot upright (standing, head up) and press Enter...", file=sys.stderr, flush=True)
    sys.stdin.readline()


def _report(results: list[Any], args: argparse.Namespace, robot: Any) -> int:
    from duck.doctor.checks import FAIL, safe_to_run

    safe = safe_to_run(results)
    if args.json:
        print(json.dumps({"safe_to_run": safe, "port": robot.port, "baud": robot.baud, "sim": bool(args.sim),
                          "checks": [r.to_dict() for r in results]}, indent=2))
        return EXIT_SAFE if safe else EXIT_NOT_SAFE
    where = f"{robot.port or 'U2D2'} at {robot.baud} baud" + (" (software servo)" if args.sim else "")
    print(f"duck doctor: {len(results)} checks on {where}")
    for r in results:
        print(f"  {r.status.upper():<4}  {r.id:<17} {r.detail}")
        if r.fix and r.status != "pass":
            print(f"        {'':<17} fix: {r.fix}")
    failed = [r.id for r in results if r.status == FAIL]
    print("safe to run" if safe else f"NOT safe to run: {len(failed)} check(s) failed ({', '.join(failed)}); "
                                     "fix the first one and run duck doctor again")
    return EXIT_SAFE if safe else EXIT_NOT_SAFE
