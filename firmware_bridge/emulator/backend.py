"""What moves behind the software servo's control table.

A backend owns the physics of all servos; the protocol server only talks to
it through :class:`ServoBackend`, in the servo's own frame: radians around
the 2048-tick centre, positive in the servo's (non-reversed) direction.
"""

from __future__ import annotations

import abc
import math
import threading
import time
from collections.abc import Sequence


class ServoBackend(abc.ABC):
    """Interface between the emulated firmware and whatever simulates the motors."""

    def start(self, servo_ids: Sequence[int]) -> None:  # noqa: B027 (optional hook)
        """Called once by the server before it serves; the ids it will ask about."""

    def stop(self) -> None:  # noqa: B027 (optional hook)
        """Called when the server stops."""

    @abc.abstractmethod
    def set_torque(self, servo_id: int, enabled: bool) -> None: ...

    @abc.abstractmethod
    def set_goal(self, servo_id: int, position_rad: float) -> None: ...

    def set_p_gain(self, servo_id: int, gain: int) -> None:  # noqa: B027 (optional hook)
        """Raw Position P Gain; backends may scale their stiffness with it."""

    def set_gains(self, servo_id: int, p: int, i: int, d: int, pwm_limit: int | None = None,
                  pwm_slope: int | None = None) -> None:
        """The firmware controller's registers (Position P/I/D Gain, PWM Limit, PWM Slope), after any
        write to one of them. Backends running the servo model override this; the default passes P on."""
        self.set_p_gain(servo_id, p)

    @abc.abstractmethod
    def read(self, servo_id: int) -> tuple[float, float, float]:
        """(position_rad, velocity_rad_s, current_a) now."""

    def set_position(self, servo_id: int, position_rad: float) -> None:
        """Move a servo by hand (torque off): calibration and tests use this."""
        raise NotImplementedError(f"{type(self).__name__} cannot move servos by hand")

    def clock_s(self) -> float:
        """The servo's own clock (Realtime Tick): the backend's physics time where it has one."""
        return time.monotonic()


class ThreadedBackend(ServoBackend):
    """A backend whose physics runs in its own daemon thread (:meth:`_run`, polling ``_stop``),
    started by :meth:`_start_thread` and stopped and joined by :meth:`stop`."""

    thread_name = "servo-physics"
    _thread: threading.Thread | None = None
    _stop: threading.Event = threading.Event()  # replaced per start; set only while stopping

    def _start_thread(self) -> None:
        if self._thread is None:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=2.0)
            self._thread = None

    @abc.abstractmethod
    def _run(self) -> None:
        """The physics loop: step until ``self._stop`` is set."""


class IdealBackend(ServoBackend):
    """First-order servos: position follows the goal with time constant ``tau_s``.

    Evaluated lazily from the wall clock on each call (exact exponential step),
    so it needs no thread. Current is proportional to the tracking error,
    clipped at ``max_current_a``, a rough stand-in for a P controller.
    """

    def __init__(self, tau_s: float = 0.02, amp_per_rad: float = 2.0, max_current_a: float = 1.5) -> None:
        self.tau_s = tau_s
        self.amp_per_rad = amp_per_rad
        self.max_current_a = max_current_a
        self._lock = threading.Lock()
        self._state: dict[int, list[float]] = {}  # id -> [pos, vel, goal, torque, t]

    def _get(self, servo_id: int) -> list[float]:
        s = self._state.get(servo_id)
        if s is None:
            s = self._state[servo_id] = [0.0, 0.0, 0.0, 0.0, time.monotonic()]
        return s

    def _advance(self, s: list[float]) -> None:
        now = time.monotonic()
        dt = now - s[4]
        s[4] = now
        if s[3] and dt > 0:
            err = s[2] - s[0]
            decay = math.exp(-dt / self.tau_s)
            s[0] = s[2] - err * decay
            s[1] = err * decay / self.tau_s  # d/dt of the exponential approach
        else:
            s[1] = 0.0

    def set_torque(self, servo_id: int, enabled: bool) -> None:
        with self._lock:
            s = self._get(servo_id)
            self._advance(s)
            s[3] = 1.0 if enabled else 0.0

    def set_goal(self, servo_id: int, position_rad: float) -> None:
        with self._lock:
            s = self._get(servo_id)
            self._advance(s)
            s[2] = float(position_rad)

    def read(self, servo_id: int) -> tuple[float, float, float]:
        with self._lock:
            s = self._get(servo_id)
            self._advance(s)
            current = 0.0
            if s[3]:
                current = max(-self.max_current_a, min(self.max_current_a, self.amp_per_rad * (s[2] - s[0])))
            return s[0], s[1], current

    def set_position(self, servo_id: int, position_rad: float) -> None:
        with self._lock:
            s = self._get(servo_id)
            self._advance(s)
            s[0] = float(position_rad)
            s[1] = 0.0
