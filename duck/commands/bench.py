"""``duck bench {bus,sim}``: benchmarks. Each benchmark's body lives in its own module
(``duck.bench_bus``, ``duck.sim.bench``) imported only when it runs."""

from __future__ import annotations

import argparse
import importlib

from duck.validation import arg_float, arg_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks: servo bus cycle time, simulator throughput")
    bs = p.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)

    q = bs.add_parser("bus", help="control-cycle time vs. the wire-time lower bound (Dynamixel or Feetech)")
    q.add_argument("--json", metavar="FILE", help="write one row per baud: baud, cycle_ms, wire_bound_ms, ratio")
    q.add_argument("--cycles", type=arg_int(1, 1_000_000), default=300, help="measured cycles per baud")
    q.add_argument("--family", choices=("contract", "dynamixel", "feetech"), default="contract",
                   help="servo family: the contract's (default), or feetech: the v2 robot's 14 STS3215 at "
                        "upstream's IDs")
    q.add_argument("--bauds", type=arg_int(9600, 4_500_000), nargs="+",
                   help="default: 1, 2, 3, 4 Mbps for Dynamixel; 1 Mbps (the STS maximum, upstream's) for Feetech")
    q.add_argument("--no-fast", action="store_true", help="plain Sync Read instead of Fast Sync Read (Dynamixel)")
    q.add_argument("--rt-priority", type=arg_int(1, 99), metavar="N",
                   help="SCHED_FIFO priority for the measuring client, as `duck run --rt-priority` gives the loop")
    q.set_defaults(func=_run("duck.bench_bus"))

    q = bs.add_parser("sim", help="simulator throughput")
    q.add_argument("--json", metavar="FILE", help="write the results as JSON")
    q.add_argument("--envs", type=arg_int(1, 4096), default=256, help="batched envs (default 256; training uses 64)")
    q.add_argument("--seconds", type=arg_float(0.0, 3600.0, low_open=True), default=5.0,
                   help="measured seconds (default 5)")
    q.set_defaults(func=_run("duck.sim.bench"))


def _run(module: str):
    def handler(args) -> int:
        from duck.atomic import check_writable
        from duck.errors import UserError

        if args.json is not None:
            check_writable(args.json, what="--json")  # before the benchmark, not after it
        if args.bench_command == "bus" and args.bauds:
            from duck.contract import CONTRACT
            from firmware_bridge import family_of
            from firmware_bridge.control_table import BAUD_TO_CODE as DYNAMIXEL_BAUDS
            from firmware_bridge.feetech.control_table import BAUD_TO_CODE as FEETECH_BAUDS

            family = family_of(CONTRACT.joints[0].servo_model) if args.family == "contract" else args.family
            allowed = FEETECH_BAUDS if family == "feetech" else DYNAMIXEL_BAUDS
            bad = [b for b in args.bauds if b not in allowed]
            if bad:
                raise UserError(f"--bauds {bad}: not {family} bauds; use {sorted(allowed)}")
        return importlib.import_module(module).main(args)

    return handler
