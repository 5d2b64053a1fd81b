"""How far can the policy place a foot, against how far it must to absorb a kick?

The linear inverted pendulum's capture offset is v / omega with omega = sqrt(g / z_com): a
foot placed that far ahead of the centre of mass, in the direction of motion, stops a
velocity v in one step. The policy's authority at touchdown is the residual alone (the
stepping reference is back to zero lift when the foot lands): the contract's
``action_scale_rad`` on hip yaw, roll, pitch, knee and ankle around the home pose. This
script measures that reach on the MJCF (swing-foot site within 1 cm of its home height)
and prints both. It is a one-step bound only: beyond it a policy needs several steps to
absorb a kick (exp13 in docs/training.md survives most 0.6 m/s kicks that way), so a
contract change (per-joint action scale, free step timing) can be judged against it.

It also prints a several-step bound for sagittal kicks (``sagittal_kick_bound``): the share
of kick phases from which the same pendulum can still be stopped by stepping as far as the
reach allows, every swing, at the nominal clock and at the learned clock's fastest rate.

    python benchmarks/push_authority.py
"""

from __future__ import annotations

import itertools
import json

import mujoco
import numpy as np

from duck.contract import CONTRACT
from duck.evaluation.suite import KICKS_MPS
from duck.paths import REPO_ROOT

GRID_POINTS = 11
GROUND_TOLERANCE_M = 0.01


def touchdown_reach(model: mujoco.MjModel, side: str = "right") -> dict[str, float]:
    data = mujoco.MjData(model)
    home = model.key("home").qpos.copy()
    leg = [name for name in CONTRACT.action_joints if name.startswith(side)]
    site = model.site(f"{side}_foot").id
    addresses = [model.joint(name).qposadr[0] for name in leg]

    def foot(offsets) -> np.ndarray:
        data.qpos[:] = home
        data.qpos[addresses] += offsets
        mujoco.mj_kinematics(model, data)
        return data.site_xpos[site].copy()

    start = foot(np.zeros(len(leg)))
    grid = np.linspace(-CONTRACT.action_scale_rad, CONTRACT.action_scale_rad, GRID_POINTS)
    moves = []
    for offsets in itertools.product(grid, repeat=len(leg)):
        delta = foot(np.array(offsets)) - start
        if abs(delta[2]) < GROUND_TOLERANCE_M:
            moves.append(delta)
    moves = np.array(moves)
    outward = -1.0 if side == "right" else 1.0
    return {"forward_m": float(moves[:, 0].max()), "backward_m": float(-moves[:, 0].min()),
            "outward_m": float(np.max(outward * moves[:, 1])), "inward_m": float(np.max(-outward * moves[:, 1]))}


def capturable_share(kick_mps: float, omega: float, reach_m: float, cop_margin_m: float,
                     swing_s: float) -> float:
    """Share of kick timings a linear inverted pendulum survives by stepping (model, not sim).

    The capture point xi moves away from the centre of pressure: d(xi - cop)/dt = omega
    (xi - cop). Standing on a sole whose edge is ``cop_margin_m`` beyond the stance foot,
    with the offset u = xi - foot - margin, u grows by exp(omega t) between touchdowns; a step
    moves the foot at most ``reach_m``, so u_next = u exp(omega T) - reach, which stays bounded
    only while u <= reach / (exp(omega T) - 1). A kick adds v / omega to the offset of a
    robot standing over its foot, and the next touchdown comes after a wait w of up to one
    swing T: the kick is survivable iff (v / omega - margin) exp(omega w) <= reach /
    (1 - exp(-omega T)). Returns the share of waits in [0, T] for which that holds.
    """
    excess = kick_mps / omega - cop_margin_m
    if excess <= 0:
        return 1.0
    bound = reach_m / (1.0 - np.exp(-omega * swing_s))
    longest_wait = np.log(bound / excess) / omega
    return float(np.clip(longest_wait / swing_s, 0.0, 1.0))


def sagittal_kick_bound(model: mujoco.MjModel, data: mujoco.MjData, omega: float, reach: dict[str, float]) -> dict:
    """``capturable_share`` for forward and backward kicks, with the sole's toe and heel
    margins ahead of and behind the centre of mass at home, at clock rates 1 and the fastest."""
    com_x = float(data.subtree_com[model.body("trunk").id][0])
    sole = model.geom("right_sole")
    sole_x = float(data.geom_xpos[sole.id][0])
    half_length = float(model.geom_size[sole.id][0])
    margins = {"forward": sole_x + half_length - com_x, "backward": com_x - (sole_x - half_length)}
    rates = {"nominal": 1.0, "fastest": 1.0 + CONTRACT.gait_rate_gain}
    out = {"cop_margin_m": {k: round(v, 4) for k, v in margins.items()}}
    for name, rate in rates.items():
        swing = CONTRACT.gait_period_s / (2.0 * rate)
        out[f"{name}_clock_swing_{swing:.3f}s"] = {
            direction: {f"{v:.1f}": round(capturable_share(v, omega, reach[f"{direction}_m"], margins[direction],
                                                           swing), 2) for v in KICKS_MPS}
            for direction in ("forward", "backward")}
    return out


def main() -> None:
    model = mujoco.MjModel.from_xml_path(str(REPO_ROOT / "mjcf" / "scene.xml"))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    z_com = float(data.subtree_com[model.body("trunk").id][2])
    omega = np.sqrt(9.81 / z_com)
    reach = touchdown_reach(model)
    result = {
        "action_scale_rad": CONTRACT.action_scale_rad,
        "com_height_m": round(z_com, 4),
        "touchdown_reach_m": {k: round(v, 4) for k, v in reach.items()},
        "capture_offset_m_by_kick_mps": {f"{v:.1f}": round(v / omega, 4) for v in KICKS_MPS},
        "capturable_share_of_kick_timings": sagittal_kick_bound(model, data, omega, reach),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
