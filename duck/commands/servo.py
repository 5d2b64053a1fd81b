"""``duck servo scan|setup|calibrate|monitor|emulate``: provision and inspect the servo bus.

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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("servo", help="scan, set up, calibrate, monitor or emulate the Dynamixel servos")
    ss = p.add_subparsers(dest="servo_command", metavar="SUBCOMMAND", required=True)

    q = ss.add_parser("scan", help="find servo IDs, models and firmware at every standard baud")
    q.add_argument("--port", required=True)
    q.add_argument("--baud", type=BAUD, action="append", help="only this baud (repeatable); default: all")
    q.set_defaults(func=_scan)

    q = ss.add_parser("setup", help="set ID, baud, return delay, mode, gains and limits of one or all servos")
    q.add_argument("--port", required=True)
    which = q.add_mutually_exclusive_group(required=True)
    which.add_argument("--joint", help="provision the one servo on the bus for this contract joint")
    which.add_argument("--all", action="store_true", help="re-apply settings to all contract servos (at their ids)")
    q.add_argument("--current-id", type=arg_int(0, 252), default=1, help="id the servo has now (--joint; factory: 1)")
    q.add_argument("--current-baud", type=BAUD, default=57_600, help="baud the servo(s) use now (factory: 57600)")
    q.add_argument("--baud", type=BAUD, default=DEFAULT_BAUD, help="target baud")
    q.add_argument("--calibration", help="calibration JSON, to put the position limits in calibrated ticks")
    q.add_argument("--p-gain", type=GAIN, help="Position P Gain (default: the servo profile's, what `duck run` writes)")
    q.add_argument("--i-gain", type=GAIN, help="Position I Gain (default: the servo profile's)")
    q.add_argument("--d-gain", type=GAIN, help="Position D Gain (default: the servo profile's)")
    q.set_defaults(func=_setup)

    q = ss.add_parser("calibrate", help="torque off, put the robot in the zero pose, record per-joint offsets")
    q.add_argument("--port", required=True)
    q.add_argument("--baud", type=BAUD, default=DEFAULT_BAUD)
    q.add_argument("--out", default="calibration.json", help="where to write the calibration JSON")
    q.add_argument("--directions-from", help="existing calibration whose directions to keep")
    q.add_argument("--yes", action="store_true", help="do not wait for Enter (scripts, tests)")
    q.set_defaults(func=_calibrate)

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
    q.add_argument("--supply-v", type=arg_float(0.0, 30.0, low_open=True), metavar="VOLTS",
                   help="mujoco backend: the emulated supply voltage (default: the servo profile's nominal)")
    q.add_argument("--servo-profile", action="append", default=[], metavar="JSON",
                   help="mujoco backend: servo parameters (a servo profile JSON; repeatable, one per servo model)")
    q.add_argument("--return-delay", type=arg_int(0, 254), default=0, help="Return Delay Time register (2 us units)")
    q.add_argument("--fault", action="append", default=[], metavar="KIND:ID[:ARG]",
                   help="inject a fault: drop:ID[:P], crc:ID[:P], missing:ID, stuck:ID, hwerror:ID[:bit+bit]")
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


def _open_bus(args, calibration=None):
    from firmware_bridge import DynamixelBus

    bus = DynamixelBus(args.port, args.baud, _specs(), calibration=calibration)
    bus.open()
    if bus.latency_warning:
        print(f"warning: {bus.latency_warning}", file=sys.stderr)
    return bus


# ---- subcommands ------------------------------------------------------------------------
def _scan(args) -> int:
    from duck.contract import CONTRACT
    from firmware_bridge.control_table import STANDARD_BAUDS
    from firmware_bridge.provision import scan

    bauds = args.baud or list(STANDARD_BAUDS)
    with _bus_errors():
        found = scan(args.port, bauds)
    if not found:
        raise UserError(f"no servos answered on {args.port} at {', '.join(map(str, bauds))} baud")
    by_id = {j.servo_id: j for j in CONTRACT.joints}
    print(f"{'baud':>8} {'id':>4} {'model':<14} {'fw':>3}  joint")
    for f in found:
        joint = by_id.get(f.servo_id)
        note = joint.name if joint else "-"
        if joint and joint.servo_model != f.model:
            note += f" (contract says {joint.servo_model})"
        print(f"{f.baud:>8} {f.servo_id:>4} {f.model:<14} {f.firmware:>3}  {note}")
    return 0


def _setup(args) -> int:
    from duck.contract import CONTRACT
    from firmware_bridge import ServoSpec
    from firmware_bridge.provision import SetupPlan, limits_to_ticks, setup_servo

    cal = _calibration(args.calibration).servo_calibrations()
    if args.joint:
        joints = [j for j in CONTRACT.joints if j.name == args.joint]
        if not joints:
            raise UserError(f"unknown joint {args.joint!r}; joints are {list(CONTRACT.joint_names)}")
    else:
        joints = list(CONTRACT.joints)
    from duck.servo_profile import SERVO_PROFILE

    for j in joints:
        # The contract's range, through this joint's calibration (zero and direction), becomes
        # the servo's Min/Max Position Limit: the servo itself then refuses a goal outside it.
        # In position mode the servo turns within 0..4095 ticks, so a calibrated range that
        # crosses the wrap cannot be enforced: refuse rather than clamp it.
        ends = [int(cal[j.servo_id].rad_to_ticks(x)) for x in (j.lower_rad, j.upper_rad)]
        if min(ends) < 0 or max(ends) > 4095:
            raise UserError(f"{j.name}: its range {j.lower_rad:+.3f}..{j.upper_rad:+.3f} rad is ticks "
                            f"{min(ends)}..{max(ends)} with this calibration, outside the servo's 0..4095; "
                            "re-seat the horn nearer the servo's centre and calibrate again")
        lo, hi = limits_to_ticks(j.lower_rad, j.upper_rad, cal[j.servo_id])
        gains = SERVO_PROFILE.gains_for(j.servo_model)  # the gains the policy is trained for
        plan = SetupPlan(ServoSpec(j.servo_id, j.servo_model), args.baud, lo, hi,
                         gains.p if args.p_gain is None else args.p_gain,
                         gains.i if args.i_gain is None else args.i_gain,
                         gains.d if args.d_gain is None else args.d_gain)
        current_id = args.current_id if args.joint else j.servo_id
        with _bus_errors():
            got = setup_servo(args.port, current_id, args.current_baud, plan)
        print(f"{j.name}: id {current_id} -> {j.servo_id}, {args.current_baud} -> {args.baud} baud, "
              f"return delay {got[plan.eeprom()[0][0]]}, limits {lo}..{hi} ticks: verified")
    return 0


def _calibrate(args) -> int:
    from duck.atomic import check_writable
    from duck.calibration import Calibration, JointCalibration, save_calibration
    from duck.contract import CONTRACT, sign_table
    from firmware_bridge.control_table import Reg

    check_writable(args.out, what="--out")  # before the user poses the robot, not after
    directions = {n: c.direction for n, c in _calibration(args.directions_from).joints.items()}
    with _bus_errors():
        bus = _open_bus(args)
        try:
            bus.ping_all()
            bus.set_torque(False)
            print("Torque is off. Put the robot in the zero pose: legs straight down, feet flat and "
                  "parallel, head level and facing forward (all contract joints at 0 rad).", file=sys.stderr)
            print("Positive angles turn these ways (a servo that turns the other way gets direction -1 "
                  "in the calibration file):\n" + sign_table(), file=sys.stderr)
            if not args.yes:
                print("Press Enter when it is there (Ctrl-C to abort)...", file=sys.stderr, flush=True)
                if not sys.stdin.readline():
                    raise UserError("calibration aborted: no Enter on stdin")
            ticks = {j.name: bus.read_register(j.servo_id, Reg.PRESENT_POSITION) for j in CONTRACT.joints}
        finally:
            bus.close()
    cal = Calibration({n: JointCalibration(int(t) % 4096, directions[n]) for n, t in ticks.items()})
    save_calibration(cal, args.out)
    for name, t in ticks.items():
        print(f"{name:<16} zero {int(t) % 4096:>5} ticks ({(int(t) - 2048) * 360 / 4096:+7.2f} deg from centre)")
    print(f"wrote {args.out}")
    return 0


def _monitor(args) -> int:
    import time

    from duck.contract import CONTRACT
    from firmware_bridge.provision import monitor_rows

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

    from firmware_bridge.control_table import BAUD_TO_CODE
    from firmware_bridge.emulator import Fault, IdealBackend, SoftwareServo

    if args.baud not in BAUD_TO_CODE:
        raise UserError(f"--baud {args.baud} is not a Dynamixel baud; use one of {sorted(BAUD_TO_CODE)}")
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
    emu = SoftwareServo(_specs(), backend, baud=args.baud, return_delay=args.return_delay)
    emu.serve_until_signal(faults, on_start=lambda _: print(
        f"serving {len(emu.servos)} servos at {args.baud} baud ({args.backend} backend); Ctrl-C to stop",
        file=sys.stderr, flush=True))
    return 0
