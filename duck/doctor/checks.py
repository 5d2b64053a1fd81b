"""The preflight checks of ``duck doctor``, in the order a user fixes things.

Each check returns a :class:`CheckResult`: pass, fail (not safe to run), warn
(safe, but worth knowing) or skip (an earlier failure makes it meaningless; that
failure is the one to fix). A failure carries one line saying what to do.

The checks talk to the robot only through :class:`Robot`: a port, a baud, a
calibration file, an IMU, a gamepad finder and the latency-timer sysfs root. The
real robot and the software servo (:mod:`duck.doctor.sim_rig`) fill it in the same
way, so ``--sim`` runs every check for real, through the real dynamixel-sdk.

Servo checks run on the servos that answer with the right ID at the right baud;
a servo that does not is reported once, by the ``baud`` or ``servos`` check, and
left out of the rest, so one fault makes exactly one check fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from duck.contract import CONTRACT, Joint, RobotContract
from duck.errors import UserError

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"
UPRIGHT_TOLERANCE_RAD = np.radians(20.0)
AT_REST_TOLERANCE_RAD = 0.05  # encoder noise and a joint resting on its stop
# Bauds tried for servos that do not answer at the expected one. 9600 is left out: nothing
# uses it, and a scan there costs seconds per servo.
SCAN_BAUDS = (57_600, 115_200, 1_000_000, 2_000_000, 3_000_000, 4_000_000)


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Robot:
    """Everything the checks look at. ``port=None`` means: find the U2D2 by its USB id."""

    port: str | None
    baud: int
    calibration: Path | None
    open_imu: Callable[[], Any]  # -> an opened Imu (duck.runtime.imu protocol); raises UserError/ImuError
    find_gamepad: Callable[[], Any]
    confirm_upright: Callable[[], None]  # tells the user to hold the robot upright and waits
    sysfs: Path | None = None  # latency-timer root (None: the real /sys)
    policy: Path | None = None
    imu_mount: np.ndarray = field(default_factory=lambda: np.eye(3))  # the config's mount, for the fix line
    bus_latency_ms: float | None = None  # None: the adapter's own latency timer (as duck run)
    bus_retries: int = 2  # per request, for the checks' reads and writes
    contract: RobotContract = CONTRACT
    label: str = ""


@dataclass
class _State:
    """What earlier checks found, for the later ones."""

    port: str | None = None
    bus: Any = None
    present: list[Joint] = field(default_factory=list)  # right id, right baud, right model
    excused: set[int] = field(default_factory=set)  # ids another check already blamed
    calibration: Any = None  # duck.calibration.Calibration
    policy: Any = None
    silent: set[int] = field(default_factory=set)  # status level < 2: writes get no reply (bus_settings says so)
    latency_ms: float | None = None
    retries: int = 2


def run_checks(robot: Robot) -> list[CheckResult]:
    from firmware_bridge import BusError

    st = _State(latency_ms=robot.bus_latency_ms, retries=robot.bus_retries)
    results: list[CheckResult] = []
    try:
        for check in _CHECKS:
            if check is _policy_contract and robot.policy is None:
                continue
            if check is _settings_writable and robot.policy is None:
                continue
            try:
                results.append(check(robot, st))
            except UserError as exc:
                results.append(CheckResult(check.__name__.lstrip("_"), FAIL, str(exc), "see the message"))
            except BusError as exc:
                results.append(CheckResult(check.__name__.lstrip("_"), FAIL, f"bus error: {exc}",
                                           "check the servo cables and power, then run duck doctor again"))
    finally:
        if st.bus is not None:
            st.bus.close()
    return results


def safe_to_run(results: list[CheckResult]) -> bool:
    return all(r.status != FAIL for r in results)


# ---- helpers -----------------------------------------------------------------------------

def _skip(cid: str, why: str) -> CheckResult:
    return CheckResult(cid, SKIP, why)


def _name(robot: Robot, sid: int) -> str:
    for j in robot.contract.joints:
        if j.servo_id == sid:
            return f"{sid} ({j.name})"
    return str(sid)


def _setup_all(robot: Robot, st: _State, current_baud: int | None = None) -> str:
    cal = f" --calibration {robot.calibration}" if robot.calibration else ""
    return (f"duck servo setup --all --port {st.port} --current-baud {current_baud or robot.baud} "
            f"--baud {robot.baud}{cal}")


def _open_bus(port: str, baud: int, joints, retries: int = 2, latency_ms: float | None = None):
    from firmware_bridge import DynamixelBus, ServoSpec

    bus = DynamixelBus(port, baud, [ServoSpec(j.servo_id, j.servo_model) for j in joints], retries=retries,
                       latency_ms=latency_ms)
    bus.open()
    return bus


def _answers(port: str, baud: int, ids, robot: Robot, retries: int = 0) -> dict[int, int]:
    """id -> model number of the ``ids`` that answer a ping at ``baud``."""
    from firmware_bridge import BusError

    joints = [j for j in robot.contract.joints if j.servo_id in ids] or list(robot.contract.joints[:1])
    bus = _open_bus(port, baud, joints, retries=retries, latency_ms=robot.bus_latency_ms)
    try:
        found = {}
        for sid in ids:
            try:
                found[sid] = bus.ping(sid)
            except BusError:
                pass
        return found
    finally:
        bus.close()


def _read(st: _State, sid: int, reg) -> int:
    return st.bus.read_register(sid, reg, check_alert=False)


# ---- the checks ----------------------------------------------------------------------------

def _port(robot: Robot, st: _State) -> CheckResult:
    from duck.runtime.port import find_u2d2

    if robot.port is None:
        try:
            st.port = find_u2d2()
        except UserError as exc:
            return CheckResult("port", FAIL, str(exc), "plug the U2D2 into the Pi, or pass --port /dev/ttyUSB0")
        return CheckResult("port", PASS, f"U2D2 found at {st.port}")
    if not os.path.exists(robot.port):
        return CheckResult("port", FAIL, f"{robot.port} does not exist",
                           "plug in the U2D2, or omit --port to find it by its USB id")
    st.port = robot.port
    return CheckResult("port", PASS, f"{robot.port} {robot.label}".strip())


def _latency(robot: Robot, st: _State) -> CheckResult:
    from firmware_bridge.latency import SYSFS, check_latency_timer

    if st.port is None:
        return _skip("latency", "no port")
    check = check_latency_timer(st.port, robot.sysfs or SYSFS)
    if check.latency_ms is None:
        return CheckResult("latency", PASS, f"{st.port} is not a USB-serial adapter: no latency timer")
    if check.ok:
        return CheckResult("latency", PASS, f"USB latency timer {check.latency_ms} ms")
    return CheckResult("latency", FAIL, f"USB latency timer is {check.latency_ms} ms (needs 1 ms): every servo "
                                        f"reply waits that long", check.fix())


def _baud(robot: Robot, st: _State) -> CheckResult:
    from firmware_bridge import BusError

    if st.port is None:
        return _skip("baud", "no port")
    ids = list(robot.contract.servo_ids)
    try:
        here = _answers(st.port, robot.baud, ids, robot, retries=2)
    except BusError as exc:
        port, st.port = st.port, None  # unusable: the later bus checks skip instead of failing again
        return CheckResult("baud", FAIL, f"cannot open {port} at {robot.baud} baud: {exc}",
                           "check the port's permissions (dialout group) and that nothing else holds it")
    missing = [i for i in ids if i not in here]
    elsewhere: dict[int, list[int]] = {}
    if missing:
        left = list(missing)
        for baud in SCAN_BAUDS:
            if baud == robot.baud or not left:
                continue
            for sid in _answers(st.port, baud, left, robot, retries=1):
                elsewhere.setdefault(baud, []).append(sid)
                left.remove(sid)
    if not elsewhere:
        if not here:
            return CheckResult("baud", FAIL, f"no servo answers at {robot.baud} baud, nor at any other",
                               "check the servos' power (battery, switch) and the U2D2 cable; "
                               f"`duck servo scan --port {st.port}` lists what answers")
        return CheckResult("baud", PASS, f"{len(here)} servos answer at {robot.baud} baud")
    st.excused |= {sid for sids in elsewhere.values() for sid in sids}
    where = "; ".join(f"{', '.join(_name(robot, s) for s in sorted(sids))} at {b}" for b, sids in elsewhere.items())
    baud0 = next(iter(elsewhere))
    return CheckResult("baud", FAIL, f"servos answer at another baud than {robot.baud}: {where}",
                       _setup_all(robot, st, current_baud=baud0))


def _servos(robot: Robot, st: _State) -> CheckResult:
    from firmware_bridge import BusError
    from firmware_bridge.control_table import MODEL_BY_NUMBER, Reg, decode_hardware_error, model_info

    if st.port is None:
        return _skip("servos", "no port")
    joints = list(robot.contract.joints)
    expected = [j for j in joints if j.servo_id not in st.excused]
    if not expected:
        return _skip("servos", "no servo answers at the expected baud (see baud)")
    st.bus = _open_bus(st.port, robot.baud, expected, retries=st.retries, latency_ms=st.latency_ms)
    problems, fixes = [], []
    found = {}
    for j in expected:
        try:
            found[j.servo_id] = st.bus.ping(j.servo_id)
        except BusError:
            pass
    missing = [j for j in expected if j.servo_id not in found]
    strays: dict[int, int] = {}
    if missing:
        # Something at an id the contract does not use is the missing servo with the wrong id.
        try:
            from firmware_bridge.provision import scan

            st.bus.close()
            strays = {f.servo_id: f.model_number for f in scan(st.port, [robot.baud])
                      if f.servo_id not in robot.contract.servo_ids}
        finally:
            st.bus = _open_bus(st.port, robot.baud, expected, retries=st.retries, latency_ms=st.latency_ms)
    for j in missing:
        same_model = [i for i, m in strays.items() if m == model_info(j.servo_model).model_number]
        if same_model:
            problems.append(f"{j.name} answers at id {same_model[0]} instead of {j.servo_id}")
            fixes.append(f"duck servo setup --port {st.port} --joint {j.name} --current-id {same_model[0]} "
                         f"--current-baud {robot.baud} --baud {robot.baud}")
            strays.pop(same_model[0])
        else:
            problems.append(f"servo {_name(robot, j.servo_id)} does not answer")
            fixes.append(f"check {j.name}'s cable and connector (daisy chain), then `duck servo scan --port "
                         f"{st.port}`")
    for i, m in strays.items():
        info = MODEL_BY_NUMBER.get(m)
        problems.append(f"unexpected servo at id {i} ({info.name if info else m})")
        fixes.append("give it its contract id with `duck servo setup --joint NAME --current-id "
                     f"{i}`, or unplug it")
    present = []
    for j in expected:
        if j.servo_id not in found:
            continue
        want = model_info(j.servo_model)
        if found[j.servo_id] != want.model_number:
            info = MODEL_BY_NUMBER.get(found[j.servo_id])
            problems.append(f"{_name(robot, j.servo_id)} is a {info.name if info else found[j.servo_id]}, "
                            f"the contract says {j.servo_model}")
            fixes.append(f"fit a {j.servo_model} at {j.name}")
            continue
        firmware = _read(st, j.servo_id, Reg.FIRMWARE_VERSION)
        if firmware < want.min_fast_sync_firmware:
            problems.append(f"{_name(robot, j.servo_id)} firmware v{firmware} < v{want.min_fast_sync_firmware}")
            fixes.append("update the firmware with DYNAMIXEL Wizard 2.0 (Fast Sync Read needs v46)")
        errors = decode_hardware_error(_read(st, j.servo_id, Reg.HARDWARE_ERROR_STATUS))
        if errors:
            problems.append(f"{_name(robot, j.servo_id)} reports {'+'.join(errors)}")
            fixes.append("find the cause (`duck servo monitor`), then power-cycle the servos to clear it")
        present.append(j)
    st.present = present
    if problems:
        return CheckResult("servos", FAIL, "; ".join(problems), fixes[0])
    return CheckResult("servos", PASS, f"all {len(present)} contract servos: right id, model and firmware")


def _each_present(cid: str, st: _State, robot: Robot, judge) -> CheckResult:
    if not st.present:
        return _skip(cid, "no servo to check (see servos)")
    bad = [msg for j in st.present for msg in [judge(j)] if msg]
    return CheckResult(cid, FAIL if bad else PASS, "; ".join(bad) if bad else "")


def _bus_settings(robot: Robot, st: _State) -> CheckResult:
    from firmware_bridge.control_table import RETURN_DELAY_S_PER_UNIT, Reg

    def judge(j: Joint) -> str:
        delay, level = _read(st, j.servo_id, Reg.RETURN_DELAY_TIME), _read(st, j.servo_id, Reg.STATUS_RETURN_LEVEL)
        out = []
        if delay != 0:
            out.append(f"return delay {delay} ({delay * RETURN_DELAY_S_PER_UNIT * 1e6:.0f} us), needs 0")
        if level != 2:
            st.silent.add(j.servo_id)
            out.append(f"status return level {level}, needs 2 (the runtime confirms every write)")
        return f"{_name(robot, j.servo_id)}: {', '.join(out)}" if out else ""

    r = _each_present("bus_settings", st, robot, judge)
    if r.status == PASS:
        return CheckResult("bus_settings", PASS, "return delay 0, status return level 2 on every servo")
    return CheckResult(r.id, r.status, r.detail, _setup_all(robot, st) if r.status == FAIL else "")


def _operating_mode(robot: Robot, st: _State) -> CheckResult:
    from firmware_bridge.control_table import DriveMode, OperatingMode, Reg

    def judge(j: Joint) -> str:
        mode, drive = _read(st, j.servo_id, Reg.OPERATING_MODE), _read(st, j.servo_id, Reg.DRIVE_MODE)
        out = []
        if mode != OperatingMode.POSITION:
            name = OperatingMode(mode).name.lower() if mode in set(OperatingMode) else str(mode)
            out.append(f"operating mode {name}, the policy needs position (3)")
        if drive & DriveMode.REVERSE:
            out.append("drive mode reversed (direction belongs in the calibration)")
        return f"{_name(robot, j.servo_id)}: {', '.join(out)}" if out else ""

    r = _each_present("operating_mode", st, robot, judge)
    if r.status == PASS:
        return CheckResult(r.id, PASS, "position control mode, normal direction, on every servo")
    return CheckResult(r.id, r.status, r.detail, _setup_all(robot, st) if r.status == FAIL else "")


def _position_limits(robot: Robot, st: _State) -> CheckResult:
    from duck.calibration import Calibration
    from firmware_bridge import ServoCalibration
    from firmware_bridge.control_table import Reg
    from firmware_bridge.provision import limits_to_ticks

    cal = _load_calibration(robot) or Calibration.default(robot.contract)

    def judge(j: Joint) -> str:
        c = cal.joints[j.name]
        got = (_read(st, j.servo_id, Reg.MIN_POSITION_LIMIT), _read(st, j.servo_id, Reg.MAX_POSITION_LIMIT))
        # Either direction: a sign error is the calibration check's to report, once.
        wants = {limits_to_ticks(j.lower_rad, j.upper_rad, ServoCalibration(c.zero_ticks, d)) for d in (1, -1)}
        if got in wants:
            return ""
        want = limits_to_ticks(j.lower_rad, j.upper_rad, ServoCalibration(c.zero_ticks, c.direction))
        return f"{_name(robot, j.servo_id)}: limits {got[0]}..{got[1]} ticks, contract range is {want[0]}..{want[1]}"

    r = _each_present("position_limits", st, robot, judge)
    if r.status == PASS:
        return CheckResult(r.id, PASS, "servo position limits match the contract's joint ranges")
    return CheckResult(r.id, r.status, r.detail, _setup_all(robot, st) if r.status == FAIL else "")


def _profile(robot: Robot, st: _State):
    """The servo profile the policy was trained for (its ONNX metadata), else the installed one."""
    from duck.servo_profile import SERVO_PROFILE, policy_servo_profile

    if st.policy is not None:
        return policy_servo_profile(st.policy.metadata)[0]
    return SERVO_PROFILE


def needed_gains(profile, model: str) -> dict[str, int]:
    """Position P/I/D the policy is trained with (the servo profile), by register name."""
    g = profile.gains_for(model)
    return {"POSITION_P_GAIN": g.p, "POSITION_I_GAIN": g.i, "POSITION_D_GAIN": g.d}


def _gains(robot: Robot, st: _State) -> CheckResult:
    """P/I/D are RAM: a fresh power-on has the factory gains and `duck run` writes the profile's
    after its ramp, so either is fine; anything else means a tool changed them. PWM Limit and PWM
    Slope are EEPROM, which `duck run` does not write: they must be what the policy needs."""
    from firmware_bridge.control_table import Reg
    from firmware_bridge.servo_model import servo_params

    profile = _profile(robot, st)

    def judge(j: Joint) -> str:
        params = servo_params(j.servo_model)
        want = needed_gains(profile, j.servo_model)
        factory = params.factory_gains
        got = {name: _read(st, j.servo_id, Reg[name]) for name in want}
        out = []
        if got != want and got != {"POSITION_P_GAIN": factory.p, "POSITION_I_GAIN": factory.i,
                                   "POSITION_D_GAIN": factory.d}:
            out.append("position gains " + ", ".join(f"{n.split('_')[1]} {got[n]}" for n in want)
                       + f" (the policy's: P {want['POSITION_P_GAIN']}, I {want['POSITION_I_GAIN']}, "
                         f"D {want['POSITION_D_GAIN']}; factory: P {factory.p}, I {factory.i}, D {factory.d})")
        g = profile.gains_for(j.servo_model)
        pwm_limit = g.pwm_limit if g.pwm_limit is not None else factory.pwm_limit
        pwm_slope = g.pwm_slope if g.pwm_slope is not None else factory.pwm_slope
        for reg, need in ((Reg.PWM_LIMIT, pwm_limit), (Reg.PWM_SLOPE, pwm_slope)):
            if need is not None and _read(st, j.servo_id, reg) != need:
                out.append(f"{reg.name.lower().replace('_', ' ')} {_read(st, j.servo_id, reg)} (needs {need})")
        return f"{_name(robot, j.servo_id)}: {'; '.join(out)}" if out else ""

    r = _each_present("gains", st, robot, judge)
    if r.status == PASS:
        return CheckResult(r.id, PASS, f"gains are the factory ones or servo profile {profile.name}'s "
                                       "(duck run writes the profile's after its ramp)")
    return CheckResult(r.id, r.status, r.detail,
                       _setup_all(robot, st) + " (writes the servo profile's gains; or power-cycle for the "
                       "factory ones)" if r.status == FAIL else "")


def _load_calibration(robot: Robot):
    from duck.calibration import load_calibration

    if robot.calibration is None:
        return None
    try:
        return load_calibration(robot.calibration, robot.contract)
    except UserError:
        return None


def _calibration(robot: Robot, st: _State) -> CheckResult:
    from duck.calibration import load_calibration
    from firmware_bridge.control_table import Reg

    if robot.calibration is None:
        return CheckResult("calibration", FAIL, "no calibration given",
                           f"duck servo calibrate --port {st.port or 'PORT'} --out calibration.json, "
                           "then pass --calibration calibration.json")
    try:
        cal = load_calibration(robot.calibration, robot.contract)
    except UserError as exc:
        return CheckResult("calibration", FAIL, str(exc), "re-run `duck servo calibrate`")
    st.calibration = cal
    if not st.present:
        return CheckResult("calibration", PASS, f"{robot.calibration} loaded (no servo to check positions on)")
    servo_cal = cal.servo_calibrations(robot.contract)
    bad, flipped = [], []
    for j in st.present:
        q = float(servo_cal[j.servo_id].ticks_to_rad(_read(st, j.servo_id, Reg.PRESENT_POSITION)))
        lo, hi = j.lower_rad - AT_REST_TOLERANCE_RAD, j.upper_rad + AT_REST_TOLERANCE_RAD
        if not lo <= q <= hi:
            bad.append(f"{j.name} reads {q:+.2f} rad, outside {j.lower_rad:+.2f}..{j.upper_rad:+.2f}")
            if lo <= -q <= hi:
                flipped.append(j.name)
    if not bad:
        return CheckResult("calibration", PASS, f"{robot.calibration} loaded; every joint at rest within its range")
    fix = (f"the direction of {', '.join(flipped)} looks flipped: set \"direction\" to its opposite in "
           f"{robot.calibration}, or re-run `duck servo calibrate`" if flipped
           else f"re-run `duck servo calibrate` with the robot in the zero pose; check {robot.calibration}")
    return CheckResult("calibration", FAIL, "; ".join(bad), fix)


def suggest_mount(gravity_body: np.ndarray, current: np.ndarray) -> str:
    """The IMU ``mount`` that makes a robot held upright read gravity straight down (-z), nearest
    to the current one; gravity measured with ``current`` applied."""
    from itertools import permutations, product

    sensor = np.asarray(current).T @ np.asarray(gravity_body)  # undo the current mount
    best, best_score = None, -np.inf
    for perm in permutations(range(3)):
        for signs in product((1, -1), repeat=3):
            m = np.zeros((3, 3))
            for row, (col, sign) in enumerate(zip(perm, signs)):
                m[row, col] = sign
            if np.linalg.det(m) < 0:
                continue
            score = -np.linalg.norm(m @ sensor - np.array([0.0, 0.0, -1.0])) * 10 + np.trace(m.T @ current)
            if score > best_score:
                best, best_score = m, score
    axes = "xyz"
    return ",".join(("-" if row[np.argmax(np.abs(row))] < 0 else "") + axes[int(np.argmax(np.abs(row)))]
                    for row in best)


def _imu(robot: Robot, st: _State) -> CheckResult:
    from duck.runtime.imu import ImuError
    from duck.runtime.safety import tilt_rad

    try:
        imu = robot.open_imu()
    except (ImuError, UserError, OSError) as exc:
        return CheckResult("imu", FAIL, f"the IMU does not answer: {exc}",
                           "check the BNO055's wiring and address (0x28/0x29) and `--imu-config`; "
                           "`i2cdetect -y 1` should list it")
    try:
        robot.confirm_upright()
        sample = imu.read()
    except (ImuError, OSError) as exc:
        return CheckResult("imu", FAIL, f"the IMU does not answer: {exc}", "check the BNO055's wiring and power")
    finally:
        imu.close()
    tilt = tilt_rad(sample.gravity)
    if np.isfinite(tilt) and tilt <= UPRIGHT_TOLERANCE_RAD:
        return CheckResult("imu", PASS, f"IMU answers; held upright it reads {np.degrees(tilt):.0f} deg of tilt")
    current = robot.imu_mount
    return CheckResult("imu", FAIL, f"held upright, the IMU reads {np.degrees(tilt):.0f} deg of tilt: "
                                    "its mount is not what the config says",
                       f"set `mount: \"{suggest_mount(sample.gravity, current)}\"` in the IMU config "
                       "(imu.yaml), then run duck doctor again")


def _supply(robot: Robot, st: _State) -> CheckResult:
    from firmware_bridge.control_table import Reg
    from firmware_bridge.health_limits import health_limits

    if not st.present:
        return _skip("supply", "no servo to read the supply on (see servos)")
    profile = _profile(robot, st)
    lo, hi = profile.supply_range_v
    volts = {j.servo_id: _read(st, j.servo_id, Reg.PRESENT_INPUT_VOLTAGE) * 0.1 for j in st.present}
    bad = {sid: v for sid, v in volts.items() if not lo - 1e-6 <= v <= hi + 1e-6}
    if not bad:
        return CheckResult("supply", PASS, f"supply {min(volts.values()):.1f}..{max(volts.values()):.1f} V, within "
                                           f"the {lo:.1f}..{hi:.1f} V servo profile {profile.name} is trained for")
    sid, v = next(iter(bad.items()))
    rated = health_limits(next(j.servo_model for j in st.present if j.servo_id == sid)).rated_supply_v
    return CheckResult("supply", FAIL, f"supply {v:.1f} V on {_name(robot, sid)}, outside the {lo:.1f}..{hi:.1f} V "
                                       f"the policy is trained for",
                       "charge or swap the battery" if v < lo else
                       f"the servos are rated {rated:.1f} V: power them through the 5 V regulator, "
                       "not straight from the battery")


def _temperature(robot: Robot, st: _State) -> CheckResult:
    from firmware_bridge.control_table import Reg
    from firmware_bridge.health_limits import health_limits

    def judge(j: Joint) -> str:
        t, lim = _read(st, j.servo_id, Reg.PRESENT_TEMPERATURE), health_limits(j.servo_model)
        return f"{_name(robot, j.servo_id)} at {t} degC (warn {lim.temperature_warn_c:.0f})" \
            if t >= lim.temperature_warn_c else ""

    r = _each_present("temperature", st, robot, judge)
    if r.status == PASS:
        return CheckResult(r.id, PASS, "every servo below its warn temperature")
    return CheckResult(r.id, r.status, r.detail, "let the servos cool with torque off; a joint that runs hot "
                                                 "at rest is binding: check it by hand" if r.status == FAIL else "")


def _gamepad(robot: Robot, st: _State) -> CheckResult:
    pad = robot.find_gamepad()
    if pad is None:
        return CheckResult("gamepad", WARN, "no gamepad found (duck run falls back to the keyboard or --command)",
                           "pair or plug in the pad; `ls /dev/input/by-id` should list it; add the user to 'input'")
    name = getattr(pad, "name", "gamepad")
    close = getattr(pad, "close", None)
    if close is not None:
        close()
    return CheckResult("gamepad", PASS, f"{name}")


def _policy_contract(robot: Robot, st: _State) -> CheckResult:
    from duck.runtime.policy import load_policy

    try:
        st.policy = load_policy(robot.policy, robot.contract)
    except UserError as exc:
        return CheckResult("policy_contract", FAIL, str(exc),
                           "export the policy from a checkout with the installed contract (`duck export`), "
                           "or install the open-duck version it was trained with")
    return CheckResult("policy_contract", PASS, f"{robot.policy.name} was trained for this contract "
                                                f"({robot.contract.fingerprint})")


def _settings_writable(robot: Robot, st: _State) -> CheckResult:
    from firmware_bridge import BusError
    from firmware_bridge.control_table import Reg

    if not st.present:
        return _skip("settings_writable", "no servo to write to (see servos)")
    bad = []
    for j in [j for j in st.present if j.servo_id not in st.silent]:
        try:
            # EEPROM (locked while torque is on) with the value it has, and the gains the policy needs.
            st.bus.write_register(j.servo_id, Reg.RETURN_DELAY_TIME,
                                  _read(st, j.servo_id, Reg.RETURN_DELAY_TIME), check_alert=False)
            for name, value in needed_gains(_profile(robot, st), j.servo_model).items():
                st.bus.write_register(j.servo_id, Reg[name], value, check_alert=False)
        except BusError as exc:
            bad.append(f"{_name(robot, j.servo_id)}: {exc}")
    if bad:
        return CheckResult("settings_writable", FAIL, "; ".join(bad),
                           "a servo with torque on refuses EEPROM writes: `duck run --release` turns it off")
    return CheckResult("settings_writable", PASS, "the policy's servo settings can be written to every servo")


# The policy first: its servo profile says which gains and supply the later checks want.
_CHECKS = (_policy_contract, _port, _latency, _baud, _servos, _bus_settings, _operating_mode, _position_limits,
           _gains, _calibration, _imu, _supply, _temperature, _gamepad, _settings_writable)
CHECK_IDS = tuple(c.__name__.lstrip("_") for c in _CHECKS)
