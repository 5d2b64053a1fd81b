"""Body of ``duck bench bus``: control-cycle time vs. wire-time bound, against the software servo."""

from __future__ import annotations

import json

from duck.atomic import write_text


def main(args) -> int:
    from duck.contract import CONTRACT
    from firmware_bridge import ServoSpec, bench

    servos = [ServoSpec(j.servo_id, j.servo_model) for j in CONTRACT.joints]
    rows = bench.run(servos, bauds=args.bauds, cycles=args.cycles, fast=not args.no_fast)
    print(f"one control cycle = Sync Write + {'Fast ' if not args.no_fast else ''}Sync Read of "
          f"{len(servos)} servos, {args.cycles} cycles per baud (software servo, own process)")
    print(bench.format_table(rows))
    if args.json:
        keys = ("baud", "cycle_ms", "wire_bound_ms", "ratio")
        write_text(args.json, json.dumps([{k: r.as_dict()[k] for k in keys} for r in rows], indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
