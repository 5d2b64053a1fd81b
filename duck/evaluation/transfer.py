"""The transfer section of ``duck eval``: named conditions outside the training randomization.

Each condition is run on nominal dynamics with only that condition changed (no domain
randomization on top, so a row measures the condition alone), through the same three tests as
the randomized-dynamics row of the sim-to-sim section: the fixed commands, random-command
tracking and kicks (half the push section's episodes). A row meets the bar (issue 21) when

- fixed-command and tracking survival are both >= 0.9,
- the forward vx at the 0.15 m/s command is >= 0.09 m/s, and
- 0.6 m/s kick survival is >= 0.7.

``--set transfer.enabled=false`` drops the section, ``--set transfer.<condition>.enabled=false``
one row, ``--set transfer.only=[late,slippery]`` keeps just those, and each condition's setting is
a key too (``--set transfer.slippery.floor_friction=0.3``).
Servo-level conditions (stiffness, supply voltage, backlash) go through
duck/sim/servo_conditions.py, the one adapter between a servo property and the sim's actuators.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import mujoco
import numpy as np

from duck.config import ConfigError, check_range
from duck.contract import CONTRACT
from duck.sim import servo_conditions
from duck.sim.config import EnvConfig, check_floor_geometry
from duck.sim.terrain import grid_axis, heightfield_scene, ridged_bumps

TRANSFER_BAR = {"survival_rate": 0.9, "forward_achieved_vx_mps": 0.09, "push_0.6_survival_rate": 0.7}


class Condition:
    """A change to the sim: ``build_model`` (another scene, or None for the default) before the
    sim is built, ``apply`` after its reset."""

    enabled: bool = True

    def build_model(self, cfg: EnvConfig, seed: int) -> mujoco.MjModel | None:
        return None

    def apply(self, sim, cfg: EnvConfig) -> None:
        pass

    def describe(self, cfg: EnvConfig) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class ServoStiffness(Condition):
    """Every servo's position stiffness x ``scale`` (P gain lower or higher, a tired servo)."""

    enabled: bool = True
    scale: float = 0.7

    def validate(self) -> None:
        check_range("scale", self.scale, 0.05, 10.0)

    def apply(self, sim, cfg: EnvConfig) -> None:
        servo_conditions.scale_stiffness(sim, self.scale)

    def describe(self, cfg: EnvConfig) -> str:
        return f"stiffness x{self.scale:g}"


@dataclass(frozen=True)
class LowBattery(Condition):
    """Supply voltage ``below_trained`` (a fraction) under the bottom of the trained range."""

    enabled: bool = True
    below_trained: float = 0.10

    def validate(self) -> None:
        check_range("below_trained", self.below_trained, 0.0, 0.9)

    def supply_scale(self, cfg: EnvConfig) -> float:
        return servo_conditions.trained_supply_range(cfg)[0] * (1.0 - self.below_trained)

    def apply(self, sim, cfg: EnvConfig) -> None:
        servo_conditions.set_supply_scale(sim, self.supply_scale(cfg))

    def describe(self, cfg: EnvConfig) -> str:
        return (f"supply x{self.supply_scale(cfg):.3f} of nominal (trained range bottom "
                f"x{servo_conditions.trained_supply_range(cfg)[0]:g}, -{self.below_trained:.0%})")


@dataclass(frozen=True)
class Backlash(Condition):
    """``play_deg`` of gear play (total) in every leg joint."""

    enabled: bool = True
    play_deg: float = 1.0

    def validate(self) -> None:
        check_range("play_deg", self.play_deg, 0.0, 10.0)

    def apply(self, sim, cfg: EnvConfig) -> None:
        servo_conditions.add_backlash(sim, np.deg2rad(self.play_deg), sim.leg_joints)

    def describe(self, cfg: EnvConfig) -> str:
        return f"{self.play_deg:g} deg play per leg joint"


@dataclass(frozen=True)
class Late(Condition):
    """Every action reaches the servos ``steps`` control steps late (training draws 0-2)."""

    enabled: bool = True
    steps: int = 3

    def validate(self) -> None:
        check_range("steps", self.steps, 0, 4)  # the sim's latency buffer holds 5

    def apply(self, sim, cfg: EnvConfig) -> None:
        sim.action_latency[:] = self.steps

    def describe(self, cfg: EnvConfig) -> str:
        return f"action latency {self.steps} steps ({self.steps * CONTRACT.control_dt_s * 1000:.0f} ms)"


@dataclass(frozen=True)
class Slippery(Condition):
    """Floor (and sole) friction coefficient ``floor_friction`` (training draws 0.5-1.2)."""

    enabled: bool = True
    floor_friction: float = 0.35

    def validate(self) -> None:
        check_range("floor_friction", self.floor_friction, 0.01, 3.0)

    def apply(self, sim, cfg: EnvConfig) -> None:
        geoms = [sim.idx.floor_geom, *sim.idx.sole_geoms]  # MuJoCo takes the pair's max (or the soles')
        for m in {id(m): m for m in sim.models}.values():
            m.geom_friction[geoms, 0] = self.floor_friction
        sim.dynamics_params[:, 0] = self.floor_friction

    def describe(self, cfg: EnvConfig) -> str:
        return f"floor friction {self.floor_friction:g}"


