"""Software-servo backend for the identification rig: one servo + test arm, in real time.

Lets ``duck sysid record`` run end to end with no hardware: the servo model and
the rig's physics (:class:`~.replay.RigSim`, one copy) run in a thread paced to
the wall clock, behind the firmware_bridge software servo on a pty. The servo's
Realtime Tick is the physics time.

When the process is held up (a busy machine), the physics does not catch up in a
burst: it drops the lost time beyond ``max_lag_s``, so the time between a goal
write and the read that follows it stays about what it is on a real servo, and
the Realtime Tick the recorder stamps rows with stays true to the physics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from firmware_bridge.emulator import ThreadedBackend
from firmware_bridge.servo_model import FirmwareGains, ServoParams

from .load import TestArm
from .replay import TIMESTEP_S, Candidate, RigSim


class RigServoBackend(ThreadedBackend):
    thread_name = "sysid-rig-physics"

    def __init__(self, params: ServoParams, load: TestArm, supply_v: float | None = None,
                 max_lag_s: float = 0.005) -> None:
        self.params = params
        self.supply_v = params.nominal_supply_v if supply_v is None else float(supply_v)
        self.max_lag_s = max_lag_s
        self.sim = RigSim(load, 1)
        self.gains = params.factory_gains
        self.sim.configure([Candidate(params, self.supply_v)], self.gains)
        self.sim.reset(0.0)
        self.sim.set_torque(False)
        self.goal = 0.0
        self._lock = threading.Lock()

    def start(self, servo_ids: Sequence[int] = ()) -> None:
        self._start_thread()

    def _run(self) -> None:
        wall0, sim0 = time.perf_counter(), self.sim.data.time
        while not self._stop.is_set():
            behind = (time.perf_counter() - wall0) - (self.sim.data.time - sim0)
            if behind > self.max_lag_s:
                wall0 += behind - self.max_lag_s
                behind = self.max_lag_s
            steps = int(behind / TIMESTEP_S)
            if steps <= 0:
                time.sleep(TIMESTEP_S)
                continue
            for _ in range(min(steps, 5)):
                with self._lock:
                    self.sim.step(self.goal)
                time.sleep(0)  # let the bus thread answer between steps, as the firmware would

    def set_torque(self, servo_id: int, enabled: bool) -> None:
        with self._lock:
            self.sim.set_torque(enabled)

    def set_goal(self, servo_id: int, position_rad: float) -> None:
        with self._lock:
            self.goal = float(position_rad)

    def set_gains(self, servo_id: int, p: int, i: int, d: int, pwm_limit: int | None = None,
                  pwm_slope: int | None = None) -> None:
        with self._lock:
            self.gains = FirmwareGains(**{**self.gains.to_dict(), "p": int(p), "i": int(i), "d": int(d),
                                          "pwm_limit": pwm_limit, "pwm_slope": pwm_slope})
            self.sim.bank.set_gains([self.gains])

    def read(self, servo_id: int) -> tuple[float, float, float]:
        with self._lock:
            return float(self.sim.position[0]), float(self.sim.velocity[0]), float(self.sim.current[0])

    def pwm_duty(self, servo_id: int) -> float:
        """Present PWM (the software servo reads it, and ``supply_v`` for Present Input Voltage)."""
        with self._lock:
            return float(self.sim.duty[0])

    def clock_s(self) -> float:
        with self._lock:
            return float(self.sim.data.time)
