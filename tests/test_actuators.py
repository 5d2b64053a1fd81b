"""The sim's actuators are the servo model: generated MJCF, the same law under randomization, and
each joint's stiffness in the sim env, measured, equal to the servo model's at the gains `duck run`
writes."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from duck.contract import CONTRACT
from duck.paths import ROBOT_XML
from duck.servo_profile import SERVO_PROFILE
from duck.sim.actuators import JointServos, regenerate
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig, no_randomization
from duck.sim.model import apply_dynamics, draw_dynamics, dynamics_draws
from firmware_bridge.servo_model import mjcf_actuator, servo_params, small_error_stiffness


def test_mjcf_servo_classes_are_generated_from_the_servo_model():
    text = ROBOT_XML.read_text()
    assert regenerate(text) == text, "mjcf/duck.xml is stale: run python -m duck.sim.actuators --write"


def test_compiled_actuators_equal_the_servo_law():
    sim = BatchSim(1, no_randomization(EnvConfig()))
    m, dofs = sim.model, sim.idx.qvel_joints
    for i, joint in enumerate(CONTRACT.joints):
        a = mjcf_actuator(servo_params(joint.servo_model), SERVO_PROFILE.gains_for(joint.servo_model),
                          SERVO_PROFILE.nominal_supply_v)
        got = (m.actuator_gainprm[i, 0], -m.actuator_biasprm[i, 2], m.actuator_forcerange[i, 1],
               m.dof_damping[dofs[i]], m.dof_frictionloss[dofs[i]], m.dof_armature[dofs[i]])
        want = (a.kp, a.kv, a.forcerange, a.damping, a.frictionloss, a.armature)
        np.testing.assert_allclose(got, want, rtol=1e-3, err_msg=joint.name)
    sim.close()


def test_randomization_draws_the_trained_supply_range_through_the_same_law():
    assert EnvConfig().dr.supply_v == SERVO_PROFILE.supply_range_v
    sim = BatchSim(1, no_randomization(EnvConfig()))
    model = sim.model
    u = np.random.default_rng(0).uniform(size=(1, dynamics_draws(model)))
    (sample,) = draw_dynamics(u, model, EnvConfig().dr)
    assert 4.5 <= sample.supply_v <= 5.3
    randomized = mujoco.MjModel.from_xml_path(str(ROBOT_XML.parent / "scene.xml"))
    apply_dynamics(randomized, sim.nominal, sim.idx, sample)
    servos = JointServos.build()
    for i, joint in enumerate(CONTRACT.joints):
        p = servo_params(joint.servo_model).with_overrides(
            kt_nm_per_a=servo_params(joint.servo_model).kt_nm_per_a * sample.kt_scale[i],
            resistance_ohm=servo_params(joint.servo_model).resistance_ohm * sample.resistance_scale[i],
            duty_per_p_rad=servo_params(joint.servo_model).duty_per_p_rad * sample.error_gain_scale[i])
        k = small_error_stiffness(p, servos.gains[i], sample.supply_v)
        assert randomized.actuator_gainprm[i, 0] == pytest.approx(k, rel=1e-9), joint.name
    sim.close()


def measured_stiffness(model: mujoco.MjModel, dof: int, qadr: int, act: int, home_qpos: np.ndarray,
                       torque_nm: float) -> float:
    """Small-error stiffness of one joint in the env's model, by step responses: the trunk held 10 cm
    up (feet in the air), no gravity, a step of external torque; the joint settles where the servo balances it. Coulomb
    friction stops it short by fc/K, from either side, so the settled deflection is averaged over an
    approach from below (start at the goal) and from above (start at twice the expected deflection)."""
    model = _copy(model)
    model.opt.gravity[:] = 0.0
    data = mujoco.MjData(model)
    settled = []
    for start in (0.0, 2.0 * torque_nm / model.actuator_gainprm[act, 0]):
        mujoco.mj_resetData(model, data)
        data.qpos[:] = home_qpos
        data.ctrl[:] = CONTRACT.home
        data.qpos[qadr] = home_qpos[qadr] + start
        data.qpos[2] += 0.1
        data.qfrc_applied[dof] = torque_nm
        free = data.qpos[:7].copy()
        for _ in range(int(1.5 / model.opt.timestep)):
            mujoco.mj_step(model, data)
            data.qpos[:7], data.qvel[:6] = free, 0.0  # hold the trunk
        assert abs(data.qvel[dof]) < 1e-2
        settled.append(data.qpos[qadr] - home_qpos[qadr])
    return torque_nm / float(np.mean(settled))


def _copy(model: mujoco.MjModel) -> mujoco.MjModel:
    import copy

    return copy.copy(model)


def test_each_joints_stiffness_in_the_sim_env_is_the_servo_models_at_the_gains_duck_run_writes():
    sim = BatchSim(1, no_randomization(EnvConfig()))
    for i, joint in enumerate(CONTRACT.joints):
        gains = SERVO_PROFILE.gains_for(joint.servo_model)  # what `duck run` writes after the ramp
        expected = small_error_stiffness(servo_params(joint.servo_model), gains, SERVO_PROFILE.nominal_supply_v)
        # A torque a fifth of the stall torque: well inside the unsaturated range.
        torque = 0.2 * servo_params(joint.servo_model).stall_torque_nm(SERVO_PROFILE.nominal_supply_v)
        k = measured_stiffness(sim.model, sim.idx.qvel_joints[i], sim.idx.qpos_joints[i], i, sim.idx.home_qpos,
                               torque)
        assert k == pytest.approx(expected, rel=0.05), f"{joint.name}: {k:.3f} vs {expected:.3f} N m/rad"
    sim.close()
