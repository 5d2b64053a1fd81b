"""Rough floors: a heightfield of random bumps on ridges that rise and fall at a slope.

One geometry serves both sides:

- ``duck eval``'s rough-floor transfer row (duck/evaluation/transfer.py) builds one fixed floor;
- training (``dr.terrain``) gives a share of the episodes a floor of their own, with the bump
  height, slope, ridge length and direction drawn per episode. The rest walk on the flat plane.

Every env owns its model when dynamics are randomized, so its floor geom is switched between the
scene's plane and a heightfield at each reset. The plane-switched model steps bit-identically to
the plain scene (tests/test_terrain.py), and only rough episodes pay for heightfield collisions
(~40 % of the sim's throughput when every env has one).

The policy stays blind: nothing of the floor is observed. The rewards and the fall test measure
heights from the floor under the base and the feet (:meth:`Terrain.floor_height`).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from duck.paths import SCENE_XML
from duck.sim.config import TerrainConfig


def ridged_bumps(size_m: float, spacing_m: float, bump_height_m: float, slope_deg: float,
                 slope_length_m: float, rng: np.random.Generator, direction_rad: float = 0.0,
                 phase_m: float = 0.0) -> np.ndarray:
    """(n, n) floor heights (m) on a square grid of ``spacing_m`` over ``size_m``, centred on the
    origin; MuJoCo's layout: columns along x, rows along y.

    Bumps are uniform in [-bump_height_m, 0]. The ridges are a triangle wave along the
    ``direction_rad`` heading: 0 at ``phase_m`` before the origin (a valley), rising at
    ``slope_deg`` for ``slope_length_m``, then falling again."""
    axis = grid_axis(size_m, spacing_m)
    n = axis.size
    x = axis[None, :]
    y = axis[:, None]
    bumps = rng.uniform(0.0, bump_height_m, size=(n, n)) - bump_height_m
    along = x * np.cos(direction_rad) + y * np.sin(direction_rad) + phase_m
    cycle = np.mod(along, 2 * slope_length_m)
    ridge = np.tan(np.deg2rad(slope_deg)) * np.minimum(cycle, 2 * slope_length_m - cycle)
    return bumps + ridge


def grid_axis(size_m: float, spacing_m: float) -> np.ndarray:
    """The sample positions along x (and y) of a floor over ``size_m``, centred on the origin: a
    whole number of cells, each as close to ``spacing_m`` as that allows."""
    return np.linspace(-size_m / 2, size_m / 2, int(round(size_m / spacing_m)) + 1)


def heightfield_scene(n: int, size_m: float, low_m: float, span_m: float, physics_dt_s: float,
                      heights: np.ndarray | None = None) -> mujoco.MjModel:
    """The scene with its floor a heightfield of n x n samples over ``size_m``, elevations from
    ``low_m`` to ``low_m + span_m``; ``heights`` (n, n) fills it (else it lies at ``low_m``)."""
    spec = mujoco.MjSpec.from_file(str(SCENE_XML))
    field = spec.add_hfield()
    field.name = "rough_floor"
    field.nrow = field.ncol = n
    # size: x and y half-extent, elevation range, depth of the base box below the lowest point
    field.size = [size_m / 2, size_m / 2, span_m, 0.05]
    data = np.zeros((n, n)) if heights is None else normalized(heights, low_m, span_m)
    field.userdata = data.ravel().tolist()
    floor = spec.geom("floor")
    floor.type = mujoco.mjtGeom.mjGEOM_HFIELD
    floor.hfieldname = "rough_floor"
    floor.pos = [0.0, 0.0, low_m]
    model = spec.compile()
    model.opt.timestep = physics_dt_s
    return model


def normalized(heights: np.ndarray, low_m: float, span_m: float) -> np.ndarray:
    """Heights as MuJoCo stores them: a fraction of the elevation range above its bottom."""
    return np.clip((heights - low_m) / span_m, 0.0, 1.0)


def _pick(interval: tuple[float, float], u: float) -> float:
    """The point ``u`` (0..1) of the way through ``interval``."""
    return interval[0] + (interval[1] - interval[0]) * u


@dataclass(frozen=True)
class _FloorGeom:
    """The floor geom's fields that differ between the plane and the heightfield."""

    type: int
    size: np.ndarray
    pos: np.ndarray
    rbound: float
    aabb: np.ndarray
    dataid: int

    @staticmethod
    def of(model: mujoco.MjModel, geom: int) -> _FloorGeom:
        return _FloorGeom(int(model.geom_type[geom]), model.geom_size[geom].copy(), model.geom_pos[geom].copy(),
                          float(model.geom_rbound[geom]), model.geom_aabb[geom].copy(), int(model.geom_dataid[geom]))

    def put(self, model: mujoco.MjModel, geom: int) -> None:
        model.geom_type[geom] = self.type
        model.geom_size[geom] = self.size
        model.geom_pos[geom] = self.pos
        model.geom_rbound[geom] = self.rbound
        model.geom_aabb[geom] = self.aabb
        model.geom_dataid[geom] = self.dataid


