"""Walk bar 2 (issue 21): the transfer conditions do to the sim what they say, head commands in
training and eval, the new bar items, and checkpoint scoring's bookkeeping. Real MuJoCo and the
shipped ONNX policy through onnxruntime; small sizes."""

from __future__ import annotations

import json
from dataclasses import replace

import mujoco
import numpy as np
import pytest
from policy_fixtures import stale_shipped_walk

from duck.config import ConfigError, load
from duck.contract import CONTRACT
from duck.evaluation.episodes import eval_config
from duck.evaluation.transfer import (
    Backlash,
    Late,
    LowBattery,
    Payload,
    RoughFloor,
    ServoStiffness,
    Slippery,
    TransferSettings,
)
from duck.sim.batch import BatchSim
from duck.sim.config import EnvConfig

NOMINAL = eval_config(EnvConfig(), 5.0, randomize=False)


def conditioned_sim(condition, n: int = 2, cfg: EnvConfig = NOMINAL) -> BatchSim:
    sim = BatchSim(n, cfg, model=condition.build_model(cfg, seed=0))
    sim.seed(np.arange(n))
    sim.reset(sim.all)
    condition.apply(sim, cfg)
    return sim


def test_servo_stiffness_scales_the_position_gain_not_the_stall_torque():
    plain = BatchSim(1, NOMINAL)
    soft = conditioned_sim(ServoStiffness(scale=0.7))
    np.testing.assert_allclose(soft.model.actuator_gainprm[:, 0], 0.7 * plain.model.actuator_gainprm[:, 0])
    np.testing.assert_allclose(soft.model.actuator_biasprm[:, 1], 0.7 * plain.model.actuator_biasprm[:, 1])
    np.testing.assert_allclose(soft.model.actuator_forcerange, plain.model.actuator_forcerange)
    np.testing.assert_allclose(soft.kp, 0.7 * plain.kp[:1].repeat(2, axis=0))


def test_low_battery_is_ten_percent_under_the_trained_range_on_gain_and_stall_torque():
    cfg = replace(NOMINAL, dr=replace(NOMINAL.dr, supply_v=(4.0, 5.5)))  # 0.8-1.1 of the 5 V nominal
    plain = BatchSim(1, cfg)
    sim = conditioned_sim(LowBattery(), cfg=cfg)
    scale = 0.8 * 0.9
    np.testing.assert_allclose(sim.model.actuator_forcerange, scale * plain.model.actuator_forcerange)
    np.testing.assert_allclose(sim.model.actuator_gainprm[:, 0], scale * plain.model.actuator_gainprm[:, 0])
    assert "0.720" in LowBattery().describe(cfg)
    # the firmware's D term (kv, 0 in today's model) scales with the supply too; joint damping does not
    damped = BatchSim(1, cfg)
    damped.model.actuator_biasprm[:, 2] = -0.1
    LowBattery().apply(damped, cfg)
    np.testing.assert_allclose(damped.model.actuator_biasprm[:, 2], -0.1 * scale)
    np.testing.assert_allclose(damped.model.dof_damping, plain.model.dof_damping)


def test_backlash_transmits_nothing_inside_the_play_and_the_excess_beyond_it():
    sim = conditioned_sim(Backlash(play_deg=2.0))
    half = np.deg2rad(1.0)
    q = sim.qpos[:, sim.idx.qpos_joints]
    error = np.zeros_like(q)
    error[:, sim.leg_joints[0]] = 0.5 * half  # inside the play
    error[:, sim.leg_joints[1]] = -3.0 * half  # beyond it
    error[:, CONTRACT.head_indices[0]] = 0.5 * half  # the head has no backlash
    ctrl = sim.ctrl_hook(sim, q + error)
    np.testing.assert_allclose(ctrl[:, sim.leg_joints[0]], q[:, sim.leg_joints[0]])
    np.testing.assert_allclose(ctrl[:, sim.leg_joints[1]], q[:, sim.leg_joints[1]] - 2.0 * half)
    np.testing.assert_allclose(ctrl[:, CONTRACT.head_indices[0]], (q + error)[:, CONTRACT.head_indices[0]])


