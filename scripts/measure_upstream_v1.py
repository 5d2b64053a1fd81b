"""Measure the reference numbers of mjcf/upstream_v1_reference.json on upstream's own v1 model.

Upstream's files are not part of this repository. Fetch them yourself, then point this
script at the folder that holds upstream's ``robot.xml``, ``scene.xml`` and the STL meshes::

    git clone https://github.com/apirrone/Open_Duck_Mini   # used: bf2adfbb335016d66a57a09dc1164bd5aa3f1e09
    python scripts/measure_upstream_v1.py Open_Duck_Mini/mini_bdx/robots/bdx [--write]

What it measures (all with MuJoCo on upstream's compiled model; see mjcf/README.md):

* world-frame joint axes at qpos 0 (``mjData.xaxis``) and the joint ranges;
* the colliding sole pad (the ``foot_contact`` mesh): its outline, flat region and
  thickness in the foot frame, and its bottom-face centre;
* at upstream's v1 runtime start pose (``START_POSE`` below, from
  apirrone/Open_Duck_Mini_Runtime ``mini_bdx_runtime/mini_bdx_runtime/hwi.py`` ``init_pos``,
  commit c0ff8c374771e4a97c9e29ea6b3b4b1dccca0265, upstream's signs): the sole centres, the
  hip-pitch, knee and ankle axes relative to the hip-yaw midpoint, in the trunk frame;
* the left/right asymmetry: axis positions and the whole-body centre of mass;
* the start pose standing on upstream's floor for 5 s with the servos holding it.

The trunk frame here is upstream's ``base`` body frame moved to the midpoint of the two
hip-yaw axes (upstream's base origin sits 6.6 mm to the right of it); this model's trunk
frame is that same point, 23 mm below the hip-yaw joints' anchors.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import mujoco
import numpy as np

REFERENCE = Path(__file__).resolve().parents[1] / "mjcf" / "upstream_v1_reference.json"
JOINTS = ("right_hip_yaw", "right_hip_roll", "right_hip_pitch", "right_knee", "right_ankle",
          "left_hip_yaw", "left_hip_roll", "left_hip_pitch", "left_knee", "left_ankle",
          "neck_pitch", "head_pitch", "head_yaw")
START_POSE = {  # hwi.py init_pos (joints_offsets are all 0 at that commit), upstream's signs
    "right_hip_yaw": 0.001171696610228082, "right_hip_roll": 0.006726989242258406,
    "right_hip_pitch": 1.0129772861831692, "right_knee": -1.4829304760981399,
    "right_ankle": 0.6444901047812701, "left_hip_yaw": -0.002853397830292128,
    "left_hip_roll": 0.01626303761810685, "left_hip_pitch": 1.0105624704499077,
    "left_knee": -1.4865015965817336, "left_ankle": 0.6504953719748071,
    "neck_pitch": -0.17453292519943295, "head_pitch": -0.17453292519943295, "head_yaw": 0.0,
}
FOOT_BODY = {"right": "foot_module", "left": "foot_module_2"}


def _pad_geom(model: mujoco.MjModel, body: str) -> int:
    b = model.body(body).id
    for g in range(model.ngeom):
        if model.geom_bodyid[g] == b and model.geom_dataid[g] >= 0 and \
                model.mesh(model.geom_dataid[g]).name == "foot_contact":
            return g
    raise SystemExit(f"no foot_contact mesh geom on body {body}")


def _mesh_world(model, data, g) -> np.ndarray:
    m = model.geom_dataid[g]
    v = model.mesh_vert[model.mesh_vertadr[m]:model.mesh_vertadr[m] + model.mesh_vertnum[m]]
    return data.geom_xpos[g] + v @ data.geom_xmat[g].reshape(3, 3).T


def _set_pose(model, data, pose: dict[str, float]) -> None:
    data.qpos[:] = model.qpos0
    for name, value in pose.items():
        data.qpos[model.jnt_qposadr[model.joint(name).id]] = value
    mujoco.mj_forward(model, data)


def _trunk_frame(model, data) -> tuple[np.ndarray, np.ndarray]:
    """(origin, rotation) of the reference trunk frame: base axes, at the hip-yaw midpoint."""
    base = model.body("base").id
    mid = 0.5 * (data.xanchor[model.joint("right_hip_yaw").id] + data.xanchor[model.joint("left_hip_yaw").id])
    return mid, data.xmat[base].reshape(3, 3)


def measure(folder: Path) -> dict:
    model = mujoco.MjModel.from_xml_path(str(folder / "robot.xml"))
    data = mujoco.MjData(model)
    out: dict = {"source": {
        "model": "github.com/apirrone/Open_Duck_Mini mini_bdx/robots/bdx/robot.xml + STL meshes, "
                 "commit bf2adfbb335016d66a57a09dc1164bd5aa3f1e09",
        "start_pose": "github.com/apirrone/Open_Duck_Mini_Runtime mini_bdx_runtime/mini_bdx_runtime/hwi.py "
                      "init_pos, commit c0ff8c374771e4a97c9e29ea6b3b4b1dccca0265",
        "frame": "trunk frame = upstream base axes at the hip-yaw midpoint; metres, radians",
        "how": "scripts/measure_upstream_v1.py, MuJoCo " + mujoco.__version__,
    }}

    # Axes and ranges at qpos 0 (legs straight in both models).
    _set_pose(model, data, {})
    origin, rot = _trunk_frame(model, data)
    out["axes_qpos0"] = {n: np.round(data.xaxis[model.joint(n).id] @ rot, 6).tolist() for n in JOINTS}
    out["ranges"] = {n: np.round(model.jnt_range[model.joint(n).id], 4).tolist() for n in JOINTS}
    out["start_pose"] = {n: round(START_POSE[n], 4) for n in JOINTS}

    # The pad, in its foot frame (the foot body is world-aligned-up at qpos 0 only up to a
    # rotation, so measure in the trunk frame at qpos 0, where the foot is level).
    pads = {}
    for side, body in FOOT_BODY.items():
        p = (_mesh_world(model, data, _pad_geom(model, body)) - origin) @ rot
        lo, hi = p.min(axis=0), p.max(axis=0)
        flat = p[p[:, 2] < lo[2] + 1e-4]
        centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
        ankle = (data.xanchor[model.joint(f"{side}_ankle").id] - origin) @ rot
        pads[side] = {"centre_qpos0": centre, "ankle_qpos0": ankle,
                      "outline": hi[:2] - lo[:2], "thickness": hi[2] - lo[2],
                      "flat": flat[:, :2].max(axis=0) - flat[:, :2].min(axis=0)}
    out["pad"] = {
        "outline_xy": np.round(pads["right"]["outline"], 4).tolist(),
        "flat_region_xy": np.round(pads["right"]["flat"], 4).tolist(),
        "thickness": round(float(pads["right"]["thickness"]), 4),
        "centre_minus_ankle_x": round(float(pads["right"]["centre_qpos0"][0] - pads["right"]["ankle_qpos0"][0]), 4),
        "bottom_below_ankle": round(float(pads["right"]["ankle_qpos0"][2] - pads["right"]["centre_qpos0"][2]), 4),
        "centre_y": {s: round(float(pads[s]["centre_qpos0"][1]), 4) for s in pads},
    }

    # Asymmetry at qpos 0.
    def anchor(name):
        return (data.xanchor[model.joint(name).id] - origin) @ rot

    com0 = (data.subtree_com[model.body("base").id] - origin) @ rot
    out["asymmetry_qpos0"] = {
        "hip_roll_anchor": {s: np.round(anchor(f"{s}_hip_roll"), 4).tolist() for s in FOOT_BODY},
        "hip_pitch_anchor": {s: np.round(anchor(f"{s}_hip_pitch"), 4).tolist() for s in FOOT_BODY},
        "com": np.round(com0, 4).tolist(),
    }

    # The sole centres at the start pose: carry each pad's bottom centre with its foot body.
    local = {}
    for side, body in FOOT_BODY.items():
        b = model.body(body).id
        world = origin + rot @ pads[side]["centre_qpos0"]
        local[side] = data.xmat[b].reshape(3, 3).T @ (world - data.xpos[b])
    _set_pose(model, data, START_POSE)
    origin, rot = _trunk_frame(model, data)
    start = {}
    for side, body in FOOT_BODY.items():
        b = model.body(body).id
        sole = (data.xpos[b] + data.xmat[b].reshape(3, 3) @ local[side] - origin) @ rot
        foot_rot = rot.T @ data.xmat[b].reshape(3, 3)
        hip = anchor(f"{side}_hip_pitch")
        start[side] = {
            "sole_centre": np.round(sole, 4).tolist(),
            "knee_minus_hip_pitch": np.round(anchor(f"{side}_knee") - hip, 4).tolist(),
            "ankle_minus_hip_pitch": np.round(anchor(f"{side}_ankle") - hip, 4).tolist(),
            # pitch of the sole about the trunk's y axis, positive = toe down
            "sole_pitch_rad": round(float(np.arctan2(-(foot_rot @ _pad_forward(model, data, body))[2],
                                                     (foot_rot @ _pad_forward(model, data, body))[0])), 4),
        }
    out["start_pose_fk"] = start
    out["sole_mirror_error_max"] = _mirror_error(model, data, local)
    out["start_pose_fk"]["com"] = np.round((data.subtree_com[model.body("base").id] - origin) @ rot, 4).tolist()
    out["standing"] = _stand(folder)
    return out


def _mirror_error(model, data, local, samples: int = 200) -> float:
    """Largest distance between the right sole centre and the mirror image of the left one over
    random mirrored poses (roll values equal, hip-yaw values opposite in upstream's axes, which
    point the same way on both sides): 0 when the legs' kinematics are mirror images."""
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(samples):
        pose = dict(START_POSE)
        for joint, (lo, hi) in (("hip_yaw", (-0.5, 0.5)), ("hip_roll", (-0.4, 0.4)), ("hip_pitch", (-0.5, 1.5)),
                                ("knee", (-2.0, 0.5)), ("ankle", (-1.0, 1.0))):
            value = rng.uniform(lo, hi)
            pose[f"right_{joint}"] = value
            pose[f"left_{joint}"] = -value if joint == "hip_yaw" else value
        _set_pose(model, data, pose)
        origin, rot = _trunk_frame(model, data)
        soles = {}
        for side, body in FOOT_BODY.items():
            b = model.body(body).id
            soles[side] = (data.xpos[b] + data.xmat[b].reshape(3, 3) @ local[side] - origin) @ rot
        worst = max(worst, float(np.linalg.norm(soles["right"] - soles["left"] * np.array([1, -1, 1]))))
    return round(worst, 5)