class Terrain:
    """Per-env floors for training: flat or a drawn rough floor, and the floor's height anywhere."""

    # Uniform draws per reset: rough or flat, bump height, slope, ridge length, direction, phase,
    # and the bumps' own random stream.
    DRAWS = 7

    def __init__(self, cfg: TerrainConfig, num_envs: int, physics_dt_s: float, plane_model: mujoco.MjModel):
        self.cfg = cfg
        axis = grid_axis(cfg.size_m, cfg.bump_spacing_m)
        self.n, self.spacing = axis.size, float(axis[1] - axis[0])
        top = np.tan(np.deg2rad(cfg.slope_deg[1])) * cfg.slope_length_m[1]
        # One elevation range for every draw: the floor spans [-bump max, top] before it is
        # shifted by up to `top` to put the start at z = 0 (reset).
        self.low = -top - cfg.bump_height_m[1] - 1e-4
        self.span = 2 * top + cfg.bump_height_m[1] + 2e-4
        self.model = heightfield_scene(self.n, cfg.size_m, self.low, self.span, physics_dt_s)
        floor = self.model.geom("floor").id
        self.floor_geom = floor
        self.rough_geom = _FloorGeom.of(self.model, floor)
        self.plane_geom = _FloorGeom.of(plane_model, plane_model.geom("floor").id)
        self.plane_geom.put(self.model, floor)  # the base model is flat; rough envs switch
        # The share of resets that draw a rough floor: the config's, unless the trainer holds it at
        # 0 until its start step (TrainConfig.terrain_from_steps).
        self.probability = cfg.probability
        self.rough = np.zeros(num_envs, dtype=bool)
        self.heights = np.zeros((num_envs, self.n, self.n), dtype=np.float32)

    def reset(self, idx: np.ndarray, u: np.ndarray, models: list[mujoco.MjModel]) -> None:
        """New floors for envs ``idx`` from ``u`` (len(idx), DRAWS) uniform draws."""
        cfg = self.cfg
        for j, i in enumerate(idx):  # reset-only
            model = models[i]
            self.rough[i] = u[j, 0] < self.probability
            if not self.rough[i]:
                self.heights[i] = 0.0
                self.plane_geom.put(model, self.floor_geom)
                continue
            length = _pick(cfg.slope_length_m, u[j, 3])
            h = ridged_bumps(cfg.size_m, cfg.bump_spacing_m, _pick(cfg.bump_height_m, u[j, 1]),
                             _pick(cfg.slope_deg, u[j, 2]), length,
                             np.random.default_rng(int(u[j, 6] * 2**63)),
                             direction_rad=2 * np.pi * u[j, 4], phase_m=2 * length * u[j, 5])
            # The robot spawns at home height above z = 0: put the highest point under its feet there.
            h -= self._start_top(h)
            self.heights[i] = h
            self.rough_geom.put(model, self.floor_geom)
            start = model.hfield_adr[0]
            model.hfield_data[start:start + self.n * self.n] = normalized(h, self.low, self.span).ravel()

    def _start_top(self, h: np.ndarray) -> float:
        c = self.n // 2
        r = int(np.ceil(self.cfg.start_radius_m / self.spacing))
        return float(h[c - r:c + r + 1, c - r:c + r + 1].max())

    def floor_height(self, xy: np.ndarray) -> np.ndarray:
        """Floor height under points ``xy`` (num_envs, ..., 2), bilinear in the grid; 0 on flat floors."""
        out = np.zeros(xy.shape[:-1])
        rough = np.flatnonzero(self.rough)
        if rough.size == 0:
            return out
        p = xy[rough]
        half = self.cfg.size_m / 2
        col = np.clip((p[..., 0] + half) / self.spacing, 0, self.n - 1.000001)
        row = np.clip((p[..., 1] + half) / self.spacing, 0, self.n - 1.000001)
        c0, r0 = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
        fc, fr = col - c0, row - r0
        env = rough.reshape((-1,) + (1,) * (p.ndim - 2))
        hm = self.heights
        top = hm[env, r0, c0] * (1 - fc) + hm[env, r0, c0 + 1] * fc
        bottom = hm[env, r0 + 1, c0] * (1 - fc) + hm[env, r0 + 1, c0 + 1] * fc
        out[rough] = top * (1 - fr) + bottom * fr
        return out


__all__ = ["Terrain", "ridged_bumps", "heightfield_scene", "grid_axis", "normalized"]
