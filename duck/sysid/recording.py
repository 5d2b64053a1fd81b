"""``duck sysid record``: play an excitation program on one servo and log what it does.

Runs on the robot: numpy and firmware_bridge only. Each cycle writes Goal
Position through :class:`~firmware_bridge.bus.DynamixelBus` (a Sync Write, as
the runtime does) and reads Realtime Tick .. Present Input Voltage in one Read
instruction, so every row has goal, position, velocity, current, PWM and
supply voltage of the same instant, stamped by the servo's own millisecond
clock: the replay times goals and samples by that clock, so USB and OS
jitter on the host (or a software servo falling behind real time) do not
blur the record. The log is an ``.npz`` written atomically.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.control_table import (
    RAD_PER_TICK,
    RAD_S_PER_VELOCITY_UNIT,
    VOLT_PER_UNIT,
    OperatingMode,
    Reg,
    model_info,
)
from firmware_bridge.errors import BusError

from .excitation import Program
from .load import TestArm

FORMAT = "duck-sysid-log/1"
#: Realtime Tick (120) .. Present Input Voltage (144..145): one contiguous read.
BLOCK_START = Reg.REALTIME_TICK
BLOCK_SIZE = Reg.PRESENT_INPUT_VOLTAGE.address + Reg.PRESENT_INPUT_VOLTAGE.size - BLOCK_START.address
TICK_WRAP_MS = 32768  # Realtime Tick: 0..32767 ms
PWM_FULL_SCALE = 885  # Present PWM / PWM Limit unit: 0.113 % (e-manual)
#: Firmware settings recorded with the log: the fit needs the gains the servo ran.
SETTINGS = (Reg.POSITION_P_GAIN, Reg.POSITION_I_GAIN, Reg.POSITION_D_GAIN, Reg.FEEDFORWARD_1ST_GAIN,
            Reg.FEEDFORWARD_2ND_GAIN, Reg.PWM_LIMIT, Reg.PWM_SLOPE, Reg.CURRENT_LIMIT, Reg.DRIVE_MODE,
            Reg.OPERATING_MODE, Reg.PROFILE_VELOCITY, Reg.PROFILE_ACCELERATION)
MAX_FAILED_FRACTION = 0.05
COLUMNS = ("t_s", "t_goal_s", "t_read_s", "servo_tick_ms", "goal_rad", "position_rad", "velocity_rad_s",
           "current_a", "pwm", "voltage_v", "ok")


@dataclass
class SysidLog:
    """One recording. Arrays are per cycle; positions are relative to the hanging rest."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def __len__(self) -> int:
        return len(self.arrays["t_s"])

    @property
    def servo_model(self) -> str:
        return str(self.meta["servo_model"])

    @property
    def load(self) -> TestArm:
        return TestArm.from_dict(self.meta["load"])

    @property
    def rate_hz(self) -> float:
        t = self.arrays["t_s"]
        return float((len(t) - 1) / (t[-1] - t[0])) if len(t) > 1 else 0.0

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        buf = io.BytesIO()
        np.savez_compressed(buf, meta_json=np.array(json.dumps(self.meta)), **self.arrays)
        atomic_write_bytes(path, buf.getvalue())
        return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside ``path``, fsync, rename: a failed write keeps the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_sysid_log(path: str | Path) -> SysidLog:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such log: {path}")
    try:
        with np.load(path) as data:
            meta = json.loads(str(data["meta_json"]))
            arrays = {k: data[k] for k in data.files if k != "meta_json"}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ValueError(f"{path} is not a duck sysid log ({type(exc).__name__}: {exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a duck sysid log (format {meta.get('format')!r}, expected {FORMAT!r})")
    missing = [c for c in COLUMNS if c not in arrays]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}")
    return SysidLog(arrays, meta)


def _decode(block: bytes, amp_per_unit: float) -> tuple[float, ...]:
    b = np.frombuffer(block, dtype=np.uint8)

    def field_(reg: Reg) -> int:
        off = reg.address - BLOCK_START.address
        return int.from_bytes(bytes(b[off:off + reg.size]), "little", signed=reg.signed)

    return (field_(Reg.REALTIME_TICK), field_(Reg.PRESENT_POSITION),
            field_(Reg.PRESENT_VELOCITY) * RAD_S_PER_VELOCITY_UNIT, field_(Reg.PRESENT_CURRENT) * amp_per_unit,
            field_(Reg.PRESENT_PWM) / PWM_FULL_SCALE, field_(Reg.PRESENT_INPUT_VOLTAGE) * VOLT_PER_UNIT)


