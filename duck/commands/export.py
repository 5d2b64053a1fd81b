"""``duck export``: turn a training run into one ONNX policy file."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a trained run to ONNX",
        description="Export a run's best checkpoint by the walk bar (scored while training, RUN_DIR/best/), "
                    "else its latest, or a given one, to one ONNX file holding observation "
                    "normalisation, the policy mean and the action clip/scale, with the contract in its "
                    "metadata. Then checks ONNX against the torch path (max abs error <= 1e-5).")
    p.add_argument("run_dir", type=Path, help="training run directory (from duck train)")
    p.add_argument("--out", type=Path, default=None, help="output .onnx path (default: RUN_DIR/policy.onnx)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="a specific checkpoint .zip (default: the best scored, else the latest)")
    p.add_argument("--latest", action="store_true", help="the latest checkpoint even when a best was scored")
    p.add_argument("--skip-parity", action="store_true", help="do not run the ONNX/torch parity check")
    p.add_argument("--mirror-average", choices=("auto", "on", "off"), default="auto",
                   help="average the policy with its mirror image, which makes it exactly left/right "
                        "symmetric (auto: on for runs trained with the symmetry pass)")
    p.set_defaults(func=_main_with_parity_exit)


PARITY_TOLERANCE = 1e-5


def run(args: argparse.Namespace) -> int:
    """Export to a temp file next to --out, check it, and only then rename it over --out:
    a Ctrl-C, a crash or a failed parity check leaves the previous file byte-identical."""
    from duck.atomic import atomic_output, check_writable
    from duck.errors import UserError

    if not args.run_dir.is_dir():
        raise UserError(f"run directory not found: {args.run_dir}")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise UserError(f"checkpoint not found: {args.checkpoint}")
    out = args.out or args.run_dir / "policy.onnx"
    check_writable(out, what="--out")
    from duck.runtime import policy as policy_file
    from duck.train.export import export, load_run, parity_check
    from duck.train.scoring import best_checkpoint

    checkpoint, why = args.checkpoint, ""
    best = None if checkpoint is not None or args.latest else best_checkpoint(args.run_dir)
    if best is not None:
        checkpoint = best[0]
        why = f"; best by the walk bar: {best[1]['passed']}/{best[1]['of']} items on the selection suite"
    loaded = load_run(args.run_dir, checkpoint)
    mirror_average = {"auto": None, "on": True, "off": False}[args.mirror_average]
    with atomic_output(out) as tmp:
        export(loaded, tmp, mirror_average=mirror_average)
        averaged = policy_file.load_policy(tmp).mirror_averaged
        if not args.skip_parity:
            result = parity_check(loaded, tmp)
            ok = result["max_abs_error"] <= PARITY_TOLERANCE
            print(f"parity: max |onnx - torch| = {result['max_abs_error']:.2e} over {result['observations']} "
                  f"observations ({'ok' if ok else 'FAILED'}, bound {PARITY_TOLERANCE:g})")
            if not ok:
                raise ParityFailed(f"parity check failed; {out} was left as it was")
    print(f"wrote {out} ({loaded.steps} steps, from {loaded.checkpoint.name}"
          f"{', mirror-averaged' if averaged else ''}{why})")
    return 0


class ParityFailed(Exception):
    """Raised inside the atomic write so the unverified file is discarded."""


def _main_with_parity_exit(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except ParityFailed as exc:
        import sys

        print(f"duck export: {exc}", file=sys.stderr)
        return 1