def test_late_delays_the_action_by_three_control_steps():
    sim = conditioned_sim(Late(steps=3), n=1)
    action = np.zeros((1, CONTRACT.action_dim))
    action[0, 0] = 1.0  # right hip yaw, +0.35 rad
    joint = CONTRACT.action_indices[0]
    moved = []
    for _ in range(5):
        sim.step(action)
        moved.append(sim.targets[0, joint] - CONTRACT.home[joint] > 0.05)
    assert moved == [False, False, False, True, True]


def test_slippery_sets_the_floor_and_sole_friction():
    sim = conditioned_sim(Slippery(floor_friction=0.35))
    assert sim.model.geom_friction[sim.idx.floor_geom, 0] == pytest.approx(0.35)
    np.testing.assert_allclose(sim.model.geom_friction[sim.idx.sole_geoms, 0], 0.35)


def test_payload_adds_mass_and_moves_the_trunk_centre_of_mass_back():
    plain = BatchSim(1, NOMINAL)
    sim = conditioned_sim(Payload(mass_kg=0.12, com_back_m=0.02))
    b = sim.idx.trunk_body
    assert sim.model.body_mass[b] == pytest.approx(plain.model.body_mass[b] + 0.12)
    data = mujoco.MjData(sim.model)
    data.qpos[:] = sim.idx.home_qpos
    mujoco.mj_forward(sim.model, data)
    ref = mujoco.MjData(plain.model)
    ref.qpos[:] = sim.idx.home_qpos
    mujoco.mj_forward(plain.model, ref)
    # "back" in the trunk's own frame: the real home pose leans the trunk, so not along world x
    shift_in_trunk = data.xmat[b].reshape(3, 3).T @ (data.xipos[b] - ref.xipos[b])
    np.testing.assert_allclose(shift_in_trunk, [-0.02, 0.0, 0.0], atol=1e-9)  # trunk faces +x
    assert np.all(sim.model.body_inertia[b, 1:] > plain.model.body_inertia[b, 1:])


def test_rough_floor_has_bumps_a_flat_start_and_three_degree_slopes():
    floor = RoughFloor(size_m=3.0)
    heights, _ = floor.heights(seed=1)
    axis = np.linspace(-1.5, 1.5, heights.shape[1])
    pad = (np.abs(axis)[None, :] <= 0.15) & (np.abs(axis)[:, None] <= 0.15)
    assert np.all(heights[pad] == 0.0)
    ridge = np.tan(np.deg2rad(3.0)) * np.minimum(np.mod(axis, 2.0), 2.0 - np.mod(axis, 2.0))
    bumps = heights - ridge[None, :]
    assert bumps[~pad].min() >= -0.01 - 1e-12 and bumps[~pad].max() <= 1e-12
    assert bumps[~pad].std() > 0.002  # really bumpy
    # the compiled floor: a ray down at x = 1 m (the ridge) meets it ~tan(3 deg) m up
    model = floor.build_model(NOMINAL, seed=1)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    geom = np.zeros(1, np.int32)
    top = 1.0 - mujoco.mj_ray(model, data, np.array([1.0, 0.5, 1.0]), np.array([0.0, 0.0, -1.0]), None, 1, -1, geom)
    assert model.geom(geom[0]).name == "floor"
    assert np.tan(np.deg2rad(3.0)) - 0.011 <= top <= np.tan(np.deg2rad(3.0)) + 0.001


def test_transfer_settings_are_strict_and_select_conditions():
    assert list(TransferSettings().conditions()) == ["soft_servos", "stiff_servos", "low_battery", "backlash",
                                                     "late", "slippery", "payload", "rough_floor"]
    assert TransferSettings().stiff_servos.scale == 1.5 and TransferSettings().soft_servos.scale == 0.7
    assert load(TransferSettings, None, ["enabled=false"]).conditions() == {}
    assert list(load(TransferSettings, None, ["only=[late, slippery]", "late.steps=2"]).conditions()) == [
        "late", "slippery"]
    assert "payload" not in load(TransferSettings, None, ["payload.enabled=false"]).conditions()
    for bad in (["bogus=1"], ["late.stepz=3"], ["late.steps=9"], ["only=[lat]"]):
        with pytest.raises(ConfigError):
            load(TransferSettings, None, bad)


