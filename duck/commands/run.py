"""``duck run``: run a policy on the robot (or on the simulated robot with ``--sim``).

Module-level imports are stdlib only; the runtime is imported inside the handler.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from duck.validation import arg_float, arg_floats, arg_int

DEFAULT_BAUD = 2_000_000  # XC330 is reliable at 2 Mbps (FACTS.md); set with `duck servo setup`
SIM_PTY_LATENCY_MS = 6.0


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a policy on the robot (or in sim-in-the-loop with --sim)",
                       description="Run an ONNX policy at the contract's control rate with gamepad teleop, "
                                   "safety monitoring and crash-safe telemetry.")
    p.add_argument("--policy", type=Path, help="exported policy (.onnx)")
    p.add_argument("--port", help="servo bus serial port (default: auto-detect the U2D2 by USB id)")
    p.add_argument("--baud", type=arg_int(9600, 4_500_000), default=DEFAULT_BAUD,
                   help=f"bus baud rate (default {DEFAULT_BAUD})")
    p.add_argument("--calibration", type=Path, help="servo calibration JSON from `duck servo calibrate`")
    p.add_argument("--imu-config", type=Path, help="IMU config (YAML/JSON): interface, address, mount remap")
    p.add_argument("--log", type=Path, help="telemetry log (.npz), flushed every second")
    p.add_argument("--sim", action="store_true", help="sim-in-the-loop: software servo + MuJoCo on a pty")
    p.add_argument("--sim-backend", choices=("mujoco", "ideal"), default="mujoco", help=argparse.SUPPRESS)
    p.add_argument("--duration", type=arg_float(0, 86_400, low_open=True),
                   help="stop after this many seconds of policy control")
    p.add_argument("--command", type=arg_floats(3, "vx,vy,yaw"),
                   help="fixed velocity command vx,vy,yaw (m/s, m/s, rad/s) instead of teleop")
    p.add_argument("--teleop", choices=("auto", "gamepad", "keyboard", "none"), default="auto",
                   help="command source when --command is not given (default: gamepad if found, else keyboard)")
    p.add_argument("--ramp", type=arg_float(0, 60, low_open=True), default=2.0,
                   help="start-up ramp to the home pose, seconds (default 2)")
    p.add_argument("--go", action="store_true", help="hand over to the policy at once (no start button)")
    p.add_argument("--json", type=Path, help="write a run summary (distance, falls, timing) as JSON")
    p.add_argument("--fault", action="append", default=[], metavar="NAME[@T][:SERVO]",
                   help="with --sim: inject a fault T s after hand-over (servo_timeout, crc, overload, "
                        "servo_missing, port_unplug, imu_stale, nan, overrun, estop, gamepad_unplug, "
                        "voltage_sag[:ID:VOLTS], overheat[:ID:DEGC])")
    p.add_argument("--rt-priority", type=arg_int(1, 99), help="SCHED_FIFO priority for the loop (needs CAP_SYS_NICE)")
    p.add_argument("--cpu", type=arg_int(0, 1023), help="pin the loop to this CPU (with --sim the default is a CPU "
                                                "the simulator does not use)")
    p.add_argument("--sim-supply-v", type=arg_float(0.0, 30.0, low_open=True), metavar="VOLTS",
                   help="with --sim: the emulated servos' supply voltage (default: the servo profile's nominal)")
    p.add_argument("--sim-servo-profile", action="append", default=[], metavar="JSON",
                   help="with --sim: servo parameters for the emulated servos (a servo profile JSON, e.g. from "
                        "`duck sysid fit`; repeatable, one per servo model)")
    p.add_argument("--no-health", action="store_true", help=argparse.SUPPRESS)  # benchmarks: cost of health polling
    p.add_argument("--release", action="store_true",
                   help="only turn torque off on every servo and exit (for systemd ExecStopPost)")
    p.set_defaults(func=run)


def _parse_command(given: tuple[float, ...] | None, ranges: Any) -> Any:
    """The parsed --command (finite by its argparse type), inside the runtime contract's ranges."""
    import numpy as np

    from duck.errors import UserError

    if given is None:
        return None
    values = np.asarray(given, dtype=np.float64)
    text = ",".join(f"{v:g}" for v in values)
    low, high = ranges.as_arrays()
    if values.shape != (3,) or not np.all(np.isfinite(values)) or np.any(values < low - 1e-9) \
            or np.any(values > high + 1e-9):
        raise UserError(f"--command {text!r} is outside the contract's command ranges "
                        f"vx {low[0]}..{high[0]}, vy {low[1]}..{high[1]}, yaw {low[2]}..{high[2]}")
    return values


def _load_calibration(path: Path | None) -> dict[int, Any] | None:
    """Joint-name-keyed calibration file -> servo-id-keyed mapping for the bus."""
    if path is None:
        return None
    from duck.calibration import load_calibration

    return load_calibration(path).servo_calibrations()


