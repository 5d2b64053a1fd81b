"""The robot contract: JSON round trip, fingerprint sensitivity, pack/unpack errors, action path."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import duck.contract
from duck.contract import CONTRACT, SIGN_CONVENTIONS, SWING_GAINS, ContractError, RobotContract, sign_table


def test_contract_layout_matches_the_robot():
    names = CONTRACT.joint_names
    assert names[:5] == tuple(f"right_{j}" for j in ("hip_yaw", "hip_roll", "hip_pitch", "knee", "ankle"))
    assert names[5:10] == tuple(f"left_{j}" for j in ("hip_yaw", "hip_roll", "hip_pitch", "knee", "ankle"))
    assert names[10:] == ("neck_pitch", "head_pitch", "head_yaw")
    assert CONTRACT.servo_ids == (10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 30, 31, 32)
    assert {j.servo_model for j in CONTRACT.joints[:10]} == {"XC330-M288-T"}
    assert {j.servo_model for j in CONTRACT.joints[10:]} == {"XL330-M288-T"}
    assert CONTRACT.obs_dim == sum(t.size for t in CONTRACT.obs_terms)
    assert np.all(CONTRACT.lower <= CONTRACT.home) and np.all(CONTRACT.home <= CONTRACT.upper)


def test_json_round_trip():
    text = CONTRACT.to_json()
    again = RobotContract.from_json(text)
    assert again == CONTRACT
    assert again.fingerprint == CONTRACT.fingerprint
    assert json.loads(text)["control_rate_hz"] == 50.0


def _variants():
    c = CONTRACT
    yield "control_rate_hz", dataclasses.replace(c, control_rate_hz=40.0)
    yield "action_scale_rad", dataclasses.replace(c, action_scale_rad=0.3)
    yield "joint home", dataclasses.replace(c, joints=(dataclasses.replace(c.joints[0], home_rad=0.01),)
                                            + c.joints[1:])
    yield "joint limit", dataclasses.replace(c, joints=c.joints[:-1] + (dataclasses.replace(c.joints[-1],
                                                                                            upper_rad=2.0),))
    yield "servo id", dataclasses.replace(c, joints=(dataclasses.replace(c.joints[0], servo_id=99),) + c.joints[1:])
    yield "obs noise", dataclasses.replace(c, obs_terms=(dataclasses.replace(c.obs_terms[0], noise=0.2),)
                                           + c.obs_terms[1:])
    yield "command range", dataclasses.replace(c, commands=dataclasses.replace(
        c.commands, vx_mps=dataclasses.replace(c.commands.vx_mps, high=0.2)))
    yield "gait period", dataclasses.replace(c, gait_period_s=0.6)


@pytest.mark.parametrize("name, variant", list(_variants()), ids=[n for n, _ in _variants()])
def test_fingerprint_changes_when_any_field_changes(name, variant):
    assert variant.fingerprint != CONTRACT.fingerprint
    assert CONTRACT.diff(variant)  # and the diff names what changed


def _terms(batch=()):
    return {t.name: np.zeros(batch + (t.size,)) for t in CONTRACT.obs_terms}


def test_pack_unpack_round_trip_with_batches():
    rng = np.random.default_rng(0)
    terms = {t.name: rng.normal(size=(4, t.size)) for t in CONTRACT.obs_terms}
    obs = CONTRACT.pack(terms)
    assert obs.shape == (4, CONTRACT.obs_dim) and obs.dtype == np.float32
    back = CONTRACT.unpack(obs)
    for name, value in terms.items():
        np.testing.assert_allclose(back[name], value, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mutate, match", [
    (lambda t: t.pop("gyro"), "missing \\['gyro'\\]"),
    (lambda t: t.update(extra=np.zeros(3)), "unexpected \\['extra'\\]"),
    (lambda t: t.update(joint_pos=np.zeros(12)), "joint_pos.*13"),
    (lambda t: t.update(command=np.zeros((2, 3))), "batch shape"),
])
def test_pack_rejects_bad_terms(mutate, match):
    terms = _terms()
    mutate(terms)
    with pytest.raises(ContractError, match=match):
        CONTRACT.pack(terms)


def test_unpack_and_actions_reject_wrong_sizes():
    with pytest.raises(ContractError, match=str(CONTRACT.obs_dim)):
        CONTRACT.unpack(np.zeros(CONTRACT.obs_dim + 1))
    with pytest.raises(ContractError, match="action"):
        CONTRACT.action_to_offsets(np.zeros(CONTRACT.action_dim - 1))


def test_targets_respect_clip_scale_rate_and_limits():
    c = CONTRACT
    offsets = c.action_to_offsets(np.full(c.action_dim, 5.0))  # clipped to 1 -> scale
    np.testing.assert_allclose(offsets, c.action_scale_rad)
    first = c.targets_from_offsets(offsets, np.zeros(3), None)
    np.testing.assert_allclose(first[c.action_indices], np.minimum(c.home[c.action_indices] + offsets,
                                                                   c.upper[c.action_indices]))
    capped = c.targets_from_offsets(offsets, np.zeros(3), c.home)
    step = c.max_target_rate_rad_s * c.control_dt_s
    assert np.max(np.abs(capped - c.home)) == pytest.approx(step)
    wild = c.targets_from_offsets(np.full(c.num_leg_actions, 100.0), np.full(3, 100.0), None)
    assert np.all(wild <= c.upper) and np.all(wild >= c.lower)


def test_mirror_is_an_involution_and_swaps_legs():
    values = np.arange(CONTRACT.num_joints, dtype=float)
    mirrored = CONTRACT.mirror_joint_values(values)
    np.testing.assert_array_equal(CONTRACT.mirror_joint_values(mirrored), values)
    assert mirrored[0] == values[5] and mirrored[12] == -values[12]


def test_stepping_reference_lifts_the_swing_leg_only_when_moving():
    c = CONTRACT
    left_swing = c.gait_phase(0.25)  # sin = 1
    ref = c.reference_offsets(left_swing, [0.1, 0.0, 0.0])
    names = c.action_joints
    for joint, gain in SWING_GAINS:
        assert ref[names.index(f"left_{joint}")] == pytest.approx(gain * c.gait_swing_amplitude_rad)
        assert ref[names.index(f"right_{joint}")] == 0.0
    # The sole stays parallel to itself: ankle = hip - knee in this contract's axes.
    assert ref[names.index("left_ankle")] == pytest.approx(ref[names.index("left_hip_pitch")]
                                                           - ref[names.index("left_knee")])
    np.testing.assert_array_equal(c.reference_offsets(left_swing, [0.0, 0.0, 0.0]), 0.0)
    batch = c.reference_offsets(np.stack([left_swing] * 3), np.zeros((3, 3)))
    assert batch.shape == (3, c.num_leg_actions)
    targets = c.policy_targets(np.zeros(c.num_leg_actions), left_swing, [0.1, 0, 0], np.zeros(3), None)
    knee = c.joint_names.index("left_knee")
    assert targets[knee] == pytest.approx(c.home[knee] + dict(SWING_GAINS)["knee"] * c.gait_swing_amplitude_rad)
    # The peak of the reference stays inside the real ranges (the knee-backward leg folds).
    assert np.all(targets >= c.lower) and np.all(targets <= c.upper)


def test_stepping_reference_lifts_the_real_sole_3cm_straight_up_and_flat():
    """Forward kinematics on the MuJoCo model, trunk fixed: the swing reference's peak moves the
    sole centre up by swing_height_m, keeps it over the same spot and keeps it parallel."""
    import mujoco

    from duck.sim.config import RewardShape
    from duck.sim.model import load_model

    model = load_model()
    data = mujoco.MjData(model)
    c = CONTRACT
    adr = [model.jnt_qposadr[model.joint(n).id] for n in c.joint_names]

    def sole(offsets) -> tuple[np.ndarray, np.ndarray]:
        data.qpos[:] = model.qpos0
        data.qpos[adr] = c.home
        data.qpos[np.array(adr)[c.action_indices]] += offsets
        mujoco.mj_kinematics(model, data)
        g = model.geom("left_sole").id
        return data.geom_xpos[g].copy(), data.geom_xmat[g].reshape(3, 3)[:, 2].copy()

    (p0, up0), (p1, up1) = sole(0.0), sole(c.reference_offsets(c.gait_phase(0.25), [0.1, 0.0, 0.0]))
    assert p1[2] - p0[2] == pytest.approx(RewardShape().swing_height_m, abs=0.002)
    assert np.linalg.norm((p1 - p0)[:2]) < 0.003
    assert np.degrees(np.arccos(np.clip(up0 @ up1, -1, 1))) < 0.5


def test_sign_table_is_derived_from_the_model_and_shown_in_the_docstring():
    from duck.sim.signs import derived_sign_conventions

    measured = derived_sign_conventions()
    assert set(measured) == set(SIGN_CONVENTIONS)
    for kind, (_part, direction) in SIGN_CONVENTIONS.items():
        assert set(measured[kind].values()) == {direction}, (kind, measured[kind])
    assert sign_table() in duck.contract.__doc__
    # One row per kind, each with its home angle from the contract.
    rows = sign_table().splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == list(SIGN_CONVENTIONS)
    knee = next(r for r in rows if r.startswith("| knee "))
    assert f"{CONTRACT.home[CONTRACT.joint_names.index('right_knee')]:+.3f}" in knee


def test_a_wrong_sign_row_is_caught():
    """The derivation can tell the directions apart (a reversed row would fail the test above)."""
    from duck.sim.model import load_model
    from duck.sim.signs import measured_sign

    model = load_model()
    assert measured_sign(model, "right_ankle", "toe", CONTRACT.home) == "down"
    # The same leg with the ankle servo's axis reversed: the same pose is the opposite angle.
    model.jnt_axis[model.joint("right_ankle").id] *= -1
    same_pose = CONTRACT.home.copy()
    same_pose[CONTRACT.joint_names.index("right_ankle")] *= -1
    assert measured_sign(model, "right_ankle", "toe", same_pose) == "up"


def test_the_last_action_entry_sets_the_gait_clock_rate():
    c = CONTRACT
    assert c.action_names[-1] == "gait_rate" and c.term("last_action").size == c.action_dim
    nominal = c.control_dt_s / c.gait_period_s
    action = np.zeros((4, c.action_dim))
    action[:, -1] = [0.0, 1.0, -1.0, 7.0]  # the last one is clipped to 1
    step = c.advance_gait_clock(np.zeros(4), action)
    np.testing.assert_allclose(step, nominal * (1 + c.gait_rate_gain * np.array([0, 1, -1, 1])))
    # A whole period at the nominal rate comes back to the start; the clock stays in [0, 1).
    clock = 0.0
    for _ in range(int(round(c.gait_period_s / c.control_dt_s))):
        clock = c.advance_gait_clock(clock, np.zeros(c.action_dim))
        assert 0.0 <= clock < 1.0
    assert min(clock, 1.0 - clock) == pytest.approx(0.0, abs=1e-9)
    # The rate entry moves no joint, and mirrors onto itself.
    rate_only = np.zeros(c.action_dim)
    rate_only[-1] = 1.0
    np.testing.assert_array_equal(c.action_to_offsets(rate_only), 0.0)
    assert c.action_to_offsets(rate_only).shape == (c.num_leg_actions,)
    np.testing.assert_array_equal(c.mirror_action(rate_only), rate_only)


def test_a_fixed_clock_policy_is_refused_naming_the_clock():
    """A contract JSON from before the learned clock (no gait_rate_gain key) still parses, so
    the runtime's refusal can say what changed."""
    old = json.loads(CONTRACT.to_json())
    del old["gait_rate_gain"]
    theirs = RobotContract.from_dict(old)
    assert theirs.gait_rate_gain == 0.0
    assert any(line.startswith("gait_rate_gain:") for line in CONTRACT.diff(theirs))