def test_training_moves_the_head_and_eval_holds_it_unless_told():
    cfg = EnvConfig()
    sim = BatchSim(16, cfg)
    sim.seed(np.arange(16))
    sim.reset(sim.all)
    first = sim.head_command.copy()
    r = CONTRACT.head_command_range_rad
    assert np.all((first >= r.low) & (first <= r.high))
    assert np.any(np.all(first == 0.0, axis=1)) and np.any(np.abs(first) > 0.1)  # some at home, most not
    for _ in range(int(4.5 / CONTRACT.control_dt_s)):  # past the longest hold (4 s)
        sim.step(np.zeros((16, CONTRACT.action_dim)))
    assert np.all(np.any(sim.head_command != first, axis=1) | np.all(first == 0.0, axis=1))
    # the head joints follow their commands
    head_q = sim.qpos[:, sim.idx.qpos_joints][:, CONTRACT.head_indices]
    target = np.clip(CONTRACT.home[CONTRACT.head_indices] + sim.head_command, CONTRACT.lower[CONTRACT.head_indices],
                     CONTRACT.upper[CONTRACT.head_indices])
    moved = np.abs(sim.head_command).max(axis=1) > 0.2
    assert np.corrcoef(head_q[moved].ravel(), target[moved].ravel())[0, 1] > 0.8
    sim.close()

    held = BatchSim(4, eval_config(cfg, 5.0, randomize=False))
    held.seed(np.arange(4))
    held.reset(held.all)
    assert np.all(held.head_command == 0.0) and np.all(held.next_head_step == np.iinfo(np.int64).max)
    held.set_head_command(np.full((4, 3), 0.3))
    held.step(np.zeros((4, CONTRACT.action_dim)))
    assert np.all(held.head_command == 0.3)


def test_head_commands_off_leave_the_walk_v5_random_streams_alone():
    off = replace(EnvConfig(), commands=replace(EnvConfig().commands, head=replace(EnvConfig().commands.head,
                                                                                   range_scale=0.0)))
    a, b = BatchSim(3, off), BatchSim(3, off)
    for sim in (a, b):
        sim.seed(np.arange(3))
    obs_a, obs_b = a.reset(a.all), b.reset(b.all)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert np.all(a.head_command == 0.0)


def _metrics(head=0.97, fast_vx=0.21, fast_fell=False, transfer_ok=True) -> dict:
    vx = 0.1 if transfer_ok else 0.08
    row = {"fixed_survival_rate": 1.0, "tracking_survival_rate": 0.95, "forward_achieved_vx_mps": vx,
           "push_survival_rate_by_kick_mps": {"0.6": 0.8}, "meets_bar": transfer_ok, "survival_rate": 0.95}
    return {"head_tracking": {"survival_rate": head}, "fast": {"forward_0.25": {"achieved_vx_mps": fast_vx,
                                                                               "fell": fast_fell}},
            "transfer": {"late": row}}


def test_walk_bar_2_items_follow_their_thresholds():
    from duck.evaluation.report import walk_bar_2
    from duck.evaluation.transfer import row_meets_bar

    assert [ok for *_, ok in walk_bar_2(_metrics())] == [True, True, True]
    assert [ok for *_, ok in walk_bar_2(_metrics(head=0.94, fast_vx=0.19, transfer_ok=False))] == [False] * 3
    assert not walk_bar_2(_metrics(fast_fell=True))[1][3]
    name, value, _, _ = walk_bar_2(_metrics(transfer_ok=False))[2]
    assert "forward_vx" in name and value == pytest.approx(0.08 / 0.09)  # the failing figure, named
    assert walk_bar_2({}) == []
    good = _metrics()["transfer"]["late"]
    assert row_meets_bar(good)
    for key, bad in (("fixed_survival_rate", 0.8), ("tracking_survival_rate", 0.85), ("forward_achieved_vx_mps", 0.08),
                     ("push_survival_rate_by_kick_mps", {"0.6": 0.65})):
        assert not row_meets_bar({**good, key: bad})


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The shipped walking policy; while it predates the installed contract (retraining after
    Walk-v6), a stand-at-home policy with the contract's interface, so the sections still run."""
    from policy_fixtures import SHIPPED_WALK_PREDATES_CONTRACT, build_policy

    from duck.paths import POLICIES_DIR
    from duck.runtime.policy import load_policy

    if SHIPPED_WALK_PREDATES_CONTRACT:
        return load_policy(build_policy(tmp_path_factory.mktemp("policy") / "zeros.onnx", "zeros"))
    return load_policy(POLICIES_DIR / "walk.onnx")


