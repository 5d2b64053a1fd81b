"""``duck servo scan|setup|calibrate|monitor|reboot|emulate``: provision and inspect the servo bus.

Two families: Dynamixel (XC330-M288-T, XL330-M288-T) and Feetech STS (STS3215
C001/C044/C046 at 7.4 V, C018 at 12 V; STS3250). The family follows from the
servo models the contract names (``firmware_bridge.families``), or ``--family``
/ ``--model`` where no contract joint is involved; each family's setup code is
its ``provision`` module, so nothing here branches on the vendor.

Module level: standard library only (``duck --help`` stays light). Bus errors
become one-line :class:`~duck.errors.UserError` messages.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from duck.errors import UserError
from duck.validation import arg_float, arg_int

BAUD = arg_int(9600, 4_500_000)
GAIN = arg_int(0, 16383)  # Position P/I/D gain registers (XC330/XL330 e-manual)

DEFAULT_BAUD = 1_000_000
FAMILY_CHOICES = ("dynamixel", "feetech")
SETUP_SLACK_MS = 5.0
SETUP_RETRIES = 5


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("servo", help="scan, set up, calibrate, monitor, reboot or emulate the servos "
                                     "(Dynamixel X330, Feetech STS3215)",
                       description="Servo families and variants: Dynamixel XC330-M288-T, XL330-M288-T; Feetech "
                                   "STS3215-C001 (7.4 V, 1:345, the Open Duck Mini v2's), STS3215-C044 (7.4 V, "
                                   "1:191), STS3215-C046 (7.4 V, 1:147), STS3215-C018 (12 V, 1:345), STS3250. "
                                   "A Feetech servo reports its model number and firmware, not its gear ratio: "
                                   "scan names the voltage class and the variants it can be.")
    ss = p.add_subparsers(dest="servo_command", metavar="SUBCOMMAND", required=True)

    q = ss.add_parser("scan", help="find servo IDs, models, firmware and variants at every standard baud")
    q.add_argument("--port", required=True)
    q.add_argument("--baud", type=BAUD, action="append", help="only this baud (repeatable); default: all")
    q.add_argument("--family", choices=FAMILY_CHOICES, help="protocol to scan with; default: the contract's")
    q.set_defaults(func=_scan)

    q = ss.add_parser("setup", help="set ID, baud, return delay, mode, gains and limits of one or all servos")
    q.add_argument("--port", required=True)
    which = q.add_mutually_exclusive_group(required=True)
    which.add_argument("--joint", help="provision the one servo on the bus for this contract joint")
    which.add_argument("--all", action="store_true", help="re-apply settings to all contract servos (at their ids)")
    which.add_argument("--id", type=arg_int(0, 252),
                       help="provision the one servo on the bus to this id (needs --model)")
    q.add_argument("--model", help="servo model for --id, e.g. STS3215-C001 (limits: the full range)")
    q.add_argument("--current-id", type=arg_int(0, 252), default=1,
                   help="id the servo has now (--joint/--id; factory: 1)")
    q.add_argument("--current-baud", type=BAUD,
                   help="baud the servo(s) use now (default: the family's factory baud, 57600 / 1000000)")
    q.add_argument("--baud", type=BAUD, default=DEFAULT_BAUD, help="target baud")
    q.add_argument("--calibration", help="calibration JSON, to put the position limits in calibrated ticks")
    q.add_argument("--p-gain", type=GAIN, help="Position P Gain (default: the servo profile's, what `duck run` writes)")
    q.add_argument("--i-gain", type=GAIN, help="Position I Gain (default: the servo profile's)")
    q.add_argument("--d-gain", type=GAIN, help="Position D Gain (default: the servo profile's)")
    q.add_argument("--torque-off", action="store_true",
                   help="turn torque off first (the joint goes limp: support it); without it, setup refuses "
                        "a servo whose torque is on")
    q.set_defaults(func=_setup)

    q = ss.add_parser("calibrate", help="torque off, put the robot in the zero pose, record per-joint offsets "
                                        "(never moves a joint)")
    q.add_argument("--port", required=True)
    q.add_argument("--baud", type=BAUD, default=DEFAULT_BAUD)
    q.add_argument("--out", default="calibration.json", help="where to write the calibration JSON")
    q.add_argument("--directions-from", help="existing calibration whose directions to keep")
    q.add_argument("--store", choices=("json", "eeprom"),
                   help="where the zero goes: the JSON only, or each servo's Offset register in EEPROM "
                        "(unlock, write, read back, lock; Feetech). Default: eeprom for Feetech (the zero "
                        "travels with the servo and its angle limits), json for Dynamixel")
    q.add_argument("--yes", action="store_true", help="do not wait for Enter (scripts, tests)")
    q.set_defaults(func=_calibrate)

    q = ss.add_parser("reboot", help="reboot one servo (clears a latched Dynamixel hardware error)")
    q.add_argument("--port", required=True)
    q.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    q.add_argument("--id", type=int, required=True)
    q.set_defaults(func=_reboot)

    q = ss.add_parser("monitor", help="live table of position, velocity, current, voltage, temperature, errors")
    q.add_argument("--port", required=True)
    q.add_argument("--baud", type=BAUD, default=DEFAULT_BAUD)
    q.add_argument("--calibration", help="calibration JSON (positions in joint radians)")
    q.add_argument("--hz", type=arg_float(0.0, 100.0, low_open=True), default=5.0, help="refresh rate (default 5)")
    q.add_argument("--once", action="store_true", help="print one table and exit")
    q.set_defaults(func=_monitor)

    q = ss.add_parser("emulate", help="serve the contract's servos on a pty (software servo)")
    q.add_argument("--baud", type=BAUD, default=DEFAULT_BAUD)
    q.add_argument("--backend", choices=("ideal", "mujoco"), default="ideal")
    q.add_argument("--return-delay", type=arg_int(0, 254), default=0, help="Return Delay Time register (2 us units)")
    q.add_argument("--fault", action="append", default=[], metavar="KIND:ID[:ARG]",
                   help="inject a fault: drop:ID[:P], crc:ID[:P], missing:ID, stuck:ID, hwerror:ID[:bit+bit], "
                        "sag:all:VOLTS (supply), heat:ID:DEGC, late:ID:MS (one late reply)")
    q.add_argument("--supply-v", type=arg_float(0.0, 30.0, low_open=True), metavar="VOLTS",
                   help="mujoco backend: the emulated supply voltage (default: the servo profile's nominal)")
    q.add_argument("--servo-profile", action="append", default=[], metavar="JSON",
                   help="mujoco backend: servo parameters (a servo profile JSON; repeatable, one per servo model)")
    q.set_defaults(func=_emulate)


# ---- helpers ---------------------------------------------------------------------------
def _specs():
    from duck.contract import CONTRACT
    from firmware_bridge import ServoSpec

    return [ServoSpec(j.servo_id, j.servo_model) for j in CONTRACT.joints]


def _calibration(path: str | None):
    from duck.calibration import Calibration, load_calibration

    return load_calibration(path) if path else Calibration.default()


@contextlib.contextmanager
def _bus_errors():
    """Bus failures are the user's hardware/setup problem here: one line, exit 2."""
    from duck.runtime.robot_io import PORT_FAILURES
    from firmware_bridge import BusError

    try:
        yield
    except BusError as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except PORT_FAILURES as exc:  # a port that died under the SDK (unplugged adapter)
        raise UserError(f"serial port failed: {type(exc).__name__}: {exc}") from None