@dataclass(frozen=True)
class Payload(Condition):
    """``mass_kg`` more on the trunk, which moves the loaded trunk's centre of mass ``com_back_m``
    backwards (training: +-1 cm, mass x0.9-1.1)."""

    enabled: bool = True
    mass_kg: float = 0.12
    com_back_m: float = 0.02

    def validate(self) -> None:
        check_range("mass_kg", self.mass_kg, 0.0, 2.0)
        check_range("com_back_m", self.com_back_m, -0.1, 0.1)

    def apply(self, sim, cfg: EnvConfig) -> None:
        b = sim.idx.trunk_body
        for m in {id(m): m for m in sim.models}.values():
            trunk, extra, shift = float(m.body_mass[b]), self.mass_kg, self.com_back_m
            # Where the payload sits (from the old CoM, along -x) for the loaded CoM to move by `shift`;
            # parallel-axis terms for both parts about the new CoM (y and z axes).
            payload_x = shift * (trunk + extra) / extra if extra > 0 else 0.0
            added = trunk * shift ** 2 + extra * (payload_x - shift) ** 2
            m.body_mass[b] = trunk + extra
            m.body_ipos[b, 0] -= shift
            m.body_inertia[b, 1:] += added

    def describe(self, cfg: EnvConfig) -> str:
        return f"+{self.mass_kg * 1000:.0f} g on the trunk, its CoM {self.com_back_m * 100:g} cm back"


@dataclass(frozen=True)
class RoughFloor(Condition):
    """A heightfield floor: random bumps of up to ``bump_height_m`` on a ``bump_spacing_m`` grid, on
    ridges that rise and fall at ``slope_deg`` over ``slope_length_m`` along x (the robot starts in a
    valley facing +x, so walking forward goes up, then down). A ``start_pad_m`` square around the
    start is flat, at the bumps' top, so the robot starts standing on it."""

    enabled: bool = True
    bump_height_m: float = 0.01
    bump_spacing_m: float = 0.04
    slope_deg: float = 3.0
    slope_length_m: float = 1.0
    size_m: float = 12.0
    start_pad_m: float = 0.3

    def validate(self) -> None:
        check_floor_geometry(self)
        check_range("start_pad_m", self.start_pad_m, 0.0, 1.0)

    def heights(self, seed: int) -> tuple[np.ndarray, float]:
        """(nrow, ncol) floor heights relative to the start pad (m), and the grid's cell size."""
        h = ridged_bumps(self.size_m, self.bump_spacing_m, self.bump_height_m, self.slope_deg,
                         self.slope_length_m, np.random.default_rng(seed))
        axis = grid_axis(self.size_m, self.bump_spacing_m)
        pad = (np.abs(axis[None, :]) <= self.start_pad_m / 2) & (np.abs(axis[:, None]) <= self.start_pad_m / 2)
        h[pad] = 0.0
        return h, float(axis[1] - axis[0])

    def build_model(self, cfg: EnvConfig, seed: int) -> mujoco.MjModel:
        h, _ = self.heights(seed)
        low, high = float(h.min()), float(h.max())
        return heightfield_scene(h.shape[0], self.size_m, low, max(high - low, 1e-6), cfg.physics_dt_s, h)

    def describe(self, cfg: EnvConfig) -> str:
        return (f"bumps up to {self.bump_height_m * 100:g} cm every {self.bump_spacing_m * 100:g} cm, "
                f"{self.slope_deg:g} deg up and down ({self.slope_length_m:g} m each)")


@dataclass(frozen=True)
class TransferSettings:
    """Which conditions the transfer section runs, and their settings (issue 21's table)."""

    enabled: bool = True
    only: tuple[str, ...] = ()  # run just these conditions (e.g. [late, slippery]); empty: every enabled one
    soft_servos: ServoStiffness = field(default_factory=lambda: ServoStiffness(scale=0.7))
    stiff_servos: ServoStiffness = field(default_factory=lambda: ServoStiffness(scale=1.5))
    low_battery: LowBattery = field(default_factory=LowBattery)
    backlash: Backlash = field(default_factory=Backlash)
    late: Late = field(default_factory=Late)
    slippery: Slippery = field(default_factory=Slippery)
    payload: Payload = field(default_factory=Payload)
    rough_floor: RoughFloor = field(default_factory=RoughFloor)

    def validate(self) -> None:
        unknown = set(self.only) - set(self._names())
        if unknown:
            raise ConfigError(f"only: unknown condition(s) {sorted(unknown)} (valid: {', '.join(self._names())})")

    def _names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if f.name not in ("enabled", "only")]

    def conditions(self) -> dict[str, Condition]:
        """The enabled conditions by name, in table order (none when the section is off)."""
        if not self.enabled:
            return {}
        return {name: getattr(self, name) for name in self._names()
                if getattr(self, name).enabled and (not self.only or name in self.only)}


def row_figures(row: dict) -> dict[str, float]:
    """Each of a row's four figures divided by its bar (:data:`TRANSFER_BAR`): >= 1 meets it."""
    return {"fixed_survival": row["fixed_survival_rate"] / TRANSFER_BAR["survival_rate"],
            "tracking_survival": row["tracking_survival_rate"] / TRANSFER_BAR["survival_rate"],
            "forward_vx": row["forward_achieved_vx_mps"] / TRANSFER_BAR["forward_achieved_vx_mps"],
            "kick_0.6": row["push_survival_rate_by_kick_mps"]["0.6"] / TRANSFER_BAR["push_0.6_survival_rate"]}


def row_margin(row: dict) -> float:
    """The row's worst figure relative to its bar; the row meets the bar when it is >= 1."""
    return min(row_figures(row).values())


def row_meets_bar(row: dict) -> bool:
    """Whether one transfer row meets issue 21's bar: every figure at or above its bar."""
    return row_margin(row) >= 1.0
