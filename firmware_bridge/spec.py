"""Plain data shared by the bus, the emulator and callers: what a servo is,
how its ticks map to radians, and one read of the whole bus."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from firmware_bridge.control_table import RAD_PER_TICK, TICKS_PER_REV
from firmware_bridge.families import MAX_ID, family_of


@dataclass(frozen=True)
class ServoSpec:
    """One servo on the bus: its ID and model name (e.g. ``"XC330-M288-T"``, ``"STS3215-C001"``)."""

    servo_id: int
    model: str

    def __post_init__(self) -> None:
        family = family_of(self.model)  # raises ValueError for an unknown model
        top = MAX_ID[family]
        if not 0 <= int(self.servo_id) <= top:
            raise ValueError(f"servo id {self.servo_id} is outside 0..{top}")

    @property
    def family(self) -> str:
        return family_of(self.model)


@dataclass(frozen=True)
class ServoCalibration:
    """Maps servo ticks to joint radians: ``rad = direction * (ticks - zero_ticks) * 2*pi/4096``."""

    zero_ticks: int = 2048
    direction: int = 1

    def __post_init__(self) -> None:
        if self.direction not in (1, -1):
            raise ValueError(f"direction must be +1 or -1, got {self.direction!r}")
        if not 0 <= int(self.zero_ticks) < TICKS_PER_REV:
            raise ValueError(f"zero_ticks must be in 0..{TICKS_PER_REV - 1}, got {self.zero_ticks!r}")

    def ticks_to_rad(self, ticks: int | float | np.ndarray) -> float | np.ndarray:
        return self.direction * (np.asarray(ticks) - self.zero_ticks) * RAD_PER_TICK

    def rad_to_ticks(self, rad: float | np.ndarray) -> np.ndarray:
        return np.rint(self.zero_ticks + self.direction * np.asarray(rad) / RAD_PER_TICK).astype(np.int64)


@dataclass(frozen=True)
class BusState:
    """One read of all servos, arrays in the bus's ``servos`` order, SI units.

    ``stale`` is True when this read failed and the values are the last good
    ones; ``error`` then holds the typed exception of the failed read.
    ``read_time_s`` is how long the read took (all attempts included).
    ``load`` is the signed fraction of stall torque, for families whose cycle reads
    load instead of current (Feetech; ``current_a`` is then NaN).
    """

    position_rad: np.ndarray
    velocity_rad_s: np.ndarray
    current_a: np.ndarray
    stale: bool
    read_time_s: float
    timestamp_s: float = 0.0
    error: Exception | None = field(default=None, compare=False)
    load: np.ndarray | None = field(default=None, compare=False)
