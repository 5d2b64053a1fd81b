"""``python -m firmware_bridge.emulator --servo 10=XC330-M288-T ... [--baud B] [--fault F]``

(or ``--servo 10=STS3215-C001 ...``: the family follows from the models).

Serves the given servos on a new pty with the ideal backend, prints the pty
path as the first line of stdout, and runs until SIGINT/SIGTERM. The
benchmark runs the software servo this way, in its own process, so its
timing is not disturbed by the client's interpreter lock.
"""

from __future__ import annotations

import argparse
import os
import sys

from firmware_bridge.emulator import Fault, IdealBackend
from firmware_bridge.families import make_software_servo
from firmware_bridge.spec import ServoSpec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.emulator")
    parser.add_argument("--servo", action="append", required=True, metavar="ID=MODEL")
    parser.add_argument("--baud", type=int, default=1_000_000)
    parser.add_argument("--return-delay", type=int, default=0, help="Return Delay Time register (2 us units)")
    parser.add_argument("--fault", action="append", default=[])
    parser.add_argument("--rt-priority", type=int, metavar="N",
                        help="SCHED_FIFO priority (best effort): the software servo stands in for hardware, "
                             "which answers on time however busy the host is")
    args = parser.parse_args(argv)
    if args.rt_priority is not None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.rt_priority))
        except (OSError, AttributeError, ValueError) as exc:
            print(f"warning: SCHED_FIFO {args.rt_priority} not applied: {exc}", file=sys.stderr)
    try:
        servos = [ServoSpec(int(s.split("=")[0]), s.split("=")[1]) for s in args.servo]
        faults = [Fault.parse(f) for f in args.fault]
    except (ValueError, IndexError) as exc:
        parser.error(str(exc))
    try:
        server = make_software_servo(servos, IdealBackend(), baud=args.baud, return_delay=args.return_delay)
    except (ValueError, KeyError) as exc:
        parser.error(f"{exc}")
    server.serve_until_signal(faults)
    return 0


if __name__ == "__main__":
    sys.exit(main())
