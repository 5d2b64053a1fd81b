"""Loading the MuJoCo model and applying per-episode dynamics randomization."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from duck.contract import CONTRACT, RobotContract
from duck.errors import UserError
from duck.paths import SCENE_XML
from duck.sim.actuators import JointServos, write_actuators
from duck.sim.config import DomainRandomization


def load_model(physics_dt_s: float | None = None, path=SCENE_XML) -> mujoco.MjModel:
    try:
        model = mujoco.MjModel.from_xml_path(str(path))
    except ValueError as exc:
        raise UserError(f"cannot load MuJoCo model {path}: {str(exc).splitlines()[0]}") from None
    if physics_dt_s is not None:
        model.opt.timestep = physics_dt_s
    return model


@dataclass(frozen=True)
class ModelIndex:
    """Addresses into qpos/qvel/sensordata, resolved by name once."""

    qpos_joints: np.ndarray  # contract joint order
    qvel_joints: np.ndarray
    gyro: slice
    accel: slice
    foot_touch: np.ndarray  # (2,) right, left
    foot_pos: tuple[slice, slice]
    foot_vel: tuple[slice, slice]
    home_qpos: np.ndarray
    trunk_body: int
    sole_geoms: np.ndarray
    floor_geom: int
    mass: float

    @staticmethod
    def build(model: mujoco.MjModel, contract: RobotContract = CONTRACT) -> ModelIndex:
        actuator_names = [model.actuator(i).name for i in range(model.nu)]
        if tuple(actuator_names) != contract.joint_names:
            raise UserError(f"model actuators {actuator_names} do not match the contract {contract.joint_names}")

        def sensor(name: str) -> slice:
            s = model.sensor(name)
            return slice(int(s.adr[0]), int(s.adr[0] + s.dim[0]))

        key = model.key("home").id
        return ModelIndex(
            qpos_joints=np.array([model.jnt_qposadr[model.joint(n).id] for n in contract.joint_names]),
            qvel_joints=np.array([model.jnt_dofadr[model.joint(n).id] for n in contract.joint_names]),
            gyro=sensor("imu_gyro"),
            accel=sensor("imu_accel"),
            foot_touch=np.array([sensor("right_foot_touch").start, sensor("left_foot_touch").start]),
            foot_pos=(sensor("right_foot_pos"), sensor("left_foot_pos")),
            foot_vel=(sensor("right_foot_vel"), sensor("left_foot_vel")),
            home_qpos=model.key_qpos[key].copy(),
            trunk_body=model.body("trunk").id,
            sole_geoms=np.array([model.geom("right_sole").id, model.geom("left_sole").id]),
            floor_geom=model.geom("floor").id,
            mass=float(model.body_subtreemass[model.body("trunk").id]),
        )


@dataclass(frozen=True)
class Nominal:
    """Copies of the nominal model parameters that randomization scales."""

    body_mass: np.ndarray
    body_inertia: np.ndarray
    body_ipos: np.ndarray
    gainprm0: np.ndarray
    biasprm1: np.ndarray
    biasprm2: np.ndarray
    forcerange: np.ndarray
    damping: np.ndarray
    armature: np.ndarray
    frictionloss: np.ndarray
    geom_friction: np.ndarray

    @staticmethod
    def of(model: mujoco.MjModel) -> Nominal:
        return Nominal(
            body_mass=model.body_mass.copy(),
            body_inertia=model.body_inertia.copy(),
            body_ipos=model.body_ipos.copy(),
            gainprm0=model.actuator_gainprm[:, 0].copy(),
            biasprm1=model.actuator_biasprm[:, 1].copy(),
            biasprm2=model.actuator_biasprm[:, 2].copy(),
            forcerange=model.actuator_forcerange.copy(),
            damping=model.dof_damping.copy(),
            armature=model.dof_armature.copy(),
            frictionloss=model.dof_frictionloss.copy(),
            geom_friction=model.geom_friction.copy(),
        )


@dataclass
class DynamicsSample:
    """One env's randomized dynamics, drawn as uniform numbers in a fixed layout."""

    friction: float
    mass_scale: np.ndarray  # (nbody,)
    com_offset: np.ndarray  # (2,)
    supply_v: float  # the servos' supply voltage
    error_gain_scale: np.ndarray  # (nu,) per servo, in contract (= actuator) order
    kt_scale: np.ndarray
    resistance_scale: np.ndarray
    coulomb_scale: np.ndarray
    viscous_scale: np.ndarray
    armature_scale: np.ndarray


