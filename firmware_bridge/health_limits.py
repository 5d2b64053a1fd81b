"""Health thresholds per servo model: supply voltage and temperature, with their sources.

One small table keyed by model name, so the runtime's health monitor and ``duck
doctor`` read the same numbers. When a per-robot servo profile exists (the
servo model's home), these rows move there unchanged.

X330 rows (XC330-M288-T, XL330-M288-T), ROBOTIS e-manual specifications and
control table:

- operating voltage 3.7 ~ 6.0 V, recommended 5.0 V;
- operating temperature -5 ~ +70 degC; Temperature Limit(31) factory value 70 degC,
  past which the servo sets its overheating bit and drops torque (Shutdown(63)).

The warn/stop levels are ours: stop 0.2 V above the datasheet minimum, so the
servos still have the torque to ramp home; warn 0.4 V above that. Temperatures:
stop 5 degC under the servo's own shutdown, so the robot is put down before a
joint goes limp mid-step; warn 5 degC earlier.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HealthLimits:
    model: str
    min_supply_v: float  # datasheet operating range
    max_supply_v: float
    rated_supply_v: float
    low_voltage_warn_v: float
    low_voltage_stop_v: float
    temperature_warn_c: float
    temperature_stop_c: float
    temperature_limit_c: float  # the servo's own shutdown (Temperature Limit register)
    source: str

    @property
    def supply_range_v(self) -> tuple[float, float]:
        """The supply a run may start on: above the warn level, within the datasheet maximum."""
        return self.low_voltage_warn_v, self.max_supply_v


_X330 = dict(min_supply_v=3.7, max_supply_v=6.0, rated_supply_v=5.0, low_voltage_warn_v=4.3,
             low_voltage_stop_v=3.9, temperature_warn_c=60.0, temperature_stop_c=65.0, temperature_limit_c=70.0)

HEALTH_LIMITS: dict[str, HealthLimits] = {
    "XC330-M288-T": HealthLimits("XC330-M288-T", **_X330,
                                 source="emanual.robotis.com/docs/en/dxl/x/xc330-m288/ (specs, control table)"),
    "XL330-M288-T": HealthLimits("XL330-M288-T", **_X330,
                                 source="emanual.robotis.com/docs/en/dxl/x/xl330-m288/ (specs, control table)"),
}


def health_limits(model: str) -> HealthLimits:
    try:
        return HEALTH_LIMITS[model]
    except KeyError:
        raise ValueError(f"no health limits for servo model {model!r}; known: {sorted(HEALTH_LIMITS)}") from None
