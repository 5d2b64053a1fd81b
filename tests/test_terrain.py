"""Rough floors in training (duck/sim/terrain.py, ``dr.terrain``), through real MuJoCo."""

from dataclasses import replace

import mujoco
import numpy as np
import pytest

from duck.config import ConfigError, load
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig, TerrainConfig
from duck.sim.terrain import Terrain

CALM = EnvConfig()
CALM = replace(CALM, dr=replace(CALM.dr, push=replace(CALM.dr.push, enabled=False),
                               terrain=TerrainConfig(probability=0.0)))  # flat floors


def terrain_cfg(**kwargs) -> EnvConfig:
    return replace(CALM, dr=replace(CALM.dr, terrain=TerrainConfig(**kwargs)))


def ray_down(model: mujoco.MjModel, xy: np.ndarray) -> np.ndarray:
    """Floor height under each point, by a ray cast on the compiled model (the floor only)."""
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    geom = np.zeros(1, np.int32)
    out = []
    for x, y in xy:
        dist = mujoco.mj_ray(model, data, np.array([x, y, 1.0]), np.array([0.0, 0.0, -1.0]), None, 1, -1, geom)
        assert model.geom(geom[0]).name == "floor"
        out.append(1.0 - dist)
    return np.array(out)


def test_flat_episodes_step_exactly_like_the_plain_scene():
    """The terrain model with its floor switched to the plane is the scene: same trajectory, bit for bit."""
    plain = BatchSim(4, CALM)
    switched = Terrain(TerrainConfig(probability=0.5), 4, CALM.physics_dt_s, plane_model=plain.model).model
    other = BatchSim(4, CALM, model=switched)
    assert other.model.geom("floor").type == mujoco.mjtGeom.mjGEOM_PLANE and other.model.nhfield == 1
    qpos = []
    for sim in (plain, other):
        sim.seed(np.arange(4))
        sim.reset(sim.all)
        rng = np.random.default_rng(0)
        for _ in range(100):
            sim.step(rng.uniform(-0.3, 0.3, (4, sim.contract.action_dim)))
        qpos.append(sim.qpos.copy())
        sim.close()
    np.testing.assert_array_equal(qpos[0], qpos[1])


def test_rough_episodes_get_their_own_floor_and_know_its_height():
    sim = BatchSim(8, terrain_cfg(probability=0.5))
    sim.seed(np.arange(8))
    sim.reset(sim.all)
    rough = np.flatnonzero(sim.terrain.rough)
    flat = np.flatnonzero(~sim.terrain.rough)
    assert rough.size and flat.size  # the seeds give both kinds
    for i in flat:
        assert sim.models[i].geom("floor").type == mujoco.mjtGeom.mjGEOM_PLANE
    points = np.random.default_rng(1).uniform(-3.0, 3.0, (150, 2))
    points = points[np.linalg.norm(points, axis=1) > 0.4]  # away from the robot
    looked_up = sim.terrain.floor_height(np.broadcast_to(points, (8,) + points.shape).copy())
    np.testing.assert_array_equal(looked_up[flat], 0.0)
    for i in rough[:2]:
        model = sim.models[i]
        assert model.geom("floor").type == mujoco.mjtGeom.mjGEOM_HFIELD
        cast = ray_down(model, points)
        assert np.ptp(cast) > 0.005  # really rough
        np.testing.assert_allclose(looked_up[i], cast, atol=0.002)  # bilinear vs MuJoCo's triangles
    # two rough envs drew different floors
    assert not np.array_equal(sim.terrain.heights[rough[0]], sim.terrain.heights[rough[1]])
    sim.close()


