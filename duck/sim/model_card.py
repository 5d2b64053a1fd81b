"""Generated parts of the model card (mjcf/README.md): totals and the stance from the compiled
model, the joint and sign tables from the contract, and the comparison with upstream's v1 model
(mjcf/upstream_v1_reference.json, measured by scripts/measure_upstream_v1.py).
``python -m duck.sim.model_card --write`` refreshes them; tests/test_mjcf.py fails if the card
is stale."""

from __future__ import annotations

import argparse
import json
import re
import sys
from functools import cache

import mujoco
import numpy as np

from duck.contract import CONTRACT, sign_table
from duck.paths import MJCF_DIR
from duck.sim.model import load_model

CARD = MJCF_DIR / "README.md"
UPSTREAM_REFERENCE = MJCF_DIR / "upstream_v1_reference.json"
SECTIONS = ("totals", "joints", "signs", "upstream", "reference", "stance")
HIP_YAW_ABOVE_TRUNK_M = 0.023  # the reference frame (hip-yaw midpoint) in this model's trunk frame
STANCE_SECONDS = 10.0
SERVO_NOISE_RAD = 0.02  # std of the target noise in the noisy stance, redrawn every control period


@cache
def upstream_reference() -> dict:
    return json.loads(UPSTREAM_REFERENCE.read_text())


def _trunk_pitch(data: mujoco.MjData, model: mujoco.MjModel) -> float:
    """Trunk pitch about y, rad: positive nose down."""
    rot = data.xmat[model.body("trunk").id].reshape(3, 3)
    return float(np.arctan2(-rot[2, 0], rot[2, 2]))


def _tilt(data: mujoco.MjData, model: mujoco.MjModel) -> float:
    """Angle between the trunk's z axis and vertical, rad."""
    up = data.xmat[model.body("trunk").id].reshape(3, 3)[:, 2]
    return float(np.arccos(np.clip(up[2], -1.0, 1.0)))


