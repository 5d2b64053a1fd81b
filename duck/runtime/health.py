"""Servo health during a run: supply voltage, temperatures and bus errors, on a slow round-robin.

Each cycle, after the goal write, :meth:`HealthMonitor.poll` reads the supply voltage
and temperature of the next ``servos_per_cycle`` servos (``bus.read_health_once``: on a
Dynamixel, Present Input Voltage(144) and Present Temperature(146) in one 3-byte Read,
no retry), but only when the read's worst case still fits
before the cycle's deadline. With 13 servos at 50 Hz every servo is read about
every 0.26 s: voltage and temperature change over seconds, so that is plenty.

Thresholds come from :mod:`firmware_bridge.health_limits` (per servo model, with
sources); the low-voltage warning from the servo profile's trained supply range when
the runner has one. Crossing a warn level logs a ``health_warn`` event and prints one console
line (once, until the value recovers). Crossing a stop level on
``stop_reads`` reads in a row (a single sagging read during a step is not a drained
battery) returns a fault: ``low_voltage`` or ``overheat``, whose reaction (hold,
ramp home, torque off) and exit code are in :mod:`duck.runtime.safety`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from duck.contract import CONTRACT, RobotContract
from duck.runtime.safety import Fault


@dataclass
class HealthConfig:
    servos_per_cycle: int = 1
    voltage_stop_reads: int = 3  # consecutive reads (any servos: they share the supply)
    temperature_stop_reads: int = 2  # consecutive reads of the same servo
    margin_s: float = 0.001  # keep this much of the cycle free after a health read
    console: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))


class HealthMonitor:
    """Round-robin voltage/temperature reads and per-servo bus error counts; see the module docstring."""

    def __init__(self, bus, contract: RobotContract = CONTRACT, config: HealthConfig | None = None,
                 supply_range_v: tuple[float, float] | None = None) -> None:
        from firmware_bridge.health_limits import health_limits

        self.bus, self.c, self.cfg = bus, contract, config or HealthConfig()
        self.ids = [j.servo_id for j in contract.joints]
        self.limits = [health_limits(j.servo_model) for j in contract.joints]
        # Warn when the supply leaves the range the policy was trained for (the servo profile's),
        # else at the servo model's warn level; stop at the servo model's stop level either way.
        self.warn_v = [supply_range_v[0] if supply_range_v is not None else lim.low_voltage_warn_v
                       for lim in self.limits]
        n = len(self.ids)
        self.voltage_v = np.full(n, np.nan)
        self.temperature_c = np.full(n, np.nan)
        self.bus_errors = np.zeros(n, dtype=np.int64)
        self.reads = 0
        self.skipped = 0
        self.last_read = -1  # index of the servo read this cycle (-1: none)
        self.last_voltage_index = -1
        self._next = 0
        self._low_v = 0
        self._hot = np.zeros(n, dtype=np.int64)
        self._warned: set[tuple[str, int]] = set()
        self.events: list[tuple[str, str]] = []

    @property
    def supply_v(self) -> float:
        """The latest reading of the shared supply (NaN before the first)."""
        return float(self.voltage_v[self.last_voltage_index]) if self.last_voltage_index >= 0 else float("nan")

    def count_bus_errors(self, servo_ids) -> None:
        """Count a failed hot-path read against the servos it names."""
        for sid in servo_ids:
            if sid in self.ids:
                self.bus_errors[self.ids.index(sid)] += 1

    def poll(self, deadline: float) -> Fault | None:
        """Read the next servo(s) if the read fits before ``deadline`` (perf_counter); the fault to
        react to, if any. Events (kind, detail) for the log accumulate in :attr:`events`."""
        from duck.runtime.robot_io import PORT_FAILURES
        from firmware_bridge import BusError

        self.last_read = -1
        fault = None
        for _ in range(self.cfg.servos_per_cycle):
            worst = self.bus.health_read_timeout_s() + self.cfg.margin_s
            if time.perf_counter() + worst > deadline:
                self.skipped += 1
                break
            k = self._next
            self._next = (self._next + 1) % len(self.ids)
            try:
                self.voltage_v[k], self.temperature_c[k] = self.bus.read_health_once(self.ids[k])
            except (BusError, *PORT_FAILURES):  # a dead port: the next cycle's state read classifies it
                self.bus_errors[k] += 1
                continue
            self.reads += 1
            self.last_read = self.last_voltage_index = k
            fault = self._judge(k) or fault
        return fault

    def _judge(self, k: int) -> Fault | None:
        lim, sid, volts, temp = self.limits[k], self.ids[k], self.voltage_v[k], self.temperature_c[k]
        warn_v = self.warn_v[k]
        self._warn_once("low_voltage", 0, volts < warn_v, volts > warn_v + 0.1,
                        f"supply {volts:.1f} V below {warn_v:.1f} V (read on servo {sid}); "
                        f"the run stops at {lim.low_voltage_stop_v:.1f} V: charge or swap the battery")
        self._warn_once("overheat", sid, temp >= lim.temperature_warn_c, temp < lim.temperature_warn_c - 2,
                        f"servo {sid} ({self.c.joints[k].name}) at {temp:.0f} degC, warn {lim.temperature_warn_c:.0f}; "
                        f"the run stops at {lim.temperature_stop_c:.0f} degC: let it cool, check the joint for binding")
        self._low_v = self._low_v + 1 if volts < lim.low_voltage_stop_v else 0
        self._hot[k] = self._hot[k] + 1 if temp >= lim.temperature_stop_c else 0
        if self._low_v >= self.cfg.voltage_stop_reads:
            return Fault("low_voltage", f"supply {volts:.1f} V below {lim.low_voltage_stop_v:.1f} V on "
                                        f"{self._low_v} reads in a row")
        if self._hot[k] >= self.cfg.temperature_stop_reads:
            return Fault("overheat", f"servo {sid} ({self.c.joints[k].name}) at {temp:.0f} degC >= "
                                     f"{lim.temperature_stop_c:.0f} degC on {self._hot[k]} reads in a row")
        return None

    def _warn_once(self, kind: str, key: int, bad: bool, recovered: bool, detail: str) -> None:
        if bad and (kind, key) not in self._warned:
            self._warned.add((kind, key))
            self.events.append(("health_warn", f"{kind}: {detail}"))
            self.cfg.console(f"duck run: warning: {detail}")
        elif recovered:
            self._warned.discard((kind, key))

    def take_events(self) -> list[tuple[str, str]]:
        events, self.events = self.events, []
        return events