def _contract_family():
    from firmware_bridge.families import family_of_servos

    return family_of_servos(_specs())


def _provision(family):
    from firmware_bridge.families import load

    return load(family.provision)


def _open_bus(args, calibration=None):
    from firmware_bridge import make_bus

    # Setup-time tools wait longer for a reply, and retry more, than the control loop does (5 ms
    # slack, not 0.5; 5 retries, not 2): a missed reply here is a wrong answer to the user, a
    # late one costs nothing.
    bus = make_bus(args.port, args.baud, _specs(), calibration=calibration, slack_ms=SETUP_SLACK_MS,
                   retries=SETUP_RETRIES)
    bus.open()
    if bus.latency_warning:
        print(f"warning: {bus.latency_warning}", file=sys.stderr)
    return bus


# ---- subcommands ------------------------------------------------------------------------
def _scan(args) -> int:
    from duck.contract import CONTRACT
    from firmware_bridge.families import family

    fam = family(args.family) if args.family else _contract_family()
    bauds = args.baud or list(fam.bauds)
    with _bus_errors():
        found = _provision(fam).scan(args.port, bauds)
    if not found:
        raise UserError(f"no servos answered on {args.port} at {', '.join(map(str, bauds))} baud "
                        f"({fam.name} protocol; --family picks the other)")
    by_id = {j.servo_id: j for j in CONTRACT.joints}
    print(f"{'baud':>8} {'id':>4} {'model':<14} {'fw':>5}  {'variant':<40} joint")
    for f in found:
        joint = by_id.get(f.servo_id)
        note = joint.name if joint else "-"
        if joint and not f.matches(joint.servo_model):
            note += f" (contract says {joint.servo_model})"
        print(f"{f.baud:>8} {f.servo_id:>4} {f.model:<14} {f.firmware:>5}  {f.variant:<40} {note}")
    return 0