def draw_dynamics(u: np.ndarray, model: mujoco.MjModel, dr: DomainRandomization) -> list[DynamicsSample]:
    """Map uniform draws u (n, dynamics_draws(model)) to dynamics samples."""

    def scale(cols: np.ndarray, interval: tuple[float, float]) -> np.ndarray:
        return interval[0] + (interval[1] - interval[0]) * cols

    nb, nu = model.nbody, model.nu
    out, c = [], 0
    for row in u:
        c = 0

        def take(n: int, row=row) -> np.ndarray:
            nonlocal c
            cols = row[c:c + n]
            c += n
            return cols

        out.append(DynamicsSample(
            friction=float(scale(take(1), dr.floor_friction)[0]),
            mass_scale=scale(take(nb), dr.link_mass_scale),
            com_offset=(take(2) * 2 - 1) * dr.trunk_com_offset_m,
            supply_v=float(scale(take(1), dr.supply_v)[0]),
            error_gain_scale=scale(take(nu), dr.servo_error_gain_scale),
            kt_scale=scale(take(nu), dr.servo_kt_scale),
            resistance_scale=scale(take(nu), dr.servo_resistance_scale),
            coulomb_scale=scale(take(nu), dr.servo_coulomb_scale),
            viscous_scale=scale(take(nu), dr.servo_viscous_scale),
            armature_scale=scale(take(nu), dr.armature_scale),
        ))
    return out


def dynamics_draws(model: mujoco.MjModel) -> int:
    return 1 + model.nbody + 2 + 1 + model.nu * 6


def apply_dynamics(model: mujoco.MjModel, nominal: Nominal, idx: ModelIndex, s: DynamicsSample | None,
                   servos: JointServos | None = None) -> None:
    """Write a sample (or the nominal values, for ``None``) into ``model``. The servos' MuJoCo
    parameters come from the servo model (``servos``, default: the contract's at the profile)."""
    if s is None:
        model.body_mass[:] = nominal.body_mass
        model.body_inertia[:] = nominal.body_inertia
        model.body_ipos[:] = nominal.body_ipos
        model.actuator_gainprm[:, 0] = nominal.gainprm0
        model.actuator_biasprm[:, 1] = nominal.biasprm1
        model.actuator_biasprm[:, 2] = nominal.biasprm2
        model.actuator_forcerange[:] = nominal.forcerange
        model.dof_damping[:] = nominal.damping
        model.dof_armature[:] = nominal.armature
        model.dof_frictionloss[:] = nominal.frictionloss
        model.geom_friction[:] = nominal.geom_friction
        return
    model.actuator_biasprm[:, 2] = nominal.biasprm2
    model.body_mass[:] = nominal.body_mass * s.mass_scale
    model.body_inertia[:] = nominal.body_inertia * s.mass_scale[:, None]
    model.body_ipos[:] = nominal.body_ipos
    model.body_ipos[idx.trunk_body, :2] += s.com_offset
    model.dof_damping[:] = nominal.damping
    model.dof_armature[:] = nominal.armature
    model.dof_frictionloss[:] = nominal.frictionloss
    servos = servos if servos is not None else _default_servos()
    write_actuators(model, idx.qvel_joints, servos.arrays(
        s.supply_v, kt_scale=s.kt_scale, resistance_scale=s.resistance_scale, error_gain_scale=s.error_gain_scale,
        coulomb_scale=s.coulomb_scale, viscous_scale=s.viscous_scale, armature_scale=s.armature_scale))
    model.geom_friction[:] = nominal.geom_friction
    # MuJoCo uses the max friction of a contact pair; randomize floor and soles together.
    model.geom_friction[idx.floor_geom, 0] = s.friction
    model.geom_friction[idx.sole_geoms, 0] = s.friction


_SERVOS: list[JointServos] = []


def _default_servos() -> JointServos:
    if not _SERVOS:
        _SERVOS.append(JointServos.build())
    return _SERVOS[0]
