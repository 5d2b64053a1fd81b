"""Safety monitor: turns per-cycle health signals into one documented reaction.

Reactions and why (see docs/deploy_pi.md, "Fault reactions"):

=================  ==========  ====  ==================================================
fault              reaction    exit  why
=================  ==========  ====  ==================================================
estop              torque off  8     the operator asked for it; nothing may move
servo_error        torque off  4     a servo in overload/overheat has shut itself down;
                                     the others would fight a limp joint
fall               torque off  3     stiff joints on the floor only break gears
nan_action         hold        6     the last finite targets are a valid pose
servo_stale        hold        4     timeouts/CRC/missing servo: keep the last targets
imu_stale          hold        5     no attitude -> the policy is blind; freeze
overrun_burst      hold        7     the loop cannot keep time; freeze
gamepad_lost       hold        9     zero command during the grace period, then stop
low_voltage        hold        10    supply below the servo model's stop level
                                     (duck.runtime.health): put it down while it can
overheat           hold        11    a servo past its stop temperature, before the
                                     servo's own shutdown makes a joint go limp
=================  ==========  ====  ==================================================

"hold" keeps writing the last good targets for ``hold_s`` and then shuts down
like a normal stop (ramp to home, torque off); "torque off" disables torque at
once. Either way the process exits with torque off. Signals (SIGINT/SIGTERM)
are not faults: they stop gracefully with exit 130/143.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Mode(IntEnum):
    """Runtime modes, in the order a normal run visits them (logged as ints)."""

    STARTUP = 0  # ramping to home at low gain
    READY = 1  # holding home, waiting for the start button
    RUNNING = 2  # policy in control
    PAUSED = 3  # policy in control with a zero command
    HOLD = 4  # fault: last good targets held
    STOPPING = 5  # ramping to home before torque off
    OFF = 6  # torque off


HOLD, TORQUE_OFF = "hold", "torque_off"

# fault -> (reaction, exit code)
REACTIONS: dict[str, tuple[str, int]] = {
    "estop": (TORQUE_OFF, 8),
    "servo_error": (TORQUE_OFF, 4),
    "fall": (TORQUE_OFF, 3),
    "nan_action": (HOLD, 6),
    "servo_stale": (HOLD, 4),
    "imu_stale": (HOLD, 5),
    "overrun_burst": (HOLD, 7),
    "gamepad_lost": (HOLD, 9),
    "low_voltage": (HOLD, 10),
    "overheat": (HOLD, 11),
}
EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM = 0, 130, 143


@dataclass(frozen=True)
class SafetyConfig:
    """Thresholds; defaults follow the upstream runtime (3-frame tilt check) where one exists."""

    tilt_limit_rad: float = 0.8  # ~46°: past this the policy never recovers in sim
    fall_cycles: int = 3
    servo_stale_cycles: int = 3  # 60 ms at 50 Hz: one retried timeout is fine, three in a row is not
    imu_stale_s: float = 0.1
    max_consecutive_overruns: int = 5
    gamepad_grace_s: float = 1.0
    hold_s: float = 1.0


@dataclass(frozen=True)
class Fault:
    kind: str
    detail: str

    @property
    def reaction(self) -> str:
        return REACTIONS[self.kind][0]

    @property
    def exit_code(self) -> int:
        return REACTIONS[self.kind][1]


def tilt_rad(gravity_body: np.ndarray) -> float:
    """Angle between the body's -z axis and gravity (0 when upright)."""
    g = np.asarray(gravity_body, dtype=np.float64)
    n = float(np.linalg.norm(g))
    if not np.isfinite(n) or n < 1e-9:
        return float("nan")
    return float(np.arccos(np.clip(-g[2] / n, -1.0, 1.0)))


class SafetyMonitor:
    """Counts consecutive bad cycles and reports the first fault (highest priority first)."""

    def __init__(self, config: SafetyConfig = SafetyConfig()) -> None:
        self.config = config
        self._tilted = 0
        self._servo_bad = 0
        self._last_servo_error = ""

    def check(
        self,
        *,
        estop: bool,
        servo_error: str | None,
        servo_ok: bool,
        servo_detail: str,
        imu_age_s: float,
        gravity: np.ndarray | None,
        action_finite: bool,
        consecutive_overruns: int,
        gamepad_lost_s: float,
        check_fall: bool,
    ) -> Fault | None:
        """One cycle's signals -> the fault to react to, or None."""
        c = self.config
        if estop:
            return Fault("estop", "e-stop button pressed")
        if servo_error:
            return Fault("servo_error", servo_error)
        self._servo_bad = 0 if servo_ok else self._servo_bad + 1
        if not servo_ok:
            self._last_servo_error = servo_detail
        if self._servo_bad >= c.servo_stale_cycles:
            return Fault("servo_stale", f"{self._servo_bad} cycles without fresh servo data: {self._last_servo_error}")
        if not np.isfinite(imu_age_s) or imu_age_s > c.imu_stale_s:
            return Fault("imu_stale",
                         f"IMU sample is {imu_age_s * 1e3:.0f} ms old (limit {c.imu_stale_s * 1e3:.0f} ms)")
        tilt = tilt_rad(gravity) if gravity is not None else float("nan")
        if check_fall:
            self._tilted = self._tilted + 1 if (not np.isfinite(tilt) or tilt > c.tilt_limit_rad) else 0
            if self._tilted >= c.fall_cycles:
                return Fault("fall", f"tilt {np.degrees(tilt):.0f}° > {np.degrees(c.tilt_limit_rad):.0f}° "
                                     f"for {self._tilted} cycles")
        if not action_finite:
            return Fault("nan_action", "policy output is not finite")
        if consecutive_overruns >= c.max_consecutive_overruns:
            return Fault("overrun_burst", f"{consecutive_overruns} consecutive overruns")
        if gamepad_lost_s > c.gamepad_grace_s:
            return Fault("gamepad_lost", f"gamepad gone for {gamepad_lost_s:.1f} s")
        return None
