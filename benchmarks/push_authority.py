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


def main() -> None:
    model = mujoco.MjModel.from_xml_path(str(REPO_ROOT / "mjcf" / "scene.xml"))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    z_com = float(data.subtree_com[model.body("trunk").id][2])
    omega = np.sqrt(9.81 / z_com)
    result = {
        "action_scale_rad": CONTRACT.action_scale_rad,
        "com_height_m": round(z_com, 4),
        "touchdown_reach_m": {k: round(v, 4) for k, v in touchdown_reach(model).items()},
        "capture_offset_m_by_kick_mps": {f"{v:.1f}": round(v / omega, 4) for v in KICKS_MPS},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
