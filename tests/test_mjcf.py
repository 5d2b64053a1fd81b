"""The MuJoCo model: compiles, steps without warnings, stands, agrees with the contract and its card."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from duck.contract import CONTRACT
from duck.paths import MJCF_DIR, ROBOT_XML, SCENE_XML
from duck.sim import model_card


@pytest.fixture(scope="module")
def model():
    return mujoco.MjModel.from_xml_path(str(SCENE_XML))


def _warnings(data: mujoco.MjData) -> list[str]:
    return [mujoco.mjtWarning(i).name for i, w in enumerate(data.warning) if w.number > 0]


@pytest.mark.parametrize("path", [SCENE_XML, ROBOT_XML])
def test_every_xml_compiles_and_steps_10s_with_control_noise_without_warnings(path):
    model = mujoco.MjModel.from_xml_path(str(path))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    rng = np.random.default_rng(0)
    for _ in range(int(10.0 / model.opt.timestep)):
        data.ctrl[:] = model.key_ctrl[0] + rng.normal(0.0, 0.05, model.nu)
        mujoco.mj_step(model, data)
    assert _warnings(data) == []
    assert np.all(np.isfinite(data.qpos))


def test_home_ctrl_stands_unassisted_for_10s(model):
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    documented = model_card.measured_totals(model)["home_trunk_height_m"]
    max_tilt = 0.0
    for _ in range(int(10.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
        up = data.xmat[model.body("trunk").id].reshape(3, 3)[:, 2]
        max_tilt = max(max_tilt, np.degrees(np.arccos(np.clip(up[2], -1, 1))))
    assert max_tilt < 10.0
    assert data.qpos[2] == pytest.approx(documented, abs=0.02)
    assert data.qpos[2] == pytest.approx(0.155, abs=0.02)  # the card's documented height
    assert np.linalg.norm(data.qpos[:2]) < 0.02  # did not walk away
    assert _warnings(data) == []


def test_actuators_keyframe_and_ranges_match_the_contract(model):
    assert tuple(model.actuator(i).name for i in range(model.nu)) == CONTRACT.joint_names
    for i, joint in enumerate(CONTRACT.joints):
        assert model.joint(model.actuator_trnid[i, 0]).name == joint.name
        np.testing.assert_allclose(model.jnt_range[model.joint(joint.name).id], [joint.lower_rad, joint.upper_rad])
        np.testing.assert_allclose(model.actuator_ctrlrange[i], [joint.lower_rad, joint.upper_rad])
    key = model.key("home").id
    np.testing.assert_allclose(model.key_ctrl[key], CONTRACT.home)
    qpos_adr = [model.jnt_qposadr[model.joint(n).id] for n in CONTRACT.joint_names]
    np.testing.assert_allclose(model.key_qpos[key][qpos_adr], CONTRACT.home)


def test_servo_classes_per_model(model):
    # Stall torque at 5 V per servo model (datasheet 0.93 N m; BAM's XL330 set 0.529 vs datasheet 0.52);
    # tests/test_actuators.py checks every actuator number against the servo model.
    for i, joint in enumerate(CONTRACT.joints):
        limit = 0.93 if joint.servo_model == "XC330-M288-T" else 0.52
        np.testing.assert_allclose(model.actuator_forcerange[i], [-limit, limit], rtol=0.02)


def test_counts_are_pinned(model):
    assert (model.nq, model.nv, model.nu, model.nbody) == (20, 19, 13, 15)
    assert model.nsensor == 10


def test_imu_and_foot_sensors_exist(model):
    for name in ("imu_gyro", "imu_accel", "imu_quat", "right_foot_touch", "left_foot_touch",
                 "right_foot_pos", "left_foot_pos"):
        assert model.sensor(name) is not None
    assert model.site("imu").id >= 0


def test_model_card_totals_and_joint_table_are_current():
    card = (MJCF_DIR / "README.md").read_text()
    assert model_card.render(card, model_card.generated()) == card, \
        "mjcf/README.md is stale: run python -m duck.sim.model_card --write"
    totals = model_card.measured_totals()
    assert 1.0 <= totals["mass_kg"] <= 1.3
    assert totals["standing_height_straight_m"] == pytest.approx(0.35, abs=0.02)