def read_settings(bus, servo_id: int) -> dict[str, int]:
    return {reg.name.lower(): int(bus.read_register(servo_id, reg)) for reg in SETTINGS}


def record(bus, servo_id: int, program: Program, load: TestArm, zero_ticks: int | None = None,
           progress: Callable[[int, int], None] | None = None, extra_meta: dict | None = None) -> SysidLog:
    """Play ``program`` on servo ``servo_id`` of the open ``bus`` (a :class:`DynamixelBus` with
    the servo's default calibration: ticks around 2048, not reversed) and log the response.

    ``zero_ticks`` is the servo position with the arm hanging; by default the position
    read with torque off before the run (the arm must hang at rest when it starts).
    Torque is on only while the program plays and goes off however the run ends.
    """
    if servo_id not in bus.ids:
        raise ValueError(f"servo {servo_id} is not on this bus ({list(bus.ids)})")
    if len(bus.ids) != 1:
        raise ValueError("sysid record drives one servo; give the bus only that servo")
    spec = bus.servos[0]
    info = model_info(spec.model)
    bus.ping_all()
    bus.write_register(servo_id, Reg.TORQUE_ENABLE, 0)
    settings = read_settings(bus, servo_id)
    if settings["operating_mode"] != OperatingMode.POSITION:
        raise ValueError(f"servo {servo_id} is in operating mode {settings['operating_mode']}, "
                         f"not position control ({int(OperatingMode.POSITION)}); run `duck servo setup` first")
    if settings["drive_mode"] & 0x01:
        raise ValueError(f"servo {servo_id} has Drive Mode 'reverse' set; clear it for identification")
    if settings["profile_velocity"] or settings["profile_acceleration"]:
        raise ValueError(f"servo {servo_id} has a motion profile set (Profile Velocity/Acceleration); "
                         "set both to 0 so goals act directly")
    rest = bus.read_register(servo_id, Reg.PRESENT_POSITION)
    zero = int(rest if zero_ticks is None else zero_ticks)
    goal_ticks = np.rint(zero + program.goal_rad / RAD_PER_TICK).astype(np.int64)
    if goal_ticks.min() < 0 or goal_ticks.max() > 4095:
        raise ValueError(f"the program's goals ({goal_ticks.min()}..{goal_ticks.max()} ticks) leave the "
                         f"servo's 0..4095 range from rest at {zero}; mount the horn nearer 2048 or lower "
                         "--amplitude")
    if abs(rest - zero) * RAD_PER_TICK > math.radians(15):
        raise ValueError(f"the arm is at {rest} ticks, {math.degrees((rest - zero) * RAD_PER_TICK):.0f} deg from "
                         f"the given zero {zero}; start with the arm hanging at rest")
    voltage0 = bus.read_register(servo_id, Reg.PRESENT_INPUT_VOLTAGE) * VOLT_PER_UNIT

    n = len(program.t_s)
    rows = {c: np.full(n, np.nan) for c in COLUMNS}
    rows["ok"] = np.zeros(n, dtype=bool)
    dt = float(program.t_s[1] - program.t_s[0])
    zero_rad = zero * RAD_PER_TICK
    failures = 0
    with bus.torque_enabled():
        t0 = time.perf_counter()
        for k in range(n):
            wake = t0 + k * dt
            pause = wake - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            # The bus's calibration is the default (2048, +1): radians about 2048.
            bus.write_goal_positions(np.array([(goal_ticks[k] - 2048) * RAD_PER_TICK]))
            t_goal = time.perf_counter() - t0
            rows["t_goal_s"][k] = t_goal
            rows["goal_rad"][k] = goal_ticks[k] * RAD_PER_TICK - zero_rad
            try:
                block, _ = bus.read_block(servo_id, BLOCK_START, BLOCK_SIZE)
                tick, pos, vel, cur, pwm, volt = _decode(block, info.amp_per_current_unit)
            except BusError:
                # The goal went out (a Sync Write needs no reply): keep when, so the replay applies it then.
                rows["t_read_s"][k] = rows["t_s"][k] = t_goal
                failures += 1
                if failures > MAX_FAILED_FRACTION * n + 5:
                    raise
                continue
            t_read = time.perf_counter() - t0
            rows["t_read_s"][k] = t_read
            rows["t_s"][k] = 0.5 * (t_goal + t_read)  # the servo sampled between request and reply
            rows["servo_tick_ms"][k] = tick
            rows["position_rad"][k] = pos * RAD_PER_TICK - zero_rad
            rows["velocity_rad_s"][k], rows["current_a"][k], rows["pwm"][k], rows["voltage_v"][k] = vel, cur, pwm, volt
            rows["ok"][k] = True
            if progress is not None:
                progress(k + 1, n)
    meta = {
        "format": FORMAT, "servo_id": servo_id, "servo_model": spec.model, "load": load.to_dict(),
        "zero_ticks": zero, "rest_ticks": int(rest), "settings": settings, "voltage_at_start_v": voltage0,
        "program_rate_hz": 1.0 / dt, "failed_reads": failures,
        "segments": [[s.name, s.start_s, s.end_s] for s in program.segments],
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    meta.update(extra_meta or {})
    return SysidLog(rows, meta)


def replay_times(log: SysidLog) -> tuple[np.ndarray, np.ndarray]:
    """(when each goal took effect, when each sample was taken), seconds on the servo's clock.

    Each goal is written just before the read that stamps the servo's Realtime Tick, so it took
    effect just before that tick, or earlier by as long as the host was held up between the write
    and the read, but after the previous sample. Rows whose read failed get their time from the
    host clock, mapped onto the servo's. Logs without ticks fall back to the host clock.
    """
    ok = log["ok"]
    ticks = log["servo_tick_ms"][ok]
    if len(ticks) < 2 or not np.all(np.isfinite(ticks)):
        return log["t_goal_s"], log["t_s"]
    steps = np.diff(ticks)
    steps[steps < -TICK_WRAP_MS / 2] += TICK_WRAP_MS  # the 15-bit counter wrapped
    servo = np.concatenate([[0.0], np.cumsum(steps)]) * 1e-3
    host = log["t_s"][ok]
    servo = servo + host[0]  # same origin as the host clock
    t_sample = np.interp(log["t_s"], host, servo)
    t_sample[ok] = servo
    # The write-to-reply time is mostly the read's own round trip (wire, USB/pty latency), which
    # comes after the servo stamped the tick; only its excess over the usual says the host was
    # held up between the write and the read, while the goal already acted.
    round_trip = log["t_read_s"] - log["t_goal_s"]
    excess = np.clip(round_trip - np.median(round_trip[ok]), 0.0, None)
    t_goal = t_sample - 0.5e-3 - excess
    t_goal[1:] = np.maximum(t_goal[1:], t_sample[:-1] + 0.5e-3)
    return np.minimum(t_goal, t_sample - 0.5e-3), t_sample


#: After a read failed, or the host was held up between a write and its read, the servo's
#: timing of the goals around it is uncertain for about this long; those samples are not used.
UNTRUSTED_AFTER_S = 0.1
HELD_UP_S = 0.02


def trusted_samples(log: SysidLog) -> np.ndarray:
    """Rows whose measurement and goal timing are both sure: read ok, and not within
    :data:`UNTRUSTED_AFTER_S` after a failed read or a write-to-read delay :data:`HELD_UP_S` over
    the usual (on a busy host, or a software servo held up, goals then act at unknown times)."""
    ok = log["ok"].copy()
    round_trip = log["t_read_s"] - log["t_goal_s"]
    usual = np.median(round_trip[ok]) if ok.any() else 0.0
    doubtful = ~log["ok"] | (round_trip - usual > HELD_UP_S)
    t = log["t_s"]
    for t_bad in t[doubtful]:
        ok &= ~((t >= t_bad) & (t < t_bad + UNTRUSTED_AFTER_S))
    return ok
