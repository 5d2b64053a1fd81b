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


@pytest.mark.parametrize("noise", [0.0, model_card.SERVO_NOISE_RAD], ids=["held", "servo_noise"])
def test_home_stands_10s_with_ctrl_held_and_with_servo_noise(model, noise):
    """Height and tilt as documented in the card, and near upstream's own model standing at its
    start pose (the same leg; upstream leans its trunk back 0.087 rad with its servo gains)."""
    s = model_card.stance(noise, model=model)
    settled = model_card.measured_totals(model)
    assert s["height_m"] == pytest.approx(settled["home_trunk_height_m"], abs=0.005)
    assert s["max_tilt_rad"] < 0.2  # ~11 degrees: the home stance leans back, it does not tip
    assert s["drift_m"] < 0.02  # did not walk away
    upstream = model_card.upstream_reference()["standing"]
    assert s["height_m"] == pytest.approx(upstream["hip_yaw_midpoint_height"] - model_card.HIP_YAW_ABOVE_TRUNK_M,
                                          abs=0.01)
    assert -0.2 < s["pitch_rad"] < 0.0  # nose up, as the real pose's toe-down soles make it


def test_home_pose_puts_the_soles_where_upstreams_start_pose_does_with_the_knee_behind_the_hip():
    ours = model_card.home_geometry()
    ref = model_card.upstream_reference()["start_pose_fk"]
    for side in ("right", "left"):
        error = np.linalg.norm(np.asarray(ours[side]["sole_centre"]) - ref[side]["sole_centre"])
        assert error < 0.005, f"{side} sole centre {1000 * error:.1f} mm from upstream's"
        knee = ours[side]["knee_minus_hip_pitch"]
        assert knee[0] < -0.03  # the knee is behind the hip: the leg bends backward
        assert ours[side]["ankle_minus_hip_pitch"][0] > knee[0]  # the shin leans forward


def test_ranges_mapped_into_upstreams_v1_axes_equal_upstreams():
    """Through the world-frame joint axes at qpos 0 (legs straight in both models)."""
    ref = model_card.upstream_reference()
    signs = model_card.upstream_signs()["v1"]
    assert [n for n, s in signs.items() if s < 0] == ["right_hip_yaw", "right_hip_pitch", "left_hip_pitch",
                                                      "head_pitch", "head_yaw"]
    for j in CONTRACT.joints:
        mapped = model_card.mapped_range((j.lower_rad, j.upper_rad), signs[j.name])  # ours -> upstream's
        np.testing.assert_allclose(mapped, ref["ranges"][j.name], atol=0.01, err_msg=j.name)
        home_upstream = signs[j.name] * j.home_rad
        if j.name.endswith(("hip_pitch", "knee", "ankle")) or j.group == "head":
            assert home_upstream == pytest.approx(ref["start_pose"][j.name], abs=0.01), j.name


def test_sole_is_the_upstream_pad():
    model = mujoco.MjModel.from_xml_path(str(ROBOT_XML))
    pad = model_card.upstream_reference()["pad"]
    for side in ("right", "left"):
        g = model.geom(f"{side}_sole").id
        size, pos = model.geom_size[g], model.geom_pos[g]
        assert model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX
        np.testing.assert_allclose(2 * size[:2], pad["outline_xy"], atol=0.002)  # footprint within 2 mm
        assert pos[0] == pytest.approx(pad["centre_minus_ankle_x"], abs=0.002)
        assert -(pos[2] - size[2]) == pytest.approx(pad["bottom_below_ankle"], abs=0.002)
        assert 2 * size[2] == pytest.approx(pad["thickness"], abs=0.001)


def _contacts(model, data) -> set[tuple[str, str]]:
    return {tuple(sorted((model.geom(c.geom1).name, model.geom(c.geom2).name))) for c in data.contact[:data.ncon]}


def test_self_collision_pairs_are_explicit_and_the_legs_touch_only_when_they_meet(model):
    pairs = {tuple(sorted((model.geom(model.pair_geom1[i]).name, model.geom(model.pair_geom2[i]).name)))
             for i in range(model.npair)}
    assert pairs == {
        ("right_hip_bracket", "right_thigh_top"), ("left_hip_bracket", "left_thigh_top"),
        ("left_thigh_collision", "right_thigh_collision"), ("left_shin_collision", "right_shin_collision"),
        ("left_foot_collision", "right_foot_collision"), ("left_shin_collision", "right_foot_collision"),
        ("left_foot_collision", "right_shin_collision")}
    # No other geom pair reaches the narrow phase except through the floor.
    floor = model.geom("floor").id
    for g in range(model.ngeom):
        if g != floor and model.geom_contype[g]:
            raise AssertionError(f"{model.geom(g).name} has contype {model.geom_contype[g]}: only the floor may")
    data = mujoco.MjData(model)
    adr = [model.jnt_qposadr[model.joint(n).id] for n in CONTRACT.joint_names]

    def pose(**changes) -> set[tuple[str, str]]:
        data.qpos[:] = model.qpos0
        data.qpos[2] = 0.5  # in the air
        data.qpos[adr] = CONTRACT.home
        for name, value in changes.items():
            data.qpos[model.jnt_qposadr[model.joint(name).id]] = value
        mujoco.mj_forward(model, data)
        return _contacts(model, data)

    assert pose() == set()
    # Each pair between the legs is reached by poses inside the joint ranges, around home.
    rng = np.random.default_rng(0)
    legs = [i for i, j in enumerate(CONTRACT.joints) if j.group != "head"]
    seen: set[tuple[str, str]] = set()
    for _ in range(3000):
        values = CONTRACT.home.copy()
        values[legs] += rng.uniform(-0.6, 0.6, len(legs))
        values = np.clip(values, CONTRACT.lower, CONTRACT.upper)
        seen |= pose(**dict(zip(CONTRACT.joint_names, values)))
    assert pairs - seen == {("right_hip_bracket", "right_thigh_top"), ("left_hip_bracket", "left_thigh_top")}
    # The thigh's top clears its hip-yaw bracket by 2.6-10 mm over the whole hip-roll range and
    # 3 mm at the inward limit (upstream's mesh vertices: 2.7 mm there), so they touch only when a
    # fall forces the roll past its range. Only roll moves one against the other.
    roll = CONTRACT.joint_names.index("right_hip_roll")
    gaps = []
    for value in np.linspace(CONTRACT.lower[roll], CONTRACT.upper[roll], 41):
        pose(right_hip_roll=value)
        gaps.append(mujoco.mj_geomDistance(model, data, model.geom("right_hip_bracket").id,
                                           model.geom("right_thigh_top").id, 0.05, None))
    assert 0.0 < min(gaps) < 0.005 and gaps[-1] < 0.005


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
    assert model.nsensor == 10 and model.npair == 7


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


def test_env_config_heights_are_the_models():
    from duck.sim.config import RewardShape

    totals = model_card.measured_totals()
    assert RewardShape().base_height_m == pytest.approx(totals["home_trunk_height_m"], abs=0.005)
    assert RewardShape().capture_com_height_m == pytest.approx(totals["home_com_height_m"], abs=0.005)
