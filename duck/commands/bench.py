"""``duck bench {bus,sim}``: benchmarks. Each benchmark's body lives in its own module
(``duck.bench_bus``, ``duck.sim.bench``) imported only when it runs."""

from __future__ import annotations

import argparse
import importlib


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks: servo bus cycle time, simulator throughput")
    bs = p.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)

    q = bs.add_parser("bus", help="control-cycle time vs. the wire-time lower bound (Dynamixel or Feetech)")
    q.add_argument("--json", metavar="FILE", help="write one row per baud: baud, cycle_ms, wire_bound_ms, ratio")
    q.add_argument("--cycles", type=int, default=300, help="measured cycles per baud")
    q.add_argument("--family", choices=("contract", "dynamixel", "feetech"), default="contract",
                   help="servo family: the contract's (default), or feetech: the v2 robot's 14 STS3215 at "
                        "upstream's IDs")
    q.add_argument("--bauds", type=int, nargs="+",
                   help="default: 1, 2, 3, 4 Mbps for Dynamixel; 1 Mbps (the STS maximum, upstream's) for Feetech")
    q.add_argument("--no-fast", action="store_true", help="plain Sync Read instead of Fast Sync Read (Dynamixel)")
    q.add_argument("--rt-priority", type=int, metavar="N",
                   help="SCHED_FIFO priority for the measuring client, as `duck run --rt-priority` gives the loop")
    q.set_defaults(func=_run("duck.bench_bus"))

    q = bs.add_parser("sim", help="simulator throughput")
    q.add_argument("--json", metavar="FILE", help="write the results as JSON")
    q.add_argument("--envs", type=int, default=256, help="batched envs (default 256; training uses 64)")
    q.add_argument("--seconds", type=float, default=5.0)
    q.set_defaults(func=_run("duck.sim.bench"))


def _run(module: str):
    def handler(args) -> int:
        return importlib.import_module(module).main(args)

    return handler