def _setup(args) -> int:
    from duck.contract import CONTRACT
    from duck.servo_profile import SERVO_PROFILE
    from firmware_bridge import ServoSpec
    from firmware_bridge.families import family, family_of

    if args.id is not None:
        if not args.model:
            raise UserError("setup --id needs --model (e.g. --model STS3215-C001)")
        with _bus_errors():
            targets = [(f"id {args.id}", ServoSpec(args.id, args.model), None)]
    else:
        if args.model:
            raise UserError("--model goes with --id; contract joints have their model")
        cal = _calibration(args.calibration).servo_calibrations()
        if args.joint:
            joints = [j for j in CONTRACT.joints if j.name == args.joint]
            if not joints:
                raise UserError(f"unknown joint {args.joint!r}; joints are {list(CONTRACT.joint_names)}")
        else:
            joints = list(CONTRACT.joints)
        targets = [(j.name, ServoSpec(j.servo_id, j.servo_model), j) for j in joints]
    for name, spec, j in targets:
        fam = family(family_of(spec.model))
        prov = _provision(fam)
        if j is not None:
            # The contract's range, through this joint's calibration (zero and direction), becomes
            # the servo's Min/Max Position Limit: the servo itself then refuses a goal outside it.
            # In position mode the servo turns within 0..4095 ticks, so a calibrated range that
            # crosses the wrap cannot be enforced: refuse rather than clamp it.
            ends = [int(cal[j.servo_id].rad_to_ticks(x)) for x in (j.lower_rad, j.upper_rad)]
            if min(ends) < 0 or max(ends) > 4095:
                raise UserError(f"{j.name}: its range {j.lower_rad:+.3f}..{j.upper_rad:+.3f} rad is ticks "
                                f"{min(ends)}..{max(ends)} with this calibration, outside the servo's 0..4095; "
                                "re-seat the horn nearer the servo's centre and calibrate again")
            lo, hi = prov.limits_to_ticks(j.lower_rad, j.upper_rad, cal[j.servo_id])
        else:
            lo, hi = 0, 4095
        # The gains the policy is trained for (the servo profile), unless given.
        gains = SERVO_PROFILE.gains.get(spec.model)
        p_gain, i_gain, d_gain = (
            (g if g is not None else (getattr(gains, name) if gains is not None else None))
            for g, name in ((args.p_gain, "p"), (args.i_gain, "i"), (args.d_gain, "d")))
        plan = prov.SetupPlan(spec, args.baud, lo, hi, p_gain, i_gain, d_gain)
        current_id = args.current_id if (args.joint or args.id is not None) else spec.servo_id
        current_baud = args.current_baud or fam.factory_baud
        with _bus_errors():
            prov.setup_servo(args.port, current_id, current_baud, plan, torque_off=args.torque_off)
        print(f"{name}: id {current_id} -> {spec.servo_id} ({spec.model}), {current_baud} -> {args.baud} baud, "
              f"limits {lo}..{hi} ticks: verified by read-back")
    return 0


def _calibrate(args) -> int:
    import numpy as np

    from duck.atomic import check_writable
    from duck.calibration import Calibration, JointCalibration, save_calibration
    from duck.contract import CONTRACT, sign_table

    check_writable(args.out, what="--out")  # before the user poses the robot, not after
    fam = _contract_family()
    prov = _provision(fam)
    store = args.store or fam.calibration_store
    if store == "eeprom" and not hasattr(prov, "calibrate_offset"):
        raise UserError(f"--store eeprom: {fam.name} calibration is kept in the JSON only (use --store json)")
    directions = {n: c.direction for n, c in _calibration(args.directions_from).joints.items()}
    print("Calibration moves nothing, but it turns torque off: every joint goes limp. Support the robot.",
          file=sys.stderr)
    _confirm(args, "Press Enter when the robot is supported (Ctrl-C to abort)...")
    with _bus_errors():
        bus = _open_bus(args)
        try:
            bus.ping_all()
            bus.set_torque(False)
            print("Torque is off. Put the robot in the zero pose: legs straight down, feet flat and "
                  "parallel, head level and facing forward (all contract joints at 0 rad).", file=sys.stderr)
            print("Positive angles turn these ways (a servo that turns the other way gets direction -1 "
                  "in the calibration file):\n" + sign_table(), file=sys.stderr)
            _confirm(args, "Press Enter when it is there (Ctrl-C to abort)...")
            state = bus.read_state()
            ticks = {j.name: int(round(2048 + p / (2 * np.pi / 4096)))
                     for j, p in zip(CONTRACT.joints, state.position_rad)}
            if store == "eeprom":
                for j in CONTRACT.joints:
                    offset, _ = prov.calibrate_offset(bus, j.servo_id)
                    print(f"{j.name:<16} offset {offset:+5d} ticks written to EEPROM (reads 2048 now)")
        finally:
            bus.close()
    zero = {n: 2048 if store == "eeprom" else t % 4096 for n, t in ticks.items()}
    cal = Calibration({n: JointCalibration(zero[n], directions[n]) for n in ticks})
    save_calibration(cal, args.out)
    if store == "json":
        for name, t in ticks.items():
            print(f"{name:<16} zero {t % 4096:>5} ticks ({(t - 2048) * 360 / 4096:+7.2f} deg from centre)")
    print(f"wrote {args.out}" + (" (zeros live in the servos' EEPROM; the file keeps directions)"
                                  if store == "eeprom" else ""))
    return 0


