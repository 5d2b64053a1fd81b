"""A backend that moves each emulated servo by the shared servo model (:mod:`firmware_bridge.servo_model`).

Each servo drives its own load inertia through the model's firmware law (duty from
P/I/D and the position error, DC motor, friction, backlash) at the supply voltage:
the bench-top servo with a horn and a known load, no robot. Either family's
software servo takes it (:class:`~.backend.ServoBackend`); a P-gain write on the
bus becomes a gain change in the model, as on the real firmware.

Integrated in real time in fixed substeps by its own thread (started and stopped by the
server), so a read never waits for a long catch-up; reads advance the last few substeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from firmware_bridge.emulator.backend import ThreadedBackend
from firmware_bridge.servo_model import FirmwareGains, ServoBank, servo_params


class ServoModelBackend(ThreadedBackend):
    """``params_by_id``: servo id -> servo model name (``servo_model`` catalog) or parameter set.

    ``load_inertia_kgm2`` is what the horn carries (added to the motor's reflected armature);
    ``supply_v`` the battery; ``dt`` the integration substep.
    """

    thread_name = "servo-model"

    def __init__(self, params_by_id: Mapping[int, object], supply_v: float | None = None,
                 load_inertia_kgm2: float = 1e-4, dt: float = 0.0005) -> None:
        self.ids = list(params_by_id)
        params = [servo_params(p) if isinstance(p, str) else p for p in params_by_id.values()]
        self.gains = [p.factory_gains for p in params]
        self.bank = ServoBank(params, self.gains)
        self.index = {sid: k for k, sid in enumerate(self.ids)}
        self.inertia = np.array([p.armature_kgm2 for p in params]) + load_inertia_kgm2
        self.supply_v = float(supply_v if supply_v is not None else params[0].nominal_supply_v)
        self.dt = dt
        n = len(self.ids)
        self.q, self.qdot, self.goal = np.zeros(n), np.zeros(n), np.zeros(n)
        self.current = np.zeros(n)
        self.torque_on = np.zeros(n, dtype=bool)
        self.state = self.bank.state()
        self._lock = threading.Lock()
        self._t = time.monotonic()

    def start(self, servo_ids: Sequence[int] = ()) -> None:
        unknown = set(servo_ids) - set(self.ids)
        if unknown:
            raise ValueError(f"servo ids {sorted(unknown)} have no servo model in this backend")
        self._start_thread()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._advance(max_steps=20)
            time.sleep(0.002)

    def _advance(self, max_steps: int = 200) -> None:
        """Integrate up to now in substeps of ``dt`` (at most ``max_steps``; time beyond is dropped
        when the thread cannot keep up, rather than spiralling)."""
        now = time.monotonic()
        due = int((now - self._t) / self.dt)
        steps = min(due, max_steps)
        self._t = self._t + steps * self.dt if due <= 10 * max_steps else now
        for _ in range(steps):
            tau, self.current = self.bank.torque(self.goal, self.q, self.qdot, self.supply_v, self.state,
                                                 self.dt, self.torque_on)
            self.qdot = self.qdot + tau / self.inertia * self.dt  # semi-implicit Euler
            self.q = self.q + self.qdot * self.dt

    def set_torque(self, servo_id: int, enabled: bool) -> None:
        with self._lock:
            self._advance()
            self.torque_on[self.index[servo_id]] = bool(enabled)

    def set_goal(self, servo_id: int, position_rad: float) -> None:
        with self._lock:
            self._advance()
            self.goal[self.index[servo_id]] = float(position_rad)

    def set_p_gain(self, servo_id: int, gain: int) -> None:
        with self._lock:
            self._advance()
            k = self.index[servo_id]
            self.gains[k] = replace(self.gains[k], p=int(gain))
            self.bank.set_gains(self.gains)

    def read(self, servo_id: int) -> tuple[float, float, float]:
        with self._lock:
            self._advance()
            k = self.index[servo_id]
            return float(self.q[k]), float(self.qdot[k]), float(self.current[k])

    def set_position(self, servo_id: int, position_rad: float) -> None:
        with self._lock:
            self._advance()
            k = self.index[servo_id]
            self.q[k], self.qdot[k] = float(position_rad), 0.0


def servo_model_backend(servos: Sequence, **kw) -> ServoModelBackend:
    """For ``servos`` (objects with ``servo_id`` and ``model``): each model's parameter set from the
    servo model's catalog, which knows the bus's model names (``STS3215-C001`` is its
    ``STS3215-7.4V`` set); ValueError for a model it has no set for (the C044/C046 gearboxes)."""
    return ServoModelBackend({s.servo_id: s.model for s in servos}, **kw)


__all__ = ["FirmwareGains", "ServoModelBackend", "servo_model_backend"]
