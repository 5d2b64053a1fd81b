"""The goal trajectory a servo is identified with: holds, steps and chirps.

Each part makes some parameter observable (the joint angle is 0 with the arm
hanging straight down, so gravity's torque on the servo is ``-m g l sin q``):

- ``hold``: small steps onto a loaded angle, approached once from below and once
  from above. The steady-state error is load / stiffness, and the difference
  between the two approaches is the friction dead band (Coulomb friction).
- ``steps``: small steps (linear regime: stiffness and damping) and large
  steps that saturate the PWM, where the slew rate is set by supply voltage and
  back-EMF, not by the gain.
- ``reversal``: a slow triangle through the hanging position, where gravity's
  torque changes sign and the output shaft crosses the gear's backlash.
- ``chirp``: a swept sine about the hanging position, up to speeds at which the
  back-EMF limits the response (voltage, back-EMF, armature, viscous friction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Program:
    """Goal position (rad) on a fixed time grid, and the named parts it is made of."""

    t_s: np.ndarray
    goal_rad: np.ndarray
    segments: tuple[Segment, ...]

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1] + (self.t_s[1] - self.t_s[0])) if len(self.t_s) > 1 else 0.0


class _Builder:
    def __init__(self, rate_hz: float) -> None:
        self.dt = 1.0 / rate_hz
        self.goals: list[np.ndarray] = []
        self.n = 0
        self.segments: list[Segment] = []
        self.last = 0.0

    def hold(self, q: float, seconds: float) -> None:
        k = max(1, int(round(seconds / self.dt)))
        self._add(np.full(k, q))

    def wave(self, f, seconds: float) -> None:
        k = max(1, int(round(seconds / self.dt)))
        self._add(np.asarray(f(np.arange(k) * self.dt), dtype=np.float64))

    def _add(self, g: np.ndarray) -> None:
        self.goals.append(g)
        self.n += len(g)
        self.last = float(g[-1])

    def segment(self, name: str, start_n: int) -> None:
        self.segments.append(Segment(name, start_n * self.dt, self.n * self.dt))


def default_program(rate_hz: float = 200.0, scale: float = 1.0, amplitude_deg: float = 60.0) -> Program:
    """The excitation ``duck sysid record`` runs; ``scale`` < 1 shortens every hold and
    sweep (a quick check), ``amplitude_deg`` is the largest angle it visits either side
    of hanging (keep it inside the test rig's free travel)."""
    if not 0.1 <= scale <= 5.0:
        raise ValueError(f"scale must be in 0.1..5, got {scale}")
    a = math.radians(amplitude_deg)
    if not math.radians(10) <= a <= math.radians(120):
        raise ValueError(f"amplitude must be 10..120 deg, got {amplitude_deg}")
    b = _Builder(rate_hz)
    s = scale
    b.hold(0.0, 0.5)
    b.segment("settle", 0)

    start = b.n
    for side in (1.0, -1.0):
        for frac in (0.45, 0.9):
            q = side * a * frac
            b.hold(q - math.radians(6), 0.5 * s + 0.2)  # approach from below ...
            b.hold(q, 0.6 * s + 0.2)
            b.hold(q + math.radians(6), 0.5 * s + 0.2)  # ... and from above
            b.hold(q, 0.6 * s + 0.2)
    b.hold(0.0, 0.4)
    b.segment("hold", start)

    start = b.n
    for q0, dq in ((0.0, math.radians(4)), (0.5 * a, math.radians(4)), (0.0, math.radians(12)),
                   (-0.5 * a, -math.radians(12))):
        b.hold(q0, 0.3 * s + 0.1)
        b.hold(q0 + dq, 0.35 * s + 0.15)
        b.hold(q0 - dq, 0.35 * s + 0.15)
    for q in (a, -a, 0.0):  # big steps: the PWM saturates, speed is the voltage's
        b.hold(q, 0.5 * s + 0.3)
    b.segment("steps", start)

    start = b.n
    for amp_deg, period in ((15.0, 2.5 * s + 1.0), (5.0, 1.5 * s + 1.0)):
        amp = math.radians(amp_deg)
        b.wave(lambda t, amp=amp, period=period: amp * (2.0 / math.pi) * np.arcsin(np.sin(2 * math.pi * t / period)),
               period)
        b.hold(0.0, 0.3)
    b.segment("reversal", start)

    start = b.n
    seconds = 5.0 * s + 1.0
    f0, f1 = 0.5, 4.0
    amp = 0.5 * a
    k = math.log(f1 / f0) / seconds  # exponential sweep: equal time per octave

    def chirp(t):
        phase = 2 * math.pi * f0 * (np.exp(k * t) - 1.0) / k
        return amp * np.sin(phase)

    b.wave(chirp, seconds)
    b.hold(0.0, 0.5)
    b.segment("chirp", start)

    goal = np.clip(np.concatenate(b.goals), -a, a)
    return Program(np.arange(len(goal)) * b.dt, goal, tuple(b.segments))
