"""The sign conventions, measured on the model: what a positive angle of each joint moves, and
which way, at the home pose (forward kinematics with the trunk fixed and level).

:func:`derived_sign_conventions` rebuilds :data:`duck.contract.SIGN_CONVENTIONS` from
``mjcf/duck.xml``; tests/test_contract.py checks that they agree, so the table in the contract's
docstring, the model card and ``duck servo calibrate`` cannot drift from the model.
"""

from __future__ import annotations

import mujoco
import numpy as np

from duck.contract import CONTRACT, SIGN_CONVENTIONS, RobotContract, joint_kind
from duck.sim.model import load_model

# What each part is on the model, per side: a point (a site or body origin) or a direction
# (a body's x axis, i.e. where its front points).
_POINT, _DIRECTION = "point", "direction"
_PARTS = {
    "foot": (_POINT, "site", "{side}_foot"),
    "toe": (_DIRECTION, "body", "{side}_foot"),
    "head": (_POINT, "body", "head"),
    "face": (_DIRECTION, "body", "head"),
}
_STEP_RAD = 1e-3


def _probe(model: mujoco.MjModel, data: mujoco.MjData, part: str, side: str) -> np.ndarray:
    kind, objtype, name = _PARTS[part]
    name = name.format(side=side)
    if objtype == "site":
        return data.site_xpos[model.site(name).id].copy()
    body = model.body(name).id
    return (data.xpos[body] if kind == _POINT else data.xmat[body].reshape(3, 3)[:, 0]).copy()


def _direction_word(delta: np.ndarray, side: str) -> str:
    """The dominant component of a (trunk-level) displacement, in words."""
    axis = int(np.argmax(np.abs(delta)))
    positive = delta[axis] > 0
    if axis == 0:
        return "forward" if positive else "backward"
    if axis == 2:
        return "up" if positive else "down"
    if side in ("right", "left"):  # leg joints: relative to the other leg
        toward_other = positive if side == "right" else not positive
        return "inward" if toward_other else "outward"
    return "left" if positive else "right"


def measured_sign(model: mujoco.MjModel, joint: str, part: str, home: np.ndarray) -> str:
    """Which way ``part`` moves when ``joint`` turns positive from ``home`` (contract order)."""
    data = mujoco.MjData(model)
    side = joint.split("_")[0] if joint.startswith(("right_", "left_")) else "head"
    adr = [model.jnt_qposadr[model.joint(n).id] for n in CONTRACT.joint_names]

    def probe(offset: float) -> np.ndarray:
        data.qpos[:] = model.qpos0  # trunk at the origin, level
        data.qpos[adr] = home
        data.qpos[model.jnt_qposadr[model.joint(joint).id]] += offset
        mujoco.mj_kinematics(model, data)
        return _probe(model, data, part, side)

    return _direction_word(probe(_STEP_RAD) - probe(0.0), side)


def derived_sign_conventions(model: mujoco.MjModel | None = None,
                             contract: RobotContract = CONTRACT) -> dict[str, dict[str, str]]:
    """joint kind -> {joint name: measured direction} for the part the contract names."""
    model = model or load_model()
    out: dict[str, dict[str, str]] = {}
    for name in contract.joint_names:
        kind = joint_kind(name)
        part, _ = SIGN_CONVENTIONS[kind]
        out.setdefault(kind, {})[name] = measured_sign(model, name, part, contract.home)
    return out