def _pad_forward(model, data, body) -> np.ndarray:
    """The pad's forward direction in its foot body's frame (trunk +x at qpos 0)."""
    d0 = mujoco.MjData(model)
    mujoco.mj_forward(model, d0)
    _, rot0 = _trunk_frame(model, d0)
    return d0.xmat[model.body(body).id].reshape(3, 3).T @ rot0[:, 0]


def _stand(folder: Path) -> dict:
    """The start pose held by upstream's position actuators on upstream's floor, 5 s."""
    model = mujoco.MjModel.from_xml_path(str(folder / "scene.xml"))
    data = mujoco.MjData(model)
    _set_pose(model, data, START_POSE)
    for name, value in START_POSE.items():
        data.ctrl[model.actuator(name).id] = value
    # drop from just above the floor
    pads = [_pad_geom(model, b) for b in FOOT_BODY.values()]
    lowest = min(_mesh_world(model, data, g)[:, 2].min() for g in pads)
    data.qpos[2] += 0.002 - lowest
    for _ in range(int(5.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    rot = data.xmat[model.body("base").id].reshape(3, 3)
    mid = 0.5 * (data.xanchor[model.joint("right_hip_yaw").id] + data.xanchor[model.joint("left_hip_yaw").id])
    return {
        "trunk_pitch_rad": round(float(np.arctan2(-rot[2, 0], rot[2, 2])), 4),  # + = nose down
        "trunk_roll_rad": round(float(np.arctan2(rot[2, 1], rot[2, 2])), 4),
        "hip_yaw_midpoint_height": round(float(mid[2]), 4),
        "timestep": float(model.opt.timestep),
        "kp": float(model.actuator_gainprm[0, 0]),
    }


def measure_v2_axes(xml: Path) -> dict:
    """World-frame joint axes at qpos 0 of upstream's v2 model (meshes stripped: kinematics only),
    in its base frame, and how far each leg is from straight there (ankle minus hip-pitch x)."""
    import xml.etree.ElementTree as ET

    tree = ET.parse(xml)
    root = tree.getroot()
    for parent in root.iter():
        for child in list(parent):
            if child.tag == "mesh" or (child.tag == "geom" and (child.get("mesh") or child.get("type") == "mesh")):
                parent.remove(child)
            elif child.tag == "include":
                parent.remove(child)
    model = mujoco.MjModel.from_xml_string(ET.tostring(root, encoding="unicode"))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    rot = data.xmat[model.body("base").id].reshape(3, 3)
    axes = {n: np.round(data.xaxis[model.joint(n).id] @ rot, 6).tolist() for n in JOINTS}
    straight = {s: round(float(((data.xanchor[model.joint(f"{s}_ankle").id]
                                 - data.xanchor[model.joint(f"{s}_hip_pitch").id]) @ rot)[0]), 4)
                for s in ("right", "left")}
    ranges = {n: np.round(model.jnt_range[model.joint(n).id], 4).tolist() for n in JOINTS}
    return {"source": f"{xml.name} (apirrone/Open_Duck_Playground playground/open_duck_mini_v2/xmls), meshes "
                      "stripped", "axes_qpos0": axes, "ranges": ranges, "ankle_minus_hip_pitch_x_qpos0": straight}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="upstream's mini_bdx/robots/bdx folder")
    parser.add_argument("--v2", type=Path, help="upstream's open_duck_mini_v2.xml, for its joint axes")
    parser.add_argument("--write", action="store_true", help=f"write {REFERENCE.name}")
    args = parser.parse_args(argv)
    ref = measure(args.folder)
    if args.v2:
        ref["v2"] = measure_v2_axes(args.v2)
    # one line per list of numbers keeps the file readable
    text = re.sub(r"\[\s*([^\[\]{}]*?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]",
                  json.dumps(ref, indent=1)) + "\n"
    if args.write:
        REFERENCE.write_text(text)
        print(f"wrote {REFERENCE}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
