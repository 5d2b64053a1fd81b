"""The runtime's own input guards: defence in depth behind the CLI's validation.

``duck run`` already refuses non-finite and out-of-range numbers at parse time, but the
:class:`~duck.runtime.runner.Runner` is also a library API. A NaN ramp time skipped
the start-up ramp (``s = min(1, t / nan)`` is 1 at once), a NaN duration never ends,
and a NaN command reaches the policy. These checks run before the bus is opened.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from duck.contract import CONTRACT, RobotContract
from duck.errors import UserError
from duck.validation import check_number


def check_run_config(cfg: Any) -> None:
    """Raise :class:`UserError` naming the first non-finite or out-of-range setting of a RunConfig."""
    check_number("ramp_s", cfg.ramp_s, 0.0, 60.0, low_open=True)
    check_number("stop_ramp_s", cfg.stop_ramp_s, 0.0, 60.0, low_open=True)
    if cfg.duration_s is not None:
        check_number("duration_s", cfg.duration_s, 0.0, None, low_open=True)
    if getattr(cfg, "ramp_p_fraction", None) is not None:
        check_number("ramp_p_fraction", cfg.ramp_p_fraction, 0.0, 1.0, low_open=True)
    check_number("compute_reserve_s", cfg.compute_reserve_s, 0.0, 0.02)
    check_number("start_tilt_limit_rad", cfg.start_tilt_limit_rad, 0.0, math.pi)
    for name, value in vars(cfg.safety).items():
        if isinstance(value, float):  # thresholds: a NaN one would never trip
            check_number(f"safety.{name}", value)
    for fault in cfg.runtime_faults:
        check_number("runtime fault at_s", fault.at_s, 0.0, None)


def check_command(command: Any, contract: RobotContract = CONTRACT) -> np.ndarray:
    """A fixed velocity command: three finite numbers inside the contract's ranges."""
    values = np.asarray(command, dtype=np.float64)
    low, high = contract.commands.as_arrays()
    if values.shape != (3,) or not np.all(np.isfinite(values)) or np.any(values < low - 1e-9) \
            or np.any(values > high + 1e-9):
        raise UserError(f"command {values.tolist()} is not three finite numbers inside the contract's ranges "
                        f"vx {low[0]}..{high[0]}, vy {low[1]}..{high[1]}, yaw {low[2]}..{high[2]}")
    return values


def finite_command(command: np.ndarray) -> np.ndarray:
    """Per cycle: a teleop that ever yields a non-finite command asks for standing still instead."""
    return command if np.all(np.isfinite(command)) else np.zeros_like(command)
