"""Body of ``duck bench bus``: control-cycle time vs. wire-time bound, against the software servo."""

from __future__ import annotations

import json

from duck.atomic import write_text

#: The Open Duck Mini v2 bus (FACTS.md, "Open Duck Mini v2"): 14 STS3215 C001, right leg
#: 10-14, left leg 20-24, head 30-33. The v2 contract is the next issue; until then the
#: Feetech benchmark uses this layout.
V2_IDS = (10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 30, 31, 32, 33)
V2_MODEL = "STS3215-C001"


def main(args) -> int:
    from duck.contract import CONTRACT
    from firmware_bridge import ServoSpec, bench, family_of

    if args.family == "feetech":
        servos = [ServoSpec(i, V2_MODEL) for i in V2_IDS]
    else:
        servos = [ServoSpec(j.servo_id, j.servo_model) for j in CONTRACT.joints]
    family = family_of(servos[0].model)
    if args.family not in ("contract", family):
        from duck.errors import UserError

        raise UserError(f"--family {args.family}: the contract's servos are {family}")
    bauds = args.bauds or list(bench.DEFAULT_BAUDS[family])
    if args.rt_priority is not None:
        from duck.runtime.loop import set_realtime

        for note in set_realtime(args.rt_priority, None):
            print(f"warning: {note}")
    fast = family == "dynamixel" and not args.no_fast
    from firmware_bridge import BusError

    try:
        rows = bench.run(servos, bauds=bauds, cycles=args.cycles, fast=fast)
    except BusError as exc:
        from duck.errors import UserError

        raise UserError(f"bench bus: {exc}") from None
    read = {"dynamixel": "Fast Sync Read" if fast else "Sync Read", "feetech": "Sync Read"}[family]
    print(f"one control cycle = Sync Write + {read} of {len(servos)} {family} servos ({servos[0].model}), "
          f"{args.cycles} cycles per baud (software servo in its own process at SCHED_FIFO 10; client "
          f"{'at SCHED_FIFO ' + str(args.rt_priority) if args.rt_priority is not None else 'at normal priority'})")
    print(bench.format_table(rows))
    if args.json:
        keys = ("baud", "cycle_ms", "p95_ms", "wire_bound_ms", "ratio")
        write_text(args.json, json.dumps([{"family": family, **{k: r.as_dict()[k] for k in keys}}
                                          for r in rows], indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