TINY_SUITE = dict(fixed_seconds=3.0, tracking_episodes=2, tracking_seconds=4.0, push_episodes=4, push_seconds=4.0,
                  push_at_seconds=1.0, head_resample_seconds=1.0)


def test_transfer_section_rows_and_report_table(shipped):
    from duck.evaluation.report import markdown, transfer_table
    from duck.evaluation.suite import SuiteSettings, transfer_section

    s = replace(SuiteSettings(), **TINY_SUITE)
    rows = transfer_section(shipped, EnvConfig(), s, load(TransferSettings, None, ["only=[late, rough_floor]"]))
    assert list(rows) == ["late", "rough_floor"]
    for row in rows.values():
        assert {"fixed_survival_rate", "tracking_survival_rate", "forward_achieved_vx_mps",
                "push_survival_rate_by_kick_mps", "setting", "meets_bar"} <= set(row)
        assert set(row["push_survival_rate_by_kick_mps"]) == {"0.2", "0.4", "0.6", "0.8", "1.0"}
    assert rows["late"]["setting"] == "action latency 3 steps (60 ms)"
    table = transfer_table({"transfer": rows})
    assert len(table) == 4 and table[2].startswith("| late |")
    assert "rough_floor" in markdown({"policy": {"path": "p.onnx", "steps": 1, "contract": "x"}, **_full(rows)})


def _full(transfer_rows: dict) -> dict:
    """The smallest metrics dict markdown() accepts, around real transfer rows."""
    fixed = {name: {"command": [0.1, 0, 0], "achieved_vx_mps": 0.1, "achieved_vy_mps": 0.0,
                    "achieved_yaw_rate_rad_s": 0.0, "achieved_over_commanded": 1.0, "lateral_drift_m": 0.0,
                    "fell": False} for name in ("forward", "backward", "left", "right", "turn_left", "turn_right")}
    kicks = {k: 1.0 for k in ("0.2", "0.4", "0.6", "0.8", "1.0")}
    return {"fixed": fixed, "tracking": {"survival_rate": 1.0, "stride_lin_vel_rmse_mps": 0.0,
                                         "stride_yaw_rate_rmse_rad_s": 0.0, "lin_vel_rmse_mps": 0.0,
                                         "yaw_rate_rmse_rad_s": 0.0, "episodes": 1, "seconds": 1.0,
                                         "stride_window_s": 0.5, "rmse_excludes_seconds_after_command_change": 1.0},
            "push": {"survival_rate_by_kick_mps": kicks, "impulse_ns_by_kick_mps": kicks},
            "gait": {"forward": {"swing_clearance_m": 0.02, "swing_count": 1, "stance_foot_slip_mps": 0.0,
                                 "mechanical_power_w": 1.0, "cost_of_transport": 1.0}},
            "stand": {"base_drift_m": 0.0, "falls": 0}, "transfer": transfer_rows}


