"""The software servo's supply and heat: input voltage that sags under load, windings that warm.

Both are read only when a client reads Present Input Voltage(144) or Present
Temperature(146), and integrated lazily from the wall clock, so they cost nothing
on the hot path.

- Supply: an open-circuit voltage (the backend's ``supply_v`` when it models one)
  behind a source resistance shared by every servo on the bus: ``V = V_open - R_source * sum(|I_servo|)``. The default
  5.0 V is the X330's recommended supply (e-manual specifications: 3.7 ~ 6.0 V,
  recommended 5.0 V), the UBEC rail of the v1 robot; 0.05 ohm stands for the
  regulator's droop and the daisy-chained power wires.
- Heat: each servo is one thermal mass, ``dT/dt = (T_target - T) / tau``, with
  ``T_target = ambient + R_th * I^2 * R_winding``. R_winding 3.3 ohm follows
  from the XC330-M288-T stall point at 5 V (1.8 A, datasheet, with the driver's
  drop); R_th 20 K/W and tau 300 s are typical of a 23 g coreless-motor servo
  case (no datasheet number exists; order of magnitude only).

Faults (:mod:`.faults`) move these on purpose so tests can cross each health
threshold: ``sag`` drops the open-circuit voltage, ``heat`` drives a servo's
temperature towards a target with a short time constant (a blocked joint).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

DEFAULT_SUPPLY_V = 5.0
SOURCE_RESISTANCE_OHM = 0.05
AMBIENT_C = 35.0  # a warm room with the Pi and regulator inside the trunk
WINDING_RESISTANCE_OHM = 3.3
THERMAL_RESISTANCE_K_PER_W = 20.0
THERMAL_TAU_S = 300.0
FAULT_TAU_S = 0.5  # how fast an injected heat fault drives the winding to its target


class PowerModel:
    """Supply and temperatures for one bus. ``currents()`` returns every servo's current (A)."""

    def __init__(self, supply_v: float = DEFAULT_SUPPLY_V, source_ohm: float = SOURCE_RESISTANCE_OHM,
                 ambient_c: float = AMBIENT_C, clock: Callable[[], float] = time.monotonic) -> None:
        self.supply_v = float(supply_v)
        self.source_ohm = float(source_ohm)
        self.ambient_c = float(ambient_c)
        self.currents: Callable[[], list[float]] = lambda: []
        self.on_sag: Callable[[float], None] = lambda volts: None  # e.g. the physics' motor supply
        self.clock = clock
        self._lock = threading.Lock()
        self._temp: dict[int, tuple[float, float]] = {}  # id -> (temperature, time)
        self._heat_target: dict[int, float] = {}

    def voltage_v(self) -> float:
        load = sum(abs(i) for i in self.currents())
        return max(0.0, self.supply_v - self.source_ohm * load)

    def temperature_c(self, servo_id: int, current_a: float) -> float:
        with self._lock:
            now = self.clock()
            temp, t = self._temp.get(servo_id, (self.ambient_c, now))
            target = self.ambient_c + THERMAL_RESISTANCE_K_PER_W * current_a ** 2 * WINDING_RESISTANCE_OHM
            tau = THERMAL_TAU_S
            if servo_id in self._heat_target:
                target, tau = max(target, self._heat_target[servo_id]), FAULT_TAU_S
            temp = target + (temp - target) * math.exp(-max(0.0, now - t) / tau)
            self._temp[servo_id] = (temp, now)
            return temp

    # ---- what faults and test rigs set ----------------------------------------------------
    def sag(self, supply_v: float) -> None:
        """The battery/regulator's open-circuit voltage drops to ``supply_v`` (load sag stays on top)."""
        self.supply_v = float(supply_v)
        self.on_sag(self.supply_v)

    def heat(self, servo_id: int, target_c: float) -> None:
        """Drive ``servo_id``'s winding towards ``target_c`` (time constant FAULT_TAU_S)."""
        with self._lock:
            self._heat_target[servo_id] = float(target_c)

    def set_temperature(self, servo_id: int, celsius: float) -> None:
        """Put a servo at ``celsius`` now (it then relaxes as the model says)."""
        with self._lock:
            self._temp[servo_id] = (float(celsius), self.clock())

    def cool(self) -> None:
        with self._lock:
            self._heat_target.clear()


def supply_model(backend: object, default_v: float = DEFAULT_SUPPLY_V) -> PowerModel:
    """A supply for ``backend``'s servos: a backend that models the supply (the servo-model MuJoCo
    backend, ``supply_v``) sets the open-circuit voltage, and a sag fault reaches its motor law too."""
    power = PowerModel(supply_v=getattr(backend, "supply_v", default_v))
    if hasattr(backend, "supply_v"):
        power.on_sag = lambda volts: setattr(backend, "supply_v", volts)
    return power
