"""``duck sysid record|fit|compare|emulate``: identify a servo, and check sim against a run.

``record`` runs on the robot (numpy + firmware_bridge only); ``fit`` and
``compare`` need the ``sim`` extra (MuJoCo, scipy, matplotlib). See docs/sysid.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from duck.errors import UserError

DEFAULT_BAUD = 1_000_000
DEFAULT_MODEL = "XC330-M288-T"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sysid", help="identify a servo's model from recordings; compare a run against sim")
    ss = p.add_subparsers(dest="sysid_command", metavar="ACTION", required=True)

    q = ss.add_parser("record", help="run chirp/step/hold goals on one servo carrying a known load; log it")
    q.add_argument("--port", required=True, help="serial port (or a software servo's pty)")
    q.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    q.add_argument("--id", type=int, default=1, help="servo id (default 1)")
    q.add_argument("--servo-model", default=DEFAULT_MODEL)
    _load_args(q)
    q.add_argument("--rate", type=float, default=200.0, help="samples per second (>= 100; default 200)")
    q.add_argument("--scale", type=float, default=1.0, help="length of holds and sweeps (0.1..5; default 1: ~33 s)")
    q.add_argument("--amplitude", type=float, default=60.0, help="largest angle from hanging, deg (default 60)")
    q.add_argument("--zero-ticks", type=int, help="servo position with the arm hanging (default: read at rest)")
    q.add_argument("--latency-ms", type=float,
                   help="USB latency the bus allows for (default: the adapter's; a software servo's pty: 6)")
    q.add_argument("--out", type=Path, required=True, help="log file to write (.npz)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_record)

    q = ss.add_parser("fit", help="fit the servo model to recorded logs by replay in MuJoCo; write a profile")
    q.add_argument("logs", nargs="+", type=Path, help="logs from `duck sysid record`")
    q.add_argument("--servo-model", required=True, help="e.g. XC330-M288-T (its datasheet set is the start)")
    q.add_argument("--start", type=Path, help="start from this servo profile instead of the datasheet set")
    q.add_argument("--free", default=None,
                   help="comma-separated parameters to fit (default duty_per_p_rad,friction_coulomb_nm,"
                        "backlash_rad,supply_v)")
    q.add_argument("--generations", type=int, default=30, help="differential-evolution generations (default 30)")
    q.add_argument("--popsize", type=int, default=8, help="population per free parameter (default 8)")
    q.add_argument("--polish", type=int, default=12, help="least-squares polish evaluations (default 12)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", type=Path, required=True, help="servo profile JSON to write")
    q.add_argument("--plot", type=Path, help="figure to write (default: next to --out, .png)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_fit)

    q = ss.add_parser("compare", help="replay a `duck run --log` log's targets in sim; per-joint tracking RMSE")
    q.add_argument("run_log", type=Path, help="run.npz from `duck run --log` (or its .parts after a crash)")
    q.add_argument("--profile", type=Path, action="append", default=[],
                   help="servo profile JSON for the sim (repeatable, one per servo model)")
    q.add_argument("--supply-v", type=float, help="the sim's supply voltage (default: the servo model's nominal)")
    q.add_argument("--plot", type=Path, help="figure to write (default: next to the log, _compare.png)")
    q.add_argument("--json", type=Path, help="also write the per-joint RMSE here")
    q.set_defaults(func=_compare)

    q = ss.add_parser("emulate", help="serve one servo carrying the test load on a pty (software servo)")
    q.add_argument("--id", type=int, default=1)
    q.add_argument("--servo-model", default=DEFAULT_MODEL)
    _load_args(q)
    q.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    q.add_argument("--profile", type=Path, help="servo profile JSON the emulated servo runs (default: datasheet)")
    q.add_argument("--supply-v", type=float, help="emulated supply voltage (default: the model's nominal)")
    q.set_defaults(func=_emulate)


def _load_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--mass", type=float, required=True, help="tip mass of the test arm, kg")
    q.add_argument("--length", type=float, required=True, help="servo axis to tip mass, m")
    q.add_argument("--arm-mass", type=float, default=0.0, help="mass of the arm itself (uniform bar), kg")


def _load(args):
    from duck.sysid.load import TestArm

    try:
        return TestArm(args.mass, args.length, args.arm_mass)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _servo_spec(args):
    from firmware_bridge import ServoSpec

    try:
        return ServoSpec(args.id, args.servo_model)
    except ValueError as exc:
        raise UserError(str(exc)) from None


@contextlib.contextmanager
def _user_errors():
    from firmware_bridge import BusError
    from firmware_bridge.servo_model import ProfileError

    try:
        yield
    except (BusError, ProfileError) as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:
        raise UserError(str(exc)) from None


# ---- record ----------------------------------------------------------------------------
def _record(args) -> int:
    from duck.sysid.excitation import default_program
    from duck.sysid.progress import Progress
    from duck.sysid.recording import record
    from firmware_bridge import DynamixelBus
    from firmware_bridge.control_table import BAUD_TO_CODE

    if args.baud not in BAUD_TO_CODE:
        raise UserError(f"--baud {args.baud} is not a Dynamixel baud; use one of {sorted(BAUD_TO_CODE)}")
    if not 100 <= args.rate <= 1000:
        raise UserError(f"--rate must be 100..1000 Hz, got {args.rate}")
    if args.out.suffix != ".npz":
        raise UserError(f"--out must be a .npz file, got {args.out}")
    load, spec = _load(args), _servo_spec(args)
    with _user_errors():
        program = default_program(args.rate, scale=args.scale, amplitude_deg=args.amplitude)
    print(f"recording servo {spec.servo_id} ({spec.model}) with a {load.mass_kg} kg tip mass at {load.length_m} m "
          f"for {program.duration_s:.0f} s at {args.rate:.0f} Hz; the arm must hang at rest now", file=sys.stderr)
    bar = Progress(program.duration_s, "sysid record", "s", enabled=not args.quiet)
    with _user_errors():
        bus = DynamixelBus(args.port, args.baud, [spec], latency_ms=args.latency_ms)
        bus.open()
        try:
            log = record(bus, spec.servo_id, program, load, zero_ticks=args.zero_ticks,
                         progress=lambda k, n: bar.update_to(k / n * program.duration_s),
                         extra_meta={"port": args.port, "baud": args.baud, "argv": getattr(args, "argv", [])})
        finally:
            bar.close()
            bus.close()
    log.save(args.out)
    print(f"wrote {args.out}: {len(log)} samples at {log.rate_hz:.0f} Hz, {log.meta['failed_reads']} failed reads, "
          f"supply {log.meta['voltage_at_start_v']:.1f} V")
    return 0


# ---- fit ---------------------------------------------------------------------------------
def _fit(args) -> int:
    from duck.sysid.recording import load_sysid_log

    if args.out.suffix != ".json":
        raise UserError(f"--out must be a .json servo profile, got {args.out}")
    if args.generations < 0 or args.popsize < 2 or args.polish < 0:
        raise UserError("--generations must be >= 0, --popsize >= 2, --polish >= 0")
    logs = []
    for path in args.logs:
        try:
            log = load_sysid_log(path)
        except FileNotFoundError as exc:
            raise UserError(str(exc)) from None
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if log.servo_model != args.servo_model:
            raise UserError(f"{path} was recorded on a {log.servo_model}, not a {args.servo_model}")
        logs.append(log)
    from duck.sysid.fit import DEFAULT_FREE, FREE

    free = tuple(s.strip() for s in args.free.split(",")) if args.free else DEFAULT_FREE
    unknown = [n for n in free if n not in FREE]
    if unknown:
        raise UserError(f"cannot fit {unknown}; choose from {sorted(FREE)}")
    from duck.sysid.identify import identify

    with _user_errors():
        summary = identify(logs, args.servo_model, out=args.out, plot=args.plot, start_profile=args.start,
                           free=free, popsize=args.popsize, generations=args.generations, polish=args.polish,
                           seed=args.seed, log_paths=[str(p) for p in args.logs], show_progress=not args.quiet)
    fit = summary["fit"]
    print(f"{'parameter':<22} {'datasheet':>12} {'fitted':>12} {'ratio':>7}")
    for name, row in fit["parameters"].items():
        print(f"{name:<22} {row['default']:>12.5g} {row['fitted']:>12.5g} {row['ratio']:>7.3f}")
    print(f"trajectory RMSE: {fit['rmse_before_deg']:.3f} deg (datasheet) -> {fit['rmse_after_deg']:.3f} deg (fitted), "
          f"{fit['rmse_ratio']:.1f}x lower; {fit['evaluations']} simulations in {fit['seconds']:.0f} s")
    print(f"wrote {args.out} and {summary['plots'][0] if summary['plots'] else 'no plot'}")
    return 0


# ---- compare -----------------------------------------------------------------------------
def _compare(args) -> int:
    from duck.sysid.compare import compare_run

    with _user_errors():
        result = compare_run(args.run_log, profiles=args.profile, supply_v=args.supply_v, plot=args.plot)
    print(f"{'joint':<20} {'RMSE (deg)':>10}")
    for name, rmse in result["rmse_deg"].items():
        print(f"{name:<20} {rmse:>10.3f}")
    print(f"{'all joints':<20} {result['rmse_all_deg']:>10.3f}")
    print(f"replayed {result['cycles']} cycles ({result['seconds']:.1f} s); wrote {result['plot']}")
    if args.json is not None:
        from duck.sysid.recording import atomic_write_bytes

        atomic_write_bytes(args.json, (json.dumps(result, indent=2) + "\n").encode())
    return 0


# ---- emulate -----------------------------------------------------------------------------
def _emulate(args) -> int:
    from duck.sysid.rig_backend import RigServoBackend
    from firmware_bridge.control_table import BAUD_TO_CODE
    from firmware_bridge.emulator import SoftwareServo

    if args.baud not in BAUD_TO_CODE:
        raise UserError(f"--baud {args.baud} is not a Dynamixel baud; use one of {sorted(BAUD_TO_CODE)}")
    load, spec = _load(args), _servo_spec(args)
    params = _profile_params(args.profile, args.servo_model)
    if args.supply_v is not None and not 0.0 < args.supply_v <= 20.0:
        raise UserError(f"--supply-v must be in (0, 20] V, got {args.supply_v}")
    # Hand the interpreter lock between the physics and the bus thread often, as a real
    # servo's firmware answers within a millisecond of a request.
    sys.setswitchinterval(0.0005)
    backend = RigServoBackend(params, load, supply_v=args.supply_v)
    emu = SoftwareServo([spec], backend, baud=args.baud)
    emu.serve_until_signal(on_start=lambda _: print(
        f"serving servo {spec.servo_id} ({spec.model}, supply {backend.supply_v:.2f} V) with a {load.mass_kg} kg "
        f"test arm at {args.baud} baud; Ctrl-C to stop", file=sys.stderr, flush=True))
    return 0


def _profile_params(path: Path | None, model: str):
    from firmware_bridge.servo_model import ProfileError, load_profile, servo_params

    try:
        if path is None:
            return servo_params(model)
        params, _ = load_profile(path)
    except (ProfileError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if params.model != model:
        raise UserError(f"{path} is a {params.model} profile, not {model}")
    return params