def test_head_tracking_moves_the_head_through_the_range(shipped):
    from duck.evaluation.suite import SuiteSettings, head_schedule, head_tracking_section

    s = replace(SuiteSettings(), **TINY_SUITE)
    sim = BatchSim(s.tracking_episodes, eval_config(EnvConfig(), s.tracking_seconds, False))
    fn, seen = head_schedule(s), []
    for t in range(int(s.tracking_seconds / CONTRACT.control_dt_s)):
        fn(t, sim)
        seen.append(sim.head_command.copy())
    seen = np.array(seen)
    assert len(np.unique(seen[:, 0, 0])) == 4  # a new head command every second
    assert np.abs(seen).max() <= CONTRACT.head_command_range_rad.high and np.abs(seen).max() > 0.3
    sim.close()
    result = head_tracking_section(shipped, EnvConfig(), s)
    assert 0.0 <= result["survival_rate"] <= 1.0 and result["head_resample_seconds"] == 1.0


def test_fast_section_commands_the_new_speeds(shipped):
    from duck.evaluation.suite import SuiteSettings, fast_section

    fast = fast_section(shipped, EnvConfig(), replace(SuiteSettings(), **TINY_SUITE))
    assert [f["command"][0] for f in fast.values()] == [0.25, 0.30]
    assert CONTRACT.commands.vx_mps.high >= 0.25  # the item's command is one training samples


@stale_shipped_walk
def test_shipped_policy_walks_faster_when_asked():
    from duck.evaluation.suite import SuiteSettings, fast_section
    from duck.paths import POLICIES_DIR
    from duck.runtime.policy import load_policy

    fast = fast_section(load_policy(POLICIES_DIR / "walk.onnx"), EnvConfig(), replace(SuiteSettings(), **TINY_SUITE))
    assert fast["forward_0.25"]["achieved_vx_mps"] > 0.1


def test_best_checkpoint_by_the_bar_with_documented_tie_breaks(tmp_path):
    from duck.train.scoring import best_checkpoint, first_full_bar, rank_key, read_scores, record

    def checkpoint(steps: int):
        path = tmp_path / "scoring" / f"step_{steps}.zip"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"model %d" % steps)
        path.with_name(f"step_{steps}_vecnormalize.pkl").write_bytes(b"norm")
        return path

    def line(steps, passed, robust):
        return {"checkpoint": f"step_{steps}.zip", "steps": steps, "passed": passed, "of": 27, "robustness": robust}

    assert rank_key(line(1, 20, 0.5)) > rank_key(line(2, 19, 0.9))  # items first
    assert rank_key(line(1, 20, 0.6)) > rank_key(line(2, 20, 0.5))  # then robustness
    assert rank_key(line(2, 20, 0.5)) > rank_key(line(1, 20, 0.5))  # then the later one
    assert best_checkpoint(tmp_path) is None
    assert record(tmp_path, checkpoint(100), line(100, 20, 0.8))
    assert not record(tmp_path, checkpoint(200), line(200, 19, 0.9))
    assert record(tmp_path, checkpoint(300), line(300, 21, 0.7))
    zip_path, best = best_checkpoint(tmp_path)
    assert best["steps"] == 300 and zip_path.read_bytes() == b"model 300"
    assert sorted(p.name for p in zip_path.parent.iterdir()) == ["best.json", "step_300.zip",
                                                                 "step_300_vecnormalize.pkl"]
    assert [r["steps"] for r in read_scores(tmp_path)] == [100, 200, 300]
    assert json.loads((tmp_path / "best" / "best.json").read_text())["passed"] == 21
    assert first_full_bar(tmp_path) is None
    record(tmp_path, checkpoint(400), line(400, 27, 0.9))
    record(tmp_path, checkpoint(500), line(500, 27, 0.95))
    assert first_full_bar(tmp_path)["steps"] == 400 and best_checkpoint(tmp_path)[1]["steps"] == 500


def test_score_config_is_strict_down_to_the_suite_keys():
    from duck.train.config import TrainConfig

    cfg = load(TrainConfig, None, ["score.every_steps=1000000", "score.suite=[tracking_seconds=5.0]"])
    assert cfg.score.every_steps == 1_000_000 and cfg.score.suite == ("tracking_seconds=5.0",)
    for bad in (["score.evry=1"], ["score.suite=[bogus=1]"], ["score.nice=30"]):
        with pytest.raises(ConfigError):
            load(TrainConfig, None, bad)
