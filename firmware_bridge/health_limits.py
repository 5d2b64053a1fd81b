"""Health thresholds per servo model: supply voltage and temperature, derived from the servo model.

The facts come from :mod:`firmware_bridge.servo_model` (one servo model: its
``rated_supply_v`` and ``max_temperature_c`` carry their datasheet/e-manual
sources there; for the X330s 3.7 ~ 6.0 V and the 70 degC Temperature Limit
past which the servo sets its overheating bit and drops torque). This module
only adds the margins the runtime acts on, the same for every model:

- stop ``STOP_MARGIN_V`` above the rated minimum, so the servos still have the
  torque to ramp home; warn ``WARN_MARGIN_V`` above the stop level;
- stop ``STOP_MARGIN_C`` under the servo's own shutdown, so the robot is put down
  before a joint goes limp mid-step; warn ``WARN_MARGIN_C`` under the stop level.

A run may start (and ``duck doctor`` passes) on a supply between the warn level
and the rated maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

STOP_MARGIN_V = 0.2
WARN_MARGIN_V = 0.4
STOP_MARGIN_C = 5.0
WARN_MARGIN_C = 5.0


@dataclass(frozen=True)
class HealthLimits:
    model: str
    min_supply_v: float  # the servo model's rated range
    max_supply_v: float
    rated_supply_v: float  # nominal
    low_voltage_warn_v: float
    low_voltage_stop_v: float
    temperature_warn_c: float
    temperature_stop_c: float
    temperature_limit_c: float  # the servo's own shutdown (Temperature Limit register)
    source: str

    @property
    def supply_range_v(self) -> tuple[float, float]:
        """The supply a run may start on: above the warn level, within the rated maximum."""
        return self.low_voltage_warn_v, self.max_supply_v


def health_limits(model: str) -> HealthLimits:
    """Thresholds for ``model`` (ValueError for a model the servo model does not know)."""
    from firmware_bridge.servo_model import servo_params

    p = servo_params(model)
    lo, hi = p.rated_supply_v
    stop_v = round(lo + STOP_MARGIN_V, 2)
    stop_c = p.max_temperature_c - STOP_MARGIN_C
    return HealthLimits(
        model=p.model, min_supply_v=lo, max_supply_v=hi, rated_supply_v=p.nominal_supply_v,
        low_voltage_warn_v=round(stop_v + WARN_MARGIN_V, 2), low_voltage_stop_v=stop_v,
        temperature_warn_c=stop_c - WARN_MARGIN_C, temperature_stop_c=stop_c,
        temperature_limit_c=p.max_temperature_c,
        source="; ".join(p.sources.get(k, "") for k in ("rated_supply_v", "max_temperature_c")),
    )