def _release(args: argparse.Namespace) -> int:
    """Torque off on every servo: the systemd ExecStopPost backstop after a crash or SIGKILL."""
    from duck.errors import UserError
    from duck.runtime.port import find_u2d2
    from duck.runtime.robot_io import RobotIO, make_bus
    from firmware_bridge import PortOpenError

    port = args.port or find_u2d2()
    io = RobotIO(make_bus(port, args.baud, _load_calibration(args.calibration)), imu=None)
    try:
        io.bus.open()
    except PortOpenError as exc:
        raise UserError(str(exc)) from None
    try:
        off, unconfirmed = io.release()
    finally:
        io.bus.close()
    print(f"torque off on servos {off}" + (f"; not confirmed: {unconfirmed}" if unconfirmed else ""))
    return 0 if not unconfirmed else 4


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from duck.atomic import check_writable
    from duck.contract import CONTRACT
    from duck.errors import UserError
    from duck.runtime.imu import load_imu_config, open_imu
    from duck.runtime.policy import load_policy
    from duck.runtime.runner import RunConfig, Runner
    from duck.runtime.telemetry import Telemetry

    if args.release:
        return _release(args)
    if args.policy is None:
        raise UserError("--policy is required (an exported .onnx)")
    # Validate every user input before touching hardware, so mistakes cost nothing.
    policy = load_policy(args.policy)
    # The limits are the runtime's own contract; load_policy refused a policy that differs from it.
    policy_contract = CONTRACT
    command = _parse_command(args.command, policy_contract.commands)
    for out, what in ((args.log, "--log"), (args.json, "--json")):
        if out is not None:
            check_writable(out, what=what)  # before the robot moves, not after
    if args.cpu is not None and hasattr(os, "sched_getaffinity") and args.cpu not in os.sched_getaffinity(0):
        raise UserError(f"--cpu {args.cpu}: not one of the CPUs this process may use {sorted(os.sched_getaffinity(0))}")
    if args.sim:
        from firmware_bridge.control_table import BAUD_TO_CODE

        if args.baud not in BAUD_TO_CODE:
            raise UserError(f"--baud {args.baud} is not a Dynamixel baud; use one of {sorted(BAUD_TO_CODE)}")
    calibration = _load_calibration(args.calibration)
    imu_config = load_imu_config(args.imu_config)
    if args.fault and not args.sim:
        raise UserError("--fault injects faults into the simulated robot; it needs --sim")
    if (args.sim_supply_v is not None or args.sim_servo_profile) and not args.sim:
        raise UserError("--sim-supply-v and --sim-servo-profile configure the simulated servos; they need --sim")
    if args.sim_supply_v is not None and not 0.0 < args.sim_supply_v <= 30.0:
        raise UserError(f"--sim-supply-v must be in (0, 30] V, got {args.sim_supply_v}")
    from duck.servo_profile import policy_servo_profile

    servo_profile, profile_note = policy_servo_profile(policy.metadata)
    if profile_note:
        print(f"duck run: {profile_note}")
    if command is not None and not (args.go or args.sim):
        raise UserError("--command gives no start button; add --go to hand over to the policy after the ramp")

    sim = None
    probe = None
    if args.sim:
        from duck.sim.in_the_loop import FaultSpec, SimInTheLoop

        faults = [FaultSpec.parse(f) for f in args.fault]
        from duck.sim.servo_backend import load_servo_overrides

        load_servo_overrides(args.sim_servo_profile)  # a bad file fails here, before anything starts
        sim = SimInTheLoop(faults, backend=args.sim_backend, baud=args.baud,
                           servo_options={"supply_v": args.sim_supply_v, "profiles": list(args.sim_servo_profile)})
        port = sim.start()
        imu: Any = sim.imu
        teleop = sim.teleop(command if command is not None else np.zeros(3))
        probe = sim.probe
    else:
        from duck.runtime.port import find_u2d2

        port = args.port or find_u2d2()
        if not Path(port).exists():
            raise UserError(f"serial port {port} does not exist; plug in the U2D2 or omit --port to auto-detect it")
        imu = open_imu(imu_config)
        teleop = _make_teleop(args.teleop, command, policy_contract)

    from duck.runtime.robot_io import PORT_FAILURES, RobotIO, make_bus
    from duck.runtime.safety import REACTIONS
    from firmware_bridge import BusError

    telemetry = None
    try:
        # A pty has no USB latency timer, but its bytes cross a kernel workqueue that a busy
        # box delays by a few ms; give the sim bus that as its "latency" so jitter is not a timeout.
        bus = make_bus(port, args.baud, calibration, **({"latency_ms": SIM_PTY_LATENCY_MS} if args.sim else {}))
        io = RobotIO(bus, imu)
        if args.log is not None:
            meta = {"policy": str(args.policy), "contract_fingerprint": CONTRACT.fingerprint,
                    "joint_names": list(CONTRACT.joint_names), "action_names": list(CONTRACT.action_names),
                    "obs_terms": {t.name: [CONTRACT.term_slice(t.name).start, t.size] for t in CONTRACT.obs_terms},
                    "control_rate_hz": CONTRACT.control_rate_hz, "sim": bool(args.sim), "port": port,
                    "baud": args.baud, "faults": list(args.fault), "argv": sys.argv[1:],
                    "servo_profile": servo_profile.to_dict()}
            telemetry = Telemetry(args.log, meta)
        loop_cpu = args.cpu if args.cpu is not None or sim is None else sim.runtime_cpu
        # The sim has no operator to press start, so it always hands over after the ramp.
        config = RunConfig(duration_s=args.duration, ramp_s=args.ramp, go=args.go or args.sim,
                           servo_profile=servo_profile, rt_priority=args.rt_priority, cpu=loop_cpu,
                           runtime_faults=sim.runtime_faults() if sim is not None else [],
                           health=not args.no_health)
        runner = Runner(io, policy, teleop, config, telemetry=telemetry, probe=probe)
        try:
            result = runner.run()
        except (BusError, *PORT_FAILURES) as exc:  # the bus died outside the loop (e.g. at torque-on)
            reason = f"servo_stale: the servo bus failed before the control loop ({type(exc).__name__}: {exc})"
            print(f"duck run: {reason}; torque off attempted", file=sys.stderr)
            code = REACTIONS["servo_stale"][1]
            _write_json(args.json, {"exit_code": code, "reason": reason, "faults": ["servo_stale"],
                                    "injected": list(sim.injected) if sim is not None else [],
                                    "final_state": "torque_off_attempted"})
            return code
    finally:
        if telemetry is not None:
            telemetry.close()
        torque = sim.torque_states() if sim is not None else None
        if sim is not None:
            sim.stop()

    summary = _summary(result, sim, torque)
    print(_one_line_summary(summary))
    _write_json(args.json, summary)
    return result.exit_code


