"""Sim-in-the-loop for ``duck run --sim``: the unchanged runtime against a simulated robot.

A child process (its own GIL, so physics never steals the control loop's time)
runs the firmware_bridge software servo on a pty with the MuJoCo servo backend,
in real time. The runtime opens that pty with the real dynamixel-sdk, exactly
as it would open ``/dev/ttyUSB0``. The child also publishes the simulated IMU
(orientation, gyro) and the base position into shared memory under a seqlock;
:class:`SimImu` reads it through the same :class:`~duck.runtime.imu.Imu`
interface as the BNO055.

Faults (``--fault NAME[@T][:SERVO]``) are scheduled relative to the policy
hand-over: bus faults are injected in the emulator (``voltage_sag`` and
``overheat`` through its supply/heat model), ``imu_stale`` freezes the
published IMU, ``estop``/``gamepad_unplug`` act through a scripted evdev pad,
``nan``/``overrun`` are injected on the runtime side.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import json
import math
import mmap
import os
import queue
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from duck.contract import CONTRACT
from duck.errors import UserError
from duck.runtime.imu import ImuError, ImuSample, gravity_from_quat_wxyz
from duck.runtime.loop import set_realtime
from duck.runtime.runner import RuntimeFault
from duck.runtime.safety import Mode
from duck.runtime.teleop import BTN_EAST, EV_KEY, FixedTeleop, GamepadState, GamepadTeleop

# Shared block: [seq, stamp, qw, qx, qy, qz, gx, gy, gz, px, py, pz]
_SEQ, _STAMP, _QUAT, _GYRO, _POS, _SIZE = 0, 1, slice(2, 6), slice(6, 9), slice(9, 12), 12

BUS_FAULTS = {"servo_timeout": "drop", "crc": "crc", "overload": "hwerror", "servo_missing": "missing",
              "voltage_sag": "sag", "overheat": "heat"}
# The emulator argument a fault gets when the spec names none: the supply sags to 3.8 V (below the
# X330 stop level, above the XL330's own 3.5 V shutdown); the servo heats towards 67 degC (past the
# stop level, short of the servo's own 70 degC shutdown). See firmware_bridge.health_limits.
DEFAULT_FAULT_ARG = {"voltage_sag": "3.8", "overheat": "67"}
PAD_FAULTS = ("estop", "gamepad_unplug")
RUNTIME_FAULTS = {"nan": "nan_action", "overrun": "overrun"}
# port_unplug: the emulator closes its pty end, as a pulled USB cable takes the tty away.
FAULT_NAMES = (*BUS_FAULTS, "port_unplug", "imu_stale", *PAD_FAULTS, *RUNTIME_FAULTS)
DEFAULT_FAULT_SERVO = 12  # right_hip_pitch: a loaded leg joint


@dataclass(frozen=True)
class FaultSpec:
    name: str
    at_s: float = 1.0
    servo_id: int = DEFAULT_FAULT_SERVO
    arg: str = ""

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``NAME[@SECONDS][:SERVO[:ARG]]``, e.g. ``crc@2:21``, ``servo_timeout:12:0.3``."""
        head, *rest = text.split(":")
        name, _, at = head.partition("@")
        if name not in FAULT_NAMES:
            raise UserError(f"unknown fault {name!r}; faults: {', '.join(FAULT_NAMES)}")
        try:
            at_s = float(at) if at else 1.0
            servo = int(rest[0]) if rest and rest[0] else DEFAULT_FAULT_SERVO
        except ValueError:
            raise UserError(f"bad fault {text!r}: expected NAME[@SECONDS][:SERVO[:ARG]]") from None
        if not math.isfinite(at_s) or not 0.0 <= at_s <= 86_400.0:
            raise UserError(f"bad fault {text!r}: the time must be 0..86400 s after hand-over, got {at}")
        if servo not in CONTRACT.servo_ids:
            raise UserError(f"bad fault {text!r}: servo {servo} is not one of {list(CONTRACT.servo_ids)}")
        return cls(name, at_s, servo, rest[1] if len(rest) > 1 else "")

    def emulator_fault(self) -> str:
        kind = BUS_FAULTS[self.name]
        arg = self.arg or DEFAULT_FAULT_ARG.get(self.name, "")
        target = "all" if self.name == "voltage_sag" else str(self.servo_id)  # one supply for all servos
        return f"{kind}:{target}" + (f":{arg}" if arg else "")