def _confirm(args, prompt: str) -> None:
    if args.yes:
        return
    print(prompt, file=sys.stderr, flush=True)
    if not sys.stdin.readline():
        raise UserError("calibration aborted: no Enter on stdin")


def _reboot(args) -> int:
    from firmware_bridge import ServoSpec, make_bus

    spec = next((s for s in _specs() if s.servo_id == args.id), None)
    if spec is None:
        raise UserError(f"servo id {args.id} is not in the contract ({[s.servo_id for s in _specs()]})")
    with _bus_errors():
        with make_bus(args.port, args.baud, [ServoSpec(spec.servo_id, spec.model)]) as bus:
            bus.reboot(args.id)
    print(f"servo {args.id} rebooted")
    return 0


def _monitor(args) -> int:
    import time

    from duck.contract import CONTRACT

    monitor_rows = _provision(_contract_family()).monitor_rows
    names = {j.servo_id: j.name for j in CONTRACT.joints}
    cal = _calibration(args.calibration).servo_calibrations()
    with _bus_errors():
        bus = _open_bus(args, cal)
        try:
            bus.ping_all()
            while True:
                rows = monitor_rows(bus)
                if not args.once:
                    print("\x1b[H\x1b[2J", end="")
                print(f"{'joint':<16} {'id':>3} {'pos_rad':>8} {'vel_rad_s':>9} {'cur_A':>6} {'V':>5} "
                      f"{'degC':>4} {'torque':>6}  errors")
                for r in rows:
                    print(f"{names[r.servo_id]:<16} {r.servo_id:>3} {r.position_rad:>8.3f} {r.velocity_rad_s:>9.3f} "
                          f"{r.current_a:>6.3f} {r.voltage_v:>5.1f} {r.temperature_c:>4} "
                          f"{'on' if r.torque else 'off':>6}  {','.join(r.errors) or '-'}", flush=True)
                if args.once:
                    return 0
                time.sleep(1.0 / args.hz)
        finally:
            bus.close()


def _emulate(args) -> int:
    from firmware_bridge.emulator import Fault, IdealBackend
    from firmware_bridge.families import make_software_servo

    fam = _contract_family()
    if args.baud not in fam.bauds:
        raise UserError(f"--baud {args.baud} is not a {fam.name} baud; use one of {sorted(fam.bauds)}")
    try:
        faults = [Fault.parse(f) for f in args.fault]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.backend != "mujoco" and (args.supply_v is not None or args.servo_profile):
        raise UserError("--supply-v and --servo-profile configure the servo model: they need --backend mujoco")
    if args.supply_v is not None and not 0.0 < args.supply_v <= 30.0:
        raise UserError(f"--supply-v must be in (0, 30] V, got {args.supply_v}")
    if args.backend == "mujoco":
        from duck.sim.servo_backend import MujocoServoBackend, load_servo_overrides

        backend = MujocoServoBackend(supply_v=args.supply_v, overrides=load_servo_overrides(args.servo_profile))
    else:
        backend = IdealBackend()
    emu = make_software_servo(_specs(), backend, baud=args.baud, return_delay=args.return_delay)
    emu.serve_until_signal(faults, on_start=lambda _: print(
        f"serving {len(emu.servos)} {fam.name} servos at {args.baud} baud ({args.backend} backend); Ctrl-C to stop",
        file=sys.stderr, flush=True))
    return 0