def _write_json(path: Path | None, summary: dict[str, Any]) -> None:
    """The run summary, atomically; a failure here never hides the run's own exit code."""
    if path is None:
        return
    from duck.atomic import write_text

    try:
        write_text(path, json.dumps(summary, indent=2) + "\n")
    except OSError as exc:  # checked writable at start; the disk may have filled since
        print(f"duck run: could not write --json {path}: {exc}", file=sys.stderr)


def _make_teleop(kind: str, command: Any, contract: Any) -> Any:
    from duck.errors import UserError
    from duck.runtime.teleop import FixedTeleop, GamepadState, GamepadTeleop, KeyboardTeleop, find_gamepad

    if command is not None:
        return FixedTeleop(command)
    if kind in ("auto", "gamepad"):
        state = GamepadState(contract.commands, contract.head_command_range_rad)
        if kind == "gamepad" or find_gamepad() is not None:
            return GamepadTeleop(state)
    if kind in ("auto", "keyboard"):
        if not sys.stdin.isatty():
            raise UserError("no gamepad found and stdin is not a terminal; pass --command or plug in a pad")
        print("keyboard teleop: " + __import__("duck.runtime.teleop", fromlist=["KEY_HELP"]).KEY_HELP)
        return KeyboardTeleop(contract.commands)
    import numpy as np

    return FixedTeleop(np.zeros(3))


def _summary(result: Any, sim: Any, torque: dict[int, bool] | None) -> dict[str, Any]:
    return {
        "exit_code": result.exit_code,
        "reason": result.reason,
        "distance_m": sim.distance_m() if sim is not None else None,
        "falls": result.falls,
        "overruns": result.overruns,
        "stale_servo_reads": result.stale_reads,
        "period_p99_error_ms": result.period["p99_error_ms"],
        "period": result.period,
        "phase_ms": result.phase_ms,
        "phase_ms_p99": result.phase_ms_p99,
        "inference_ms": result.inference_ms,
        "cycles": result.cycles,
        "policy_time_s": result.policy_time_s,
        "faults": result.faults,
        "injected": list(sim.injected) if sim is not None else [],
        "final_state": result.final_state,
        "torque_off_confirmed": result.released,
        "torque_off_unconfirmed": result.unconfirmed,
        "sim_torque_on_after": sorted(i for i, on in torque.items() if on) if torque is not None else None,
        "notes": result.notes,
        "health": result.health,
    }


def _one_line_summary(s: dict[str, Any]) -> str:
    dist = f"distance {s['distance_m']:.2f} m, " if s["distance_m"] is not None else ""
    return (f"duck run: {s['reason']} (exit {s['exit_code']}); {dist}{s['cycles']} cycles, "
            f"{s['overruns']} overruns, {s['stale_servo_reads']} stale servo reads, "
            f"p99 |period-20ms| {s['period_p99_error_ms']:.2f} ms, final {s['final_state']}")