# ---- child process ------------------------------------------------------------------

def _die_with_parent() -> None:
    """Make sure the sim never outlives the runtime, even after a SIGKILL of the parent."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _make_backend(kind: str, servo_options: dict[str, Any] | None = None) -> Any:
    if kind == "ideal":
        from firmware_bridge.emulator import IdealBackend

        return IdealBackend()
    from duck.sim.servo_backend import MujocoServoBackend, load_servo_overrides

    options = servo_options or {}
    return MujocoServoBackend(supply_v=options.get("supply_v"),
                              overrides=load_servo_overrides(options.get("profiles") or []))


def _sim_main(shared_path: str, backend_kind: str, baud: int, rt_priority: int | None, cpu: int | None,
              servo_options: dict[str, Any] | None = None) -> None:
    """Child process: serve the software servo and publish the IMU until told to stop (or orphaned)."""
    parent = os.getppid()
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the runtime; it stops us
    # The sim stands in for servo hardware, which answers on time whatever the Pi is doing.
    # Real-time priority keeps its replies inside the bus timeout on a busy box; its own CPU
    # (set before any thread starts, so all of them inherit it) keeps the scheduler from
    # queueing the woken servo thread behind the runtime that just wrote to the pty, which
    # on the 2-core dev VM made ~1 % of replies 5-10 ms late.
    set_realtime(rt_priority, cpu)
    from firmware_bridge import ServoSpec
    from firmware_bridge.emulator import Fault
    from firmware_bridge.families import make_software_servo

    backend = _make_backend(backend_kind, servo_options)
    servos = [ServoSpec(j.servo_id, j.servo_model) for j in CONTRACT.joints]
    server = make_software_servo(servos, backend, baud=baud)  # the contract's servo family
    # A garbage-collector pass holds the GIL for ms, stalling the servo thread mid-reply;
    # the loops below make no reference cycles, so keep the collector out of the run.
    gc.collect()
    gc.freeze()
    gc.disable()
    path = server.start()
    imu_of = getattr(backend, "imu_reading", None)
    pos_of = getattr(backend, "base_position", None)
    frozen = False
    with open(shared_path, "r+b") as f:
        mem = mmap.mmap(f.fileno(), _SIZE * 8)
    block = np.frombuffer(mem, dtype=np.float64)

    def reply(*msg: Any) -> None:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    reply("ready", path)
    try:
        while os.getppid() == parent:
            if not frozen:
                quat, gyro = (np.array([1.0, 0, 0, 0]), np.zeros(3)) if imu_of is None else imu_of()[:2]
                pos = np.zeros(3) if pos_of is None else pos_of()
                block[_SEQ] += 1  # odd: write in progress (seqlock)
                block[_STAMP] = time.perf_counter()
                block[_QUAT], block[_GYRO], block[_POS] = quat, gyro, pos
                block[_SEQ] += 1
            if not select.select([sys.stdin], [], [], 0.002)[0]:
                continue
            line = sys.stdin.readline()
            if not line:
                break  # parent closed the pipe
            msg, arg = json.loads(line)
            if msg == "fault":
                server.inject(Fault.parse(arg))
            elif msg == "close_port":
                server.stop()
            elif msg == "freeze_imu":
                frozen = True
            elif msg == "torque":
                reply("torque", {str(s.boot_id): s.torque_on for s in server.servos})
            elif msg == "stop":
                break
    finally:
        server.stop()


# ---- runtime side -------------------------------------------------------------------

def _split_cpus() -> tuple[int | None, int | None]:
    """(sim CPU, runtime CPU): the last and the first CPU this process may use, or
    (None, None) with fewer than two."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None
    return (cpus[-1], cpus[0]) if len(cpus) >= 2 else (None, None)