def test_heights_are_measured_from_the_floor_under_the_robot():
    """The start's top is at z = 0, and base and foot heights are taken from the floor beneath:
    a robot set down on a slope measures what it measures on the flat."""
    sim = BatchSim(6, terrain_cfg(probability=1.0, bump_height_m=(0.0, 0.0), slope_deg=(4.0, 4.0)))
    sim.seed(np.arange(6))
    sim.reset(sim.all)
    c = sim.terrain.n // 2
    r = int(np.ceil(sim.terrain.cfg.start_radius_m / sim.terrain.spacing))
    for i in range(6):
        assert sim.terrain.heights[i, c - r:c + r + 1, c - r:c + r + 1].max() == pytest.approx(0.0, abs=1e-6)
    no_action = np.zeros((6, sim.contract.action_dim))
    plain = BatchSim(6, CALM)  # the same robots (same seeds, same pose draws) on the flat floor
    plain.seed(np.arange(6))
    plain.reset(plain.all)
    np.testing.assert_array_equal(plain.qpos, sim.qpos)
    on_flat = plain._step_state(no_action, plain.foot_contact)
    # Move every robot 1 m along +y, onto the floor's height there: the measured heights follow.
    lift = sim.terrain.floor_height(np.tile([[0.0, 1.0]], (6, 1)))
    assert np.ptp(lift) > 0.01  # the ridges' directions and phases differ
    sim.state[:, 1 + 1] += 1.0  # qpos y
    sim.state[:, 1 + 2] += lift
    sim.sensors[:] = sim._forward_sensors(sim.all)
    moved = sim._step_state(no_action, sim.foot_contact)
    # Only the slope's rise between base and foot differs: tan(4 deg) x the feet's ~6 cm offset.
    np.testing.assert_allclose(moved.base_height, on_flat.base_height, atol=1e-9)
    np.testing.assert_allclose(moved.foot_height, on_flat.foot_height, atol=0.0055)
    assert np.abs(moved.foot_height - on_flat.foot_height).max() > 1e-4  # ...but it does differ
    sim.close()
    plain.close()


def test_terrain_config_is_strict():
    with pytest.raises(ConfigError, match="probability"):
        load(EnvConfig, None, ["dr.terrain.probability=1.5"])
    with pytest.raises(ConfigError):
        load(EnvConfig, None, ["dr.terrain.roughness=1"])
    assert load(EnvConfig, None, ["dr.terrain.probability=0.5"]).dr.terrain.probability == 0.5
    assert BatchSim(1, EnvConfig()).terrain is None  # off by default
    assert BatchSim(1, load(EnvConfig, None, ["dr.terrain.probability=0.5"])).terrain is not None
    on_but_no_dr = load(EnvConfig, None, ["dr.terrain.probability=0.5", "dr.enabled=false"])
    assert BatchSim(1, on_but_no_dr).terrain is None  # floors are part of the randomization


def test_eval_walks_on_the_scene_floor():
    """The randomized-dynamics row measures the training randomization on the flat floor; the
    rough floor is the transfer section's own row."""
    from duck.evaluation.episodes import eval_config

    cfg = eval_config(load(EnvConfig, None, ["dr.terrain.probability=0.5"]), 5.0, randomize=True)
    assert cfg.dr.enabled and cfg.dr.terrain.probability == 0.0
    assert BatchSim(2, cfg).terrain is None


def test_rough_floors_start_at_the_configured_step():
    """TrainConfig.terrain_from_steps: flat floors before it, the config's share from it on."""
    from types import SimpleNamespace

    from stable_baselines3.common.logger import configure

    from duck.train.config import TrainConfig
    from duck.train.runner import TrainingCallback, rough_floor_probability

    cfg = load(TrainConfig, None, ["env.dr.terrain.probability=1.0", "terrain_from_steps=5000",
                                   "score.enabled=false"])
    assert rough_floor_probability(cfg, 4999) == 0.0 and rough_floor_probability(cfg, 5000) == 1.0
    sim = BatchSim(4, cfg.env)
    callback = TrainingCallback(cfg, run_dir=None, total_steps=1)
    callback.sim, callback.model = sim, SimpleNamespace(logger=configure(None, []))
    for steps, rough in ((0, False), (4999, False), (5000, True)):
        callback.num_timesteps = steps
        callback._update_terrain()
        sim.reset(sim.all)
        assert np.all(sim.terrain.rough == rough), steps
        assert (np.ptp(sim.terrain.heights, axis=(1, 2)) > 0).all() == rough
    with pytest.raises(ConfigError):
        load(TrainConfig, None, ["terrain_from_steps=-1"])