def measured_totals(model: mujoco.MjModel | None = None) -> dict[str, float]:
    model = model or load_model()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)  # qpos0: legs straight, standing on the sole plane below
    sole = min(data.geom_xpos[model.geom(n).id][2] - model.geom_size[model.geom(n).id][2]
               for n in ("right_sole", "left_sole"))
    head_top = data.site_xpos[model.site("head_top").id][2]
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    for _ in range(int(2.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    return {
        "mass_kg": float(model.body_subtreemass[model.body("trunk").id]),
        "standing_height_straight_m": float(head_top - sole),
        "home_trunk_height_m": float(data.qpos[2]),
        "home_trunk_pitch_rad": _trunk_pitch(data, model),
        "home_com_height_m": float(data.subtree_com[model.body("trunk").id][2]),
        "mujoco_version": mujoco.__version__,
    }


def stance(noise_rad: float, seconds: float = STANCE_SECONDS, seed: int = 0,
           model: mujoco.MjModel | None = None) -> dict[str, float]:
    """Stand at home with the home targets held (plus Gaussian target noise, redrawn every
    control period): final height and pitch, the largest tilt, how far the trunk wandered."""
    model = model or load_model()
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    rng = np.random.default_rng(seed)
    per_control = int(round(CONTRACT.control_dt_s / model.opt.timestep))
    max_tilt = 0.0
    for step in range(int(round(seconds / model.opt.timestep))):
        if step % per_control == 0:
            data.ctrl[:] = model.key_ctrl[0] + rng.normal(0.0, noise_rad, model.nu)
        mujoco.mj_step(model, data)
        if step * model.opt.timestep >= 1.0:  # after the first second's settling
            max_tilt = max(max_tilt, _tilt(data, model))
    return {"height_m": float(data.qpos[2]), "pitch_rad": _trunk_pitch(data, model), "max_tilt_rad": max_tilt,
            "drift_m": float(np.linalg.norm(data.qpos[:2] - model.key_qpos[0][:2]))}


def totals_markdown(t: dict) -> str:
    return "\n".join([
        "| quantity | value |",
        "|---|---|",
        f"| total mass | {t['mass_kg']:.3f} kg |",
        f"| standing height, legs straight (sole to head top) | {t['standing_height_straight_m']:.3f} m |",
        f"| trunk height at the home pose, settled | {t['home_trunk_height_m']:.4f} m |",
        f"| trunk pitch at the home pose, settled (negative: nose up) | {t['home_trunk_pitch_rad']:+.4f} rad |",
        f"| centre-of-mass height at the home pose, settled | {t['home_com_height_m']:.4f} m |",
        f"| MuJoCo version | {t['mujoco_version']} |",
    ])


def joints_markdown() -> str:
    lines = ["| # | joint | servo ID | model | lower [rad] | upper [rad] | home [rad] |",
             "|---|---|---|---|---|---|---|"]
    for i, j in enumerate(CONTRACT.joints):
        lines.append(f"| {i} | {j.name} | {j.servo_id} | {j.servo_model} | {j.lower_rad:+.3f} | "
                     f"{j.upper_rad:+.3f} | {j.home_rad:+.3f} |")
    return "\n".join(lines)


def axes_at_zero(model: mujoco.MjModel | None = None) -> dict[str, np.ndarray]:
    """World-frame joint axes at qpos 0 (trunk level), contract order."""
    model = model or load_model()
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return {n: data.xaxis[model.joint(n).id].copy() for n in CONTRACT.joint_names}


def upstream_signs(model: mujoco.MjModel | None = None) -> dict[str, dict[str, int]]:
    """+1 where upstream's joint turns the same way as ours at qpos 0, -1 where reversed."""
    ours = axes_at_zero(model)
    ref = upstream_reference()
    return {version: {n: int(np.sign(np.dot(ours[n], axes[n]))) for n in CONTRACT.joint_names}
            for version, axes in (("v1", ref["axes_qpos0"]), ("v2", ref["v2"]["axes_qpos0"]))}


def mapped_range(upstream: tuple[float, float], sign: int) -> tuple[float, float]:
    """An upstream range in this contract's signs."""
    lo, hi = upstream
    return (lo, hi) if sign > 0 else (-hi, -lo)


def _axis(v) -> str:
    names = ("x", "y", "z")
    i = int(np.argmax(np.abs(v)))
    return ("+" if v[i] > 0 else "−") + names[i]


def upstream_markdown() -> str:
    ours = axes_at_zero()
    signs = upstream_signs()
    ref = upstream_reference()
    lines = ["| joint | our axis | v1 axis | v1 sign | v2 axis | v2 sign | v1 range, v1 axes | "
             "v1 range, our axes | our range |", "|---|---|---|---|---|---|---|---|---|"]
    for j in CONTRACT.joints:
        n = j.name
        lo, hi = mapped_range(ref["ranges"][n], signs["v1"][n])
        word = {1: "same", -1: "**reversed**"}
        lines.append(
            f"| {n} | {_axis(ours[n])} | {_axis(ref['axes_qpos0'][n])} | {word[signs['v1'][n]]} | "
            f"{_axis(ref['v2']['axes_qpos0'][n])} | {word[signs['v2'][n]]} | "
            f"[{ref['ranges'][n][0]:+.3f}, {ref['ranges'][n][1]:+.3f}] | [{lo:+.3f}, {hi:+.3f}] | "
            f"[{j.lower_rad:+.3f}, {j.upper_rad:+.3f}] |")
    return "\n".join(lines)


def home_geometry(model: mujoco.MjModel | None = None) -> dict[str, dict[str, np.ndarray]]:
    """At the home pose, in the trunk frame with its origin at the hip-yaw midpoint (the frame
    of the upstream reference): each sole's bottom-face centre, and the knee and ankle axes
    relative to the hip-pitch axis."""
    model = model or load_model()
    data = mujoco.MjData(model)
    adr = [model.jnt_qposadr[model.joint(n).id] for n in CONTRACT.joint_names]
    data.qpos[:] = model.qpos0
    data.qpos[adr] = CONTRACT.home
    mujoco.mj_kinematics(model, data)
    trunk = model.body("trunk").id
    origin = data.xpos[trunk] + data.xmat[trunk].reshape(3, 3)[:, 2] * HIP_YAW_ABOVE_TRUNK_M
    rot = data.xmat[trunk].reshape(3, 3)
    out = {}
    for side in ("right", "left"):
        g = model.geom(f"{side}_sole").id
        bottom = data.geom_xpos[g] - data.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g][2]
        hip = data.xanchor[model.joint(f"{side}_hip_pitch").id]
        out[side] = {
            "sole_centre": (bottom - origin) @ rot,
            "knee_minus_hip_pitch": (data.xanchor[model.joint(f"{side}_knee").id] - hip) @ rot,
            "ankle_minus_hip_pitch": (data.xanchor[model.joint(f"{side}_ankle").id] - hip) @ rot,
        }
    return out


def reference_markdown() -> str:
    ours = home_geometry()
    ref = upstream_reference()["start_pose_fk"]
    lines = ["| side | quantity | this model at home [mm] | upstream v1 at its start pose [mm] | difference [mm] |",
             "|---|---|---|---|---|"]

    def mm(v) -> str:
        return "(" + ", ".join(f"{1000 * x:+.1f}" for x in v) + ")"

    for side in ("right", "left"):
        for key, label in (("sole_centre", "sole centre"), ("knee_minus_hip_pitch", "knee − hip pitch"),
                           ("ankle_minus_hip_pitch", "ankle − hip pitch")):
            a, b = np.asarray(ours[side][key]), np.asarray(ref[side][key])
            lines.append(f"| {side} | {label} | {mm(a)} | {mm(b)} | {1000 * np.linalg.norm(a - b):.1f} |")
    return "\n".join(lines)


def stance_markdown() -> str:
    lines = ["| stance at home, 10 s | final trunk height [m] | final pitch [rad] | largest tilt after 1 s [rad] "
             "| drift [m] |", "|---|---|---|---|---|"]
    for label, noise in (("home targets held", 0.0),
                         (f"plus target noise, std {SERVO_NOISE_RAD} rad per 20 ms", SERVO_NOISE_RAD)):
        s = stance(noise)
        lines.append(f"| {label} | {s['height_m']:.4f} | {s['pitch_rad']:+.4f} | {s['max_tilt_rad']:.4f} | "
                     f"{s['drift_m']:.4f} |")
    return "\n".join(lines)


def generated() -> dict[str, str]:
    return {"totals": totals_markdown(measured_totals()), "joints": joints_markdown(), "signs": sign_table(),
            "upstream": upstream_markdown(), "reference": reference_markdown(), "stance": stance_markdown()}


def render(card: str, sections: dict[str, str]) -> str:
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(\n<!-- {name}:end -->)", re.S)
        if not pattern.search(card):
            raise ValueError(f"model card lacks the <!-- {name}:begin/end --> markers")
        card = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(2), card)
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the generated sections in place")
    args = parser.parse_args(argv)
    card = CARD.read_text()
    fresh = render(card, generated())
    if args.write:
        CARD.write_text(fresh)
        print(f"updated {CARD}")
        return 0
    print(fresh)
    return 0 if fresh == card else 1


if __name__ == "__main__":
    sys.exit(main())