class SimImu:
    """The sim's IMU through shared memory; same interface as the BNO055 driver."""

    def __init__(self, shared: Any) -> None:
        self._block = np.frombuffer(shared, dtype=np.float64)

    def open(self) -> None:
        deadline = time.monotonic() + 5.0
        while self._block[_SEQ] == 0:
            if time.monotonic() > deadline:
                raise ImuError("simulated IMU never published a sample")
            time.sleep(0.005)

    def snapshot(self) -> np.ndarray:
        # The writer may be preempted mid-write (odd sequence); wait for it a little
        # (yielding the CPU) rather than fail the cycle's IMU read at once.
        deadline = time.perf_counter() + 0.002
        while True:
            seq = self._block[_SEQ]
            data = self._block.copy()
            if seq % 2 == 0 and self._block[_SEQ] == seq:
                return data
            if time.perf_counter() > deadline:
                raise ImuError("simulated IMU sample is being written (writer stalled)")
            time.sleep(0)

    def read(self) -> ImuSample:
        d = self.snapshot()
        return ImuSample(d[_GYRO].copy(), gravity_from_quat_wxyz(d[_QUAT]), float(d[_STAMP]), int(d[_SEQ]) // 2)

    def close(self) -> None:
        pass


class ScriptedPad:
    """An evdev-like device: connected at start; presses or unplugs on request.

    It produces real ``evdev.InputEvent`` objects, so the runtime's gamepad code
    path is the one a real pad exercises.
    """

    name = "open-duck scripted pad"

    class info:  # noqa: N801 (mirrors evdev.InputDevice.info)
        vendor = 0x045E

    def __init__(self) -> None:
        self._events: queue.Queue[Any] = queue.Queue()
        self.unplugged = False

    def capabilities(self) -> dict[int, list[Any]]:
        return {}

    def press(self, code: int) -> None:
        from evdev import InputEvent

        now = time.time()
        sec, usec = int(now), int((now % 1) * 1e6)
        self._events.put(InputEvent(sec, usec, EV_KEY, code, 1))
        self._events.put(InputEvent(sec, usec, EV_KEY, code, 0))

    def unplug(self) -> None:
        self.unplugged = True
        self._events.put(None)

    def read_loop(self) -> Any:
        while True:
            event = self._events.get()
            if event is None:
                raise OSError(errno.ENODEV, "No such device")
            yield event

    def close(self) -> None:
        pass


class SimInTheLoop:
    """Owns the sim process, the simulated IMU and the fault schedule for one run."""

    def __init__(self, faults: list[FaultSpec], backend: str = "mujoco", baud: int = 1_000_000,
                 rt_priority: int | None = 20, separate_cpus: bool = True,
                 servo_options: dict[str, Any] | None = None) -> None:
        self.faults = faults
        self.servo_options = servo_options or {}  # supply_v, profiles: the emulated servos' model
        self.rt_priority = rt_priority
        self.sim_cpu, self.runtime_cpu = _split_cpus() if separate_cpus else (None, None)
        self.backend = backend
        self.baud = baud
        fd, self._shared_path = tempfile.mkstemp(prefix="duck-sim-", suffix=".shm",
                                                  dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        os.write(fd, bytes(_SIZE * 8))
        self._mem = mmap.mmap(fd, _SIZE * 8)
        os.close(fd)
        self._proc: subprocess.Popen[str] | None = None
        self._pending = list(faults)  # runtime-side ones are applied by the runner on the same clock
        self._policy_start: float | None = None
        self._pos_start: np.ndarray | None = None
        self._pos_end: np.ndarray | None = None
        self.pad: ScriptedPad | None = ScriptedPad() if any(f.name in PAD_FAULTS for f in faults) else None
        self.imu = SimImu(self._mem)
        self.injected: list[str] = []

    def start(self, timeout_s: float = 60.0) -> str:
        """Start the sim process; returns the pty path of its software servo."""
        # A plain subprocess, not multiprocessing: no fork after onnxruntime started
        # its threads, and no re-import of the caller's __main__.
        cmd = [sys.executable, "-m", "duck.sim.in_the_loop", self._shared_path, self.backend, str(self.baud),
               "" if self.rt_priority is None else str(self.rt_priority),
               "" if self.sim_cpu is None else str(self.sim_cpu), json.dumps(self.servo_options)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        msg = self._recv(timeout_s)
        if msg is None or msg[0] != "ready":
            code = self._proc.poll()
            self.stop()
            raise RuntimeError(f"the sim process failed to start (exit code {code}, said {msg})")
        # Both sides have it mapped now; drop the name so nothing is left in /dev/shm even after a SIGKILL.
        os.unlink(self._shared_path)
        return msg[1]

    def _send(self, *msg: Any) -> bool:
        if self._proc is None or self._proc.poll() is not None or self._proc.stdin is None:
            return False
        try:
            self._proc.stdin.write(json.dumps(list(msg)) + "\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):
            return False
        return True

    def _recv(self, timeout_s: float) -> list[Any] | None:
        if self._proc is None or self._proc.stdout is None:
            return None
        if not select.select([self._proc.stdout], [], [], timeout_s)[0]:
            return None
        line = self._proc.stdout.readline()
        return json.loads(line) if line else None

    def runtime_faults(self) -> list[RuntimeFault]:
        return [RuntimeFault(RUNTIME_FAULTS[f.name], f.at_s) for f in self.faults if f.name in RUNTIME_FAULTS]

    def teleop(self, command: np.ndarray) -> Any:
        """A fixed command, through a scripted gamepad when a pad fault needs one."""
        if self.pad is None:
            return FixedTeleop(command)
        state = GamepadState(CONTRACT.commands, CONTRACT.head_command_range_rad, command_override=command)
        pad, first = self.pad, [True]

        def finder() -> Any:
            # The pad is there at start; once unplugged it never comes back in this run.
            if first[0] and not pad.unplugged:
                first[0] = False
                return pad
            time.sleep(0.05)
            return None

        teleop = GamepadTeleop(state, finder=finder, rescan_s=0.05)
        return teleop

    def probe(self, mode: Mode) -> dict[str, np.ndarray]:
        """Called by the runtime each cycle: fires due faults, returns ground truth to log."""
        try:
            pos = self.imu.snapshot()[_POS].copy()
        except ImuError:  # ground truth for the log only; the runtime's own IMU read decides
            pos = self._pos_end if self._pos_end is not None else np.full(3, np.nan)
        now = time.perf_counter()
        if mode in (Mode.RUNNING, Mode.PAUSED):
            if self._policy_start is None:
                self._policy_start, self._pos_start = now, pos
            self._pos_end = pos
        if self._policy_start is not None:
            # Keep firing after hand-over whatever the mode: a runtime-side fault (NaN) may
            # already have moved the runtime to HOLD in the cycle it became due.
            t = now - self._policy_start
            for f in [f for f in self._pending if f.at_s <= t]:
                self._pending.remove(f)
                self._fire(f)
        return {"sim_base_pos": pos}

    def _fire(self, f: FaultSpec) -> None:
        self.injected.append(f.name)
        if f.name in BUS_FAULTS:
            self._send("fault", f.emulator_fault())
        elif f.name == "port_unplug":
            self._send("close_port", None)
        elif f.name == "imu_stale":
            self._send("freeze_imu", None)
        elif f.name == "estop" and self.pad is not None:
            self.pad.press(BTN_EAST)
        elif f.name == "gamepad_unplug" and self.pad is not None:
            self.pad.unplug()

    def distance_m(self) -> float:
        """Horizontal distance the base travelled while the policy was in control."""
        if self._pos_start is None or self._pos_end is None:
            return 0.0
        return float(np.linalg.norm((self._pos_end - self._pos_start)[:2]))

    def torque_states(self, timeout_s: float = 5.0) -> dict[int, bool] | None:
        """Ground truth from the emulator after the run: servo id -> torque enabled."""
        if not self._send("torque", None):
            return None
        msg = self._recv(timeout_s)
        return {int(k): bool(v) for k, v in msg[1].items()} if msg and msg[0] == "torque" else None

    def stop(self) -> None:
        if self._proc is not None:
            self._send("stop", None)
            try:
                self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=2.0)
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
            self._proc = None
        if os.path.exists(self._shared_path):
            os.unlink(self._shared_path)


if __name__ == "__main__":
    _sim_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if sys.argv[4] else None,
              int(sys.argv[5]) if sys.argv[5] else None, json.loads(sys.argv[6]) if len(sys.argv) > 6 else None)
