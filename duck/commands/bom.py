"""``duck bom``: the bill of materials as a table, as JSON, or cross-checked."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bom",
        help="bill of materials: table, totals, JSON and cross-checks",
        description="Print the bill of materials (bom/bom.csv) with cost by category and total mass, "
        "or check it against the robot contract and the MJCF model.",
    )
    p.add_argument("--csv", metavar="PATH", help="BOM file to read (default: bom/bom.csv)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="print machine-readable JSON")
    mode.add_argument(
        "--check",
        action="store_true",
        help="check servo rows vs the contract, mass vs the MJCF, and that every row has a source and date",
    )
    mode.add_argument("--id-map", action="store_true", help="print the servo ID map (markdown) from the contract")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from duck import bom

    path = args.csv or bom.BOM_CSV
    if args.id_map:
        print(bom.id_map_markdown())
        return 0
    if args.check:
        problems, info = bom.run_checks(path)
        for line in info:
            print(line)
        if problems:
            for message in problems:
                print(f"{path}: {message}", file=sys.stderr)
            print(f"duck bom: {len(problems)} problem(s)", file=sys.stderr)
            return 1
        print(f"{path}: OK")
        return 0
    rows = bom.load_bom(path)
    if args.json:
        print(json.dumps(bom.summary(rows, path), indent=2))
        return 0
    _print_table(rows, bom)
    return 0


def _print_table(rows, bom) -> None:
    """A fixed-width table: one line per row, then cost by category and the totals."""
    print(f"{'row':>3}  {'part':<38} {'category':<10} {'qty':>5} {'unit $':>8} {'cost $':>9} {'mass g':>7}")
    for r in rows:
        part = r.part if len(r.part) <= 38 else r.part[:35] + "..."
        mass = f"{r.line_mass_g:7.1f}" if r.onboard else "    off"
        print(f"{r.row:>3}  {part:<38} {r.category:<10} {r.qty:>5g} {r.unit_price_usd:>8.2f} {r.cost_usd:>9.2f} {mass}")
    print()
    print("cost by category (USD):")
    for category, usd in sorted(bom.cost_by_category(rows).items(), key=lambda kv: -kv[1]):
        print(f"  {category:<12} {usd:>9.2f}")
    estimates = sum(r.is_estimate for r in rows)
    print(f"total: USD {bom.total_usd(rows):.2f} ({len(rows)} rows, {estimates} priced by estimate)")
    print(f"mass on the robot: {bom.onboard_mass_g(rows):.0f} g")
