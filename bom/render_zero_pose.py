"""Render the calibration zero pose (every joint at 0 rad: legs straight) to bom/zero_pose.png.

Run from the repository root:  MUJOCO_GL=egl .venv/bin/python bom/render_zero_pose.py
The picture is regenerated from mjcf/scene.xml, so it follows the model.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless: no display on the build machines

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from duck.paths import BOM_DIR, SCENE_XML  # noqa: E402


def render(path=BOM_DIR / "zero_pose.png", width: int = 360, height: int = 400) -> None:
    model = mujoco.MjModel.from_xml_path(str(SCENE_XML))
    data = mujoco.MjData(model)
    data.qpos[:] = 0.0
    data.qpos[3] = 1.0  # identity quaternion for the free joint: trunk level
    mujoco.mj_forward(model, data)
    # Stand the robot on the floor: lift the trunk until the lowest sole touches z = 0.
    soles = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, n) for n in ("left_sole", "right_sole")]
    lowest = min(data.geom_xpos[g][2] - model.geom_size[g][2] for g in soles)
    data.qpos[2] -= lowest
    mujoco.mj_forward(model, data)

    # The visual geoms are boxes at the servos; show the collision capsules too so the
    # straight thigh and shin read clearly.
    option = mujoco.MjvOption()
    option.geomgroup[3] = 1
    views = []
    with mujoco.Renderer(model, height=height, width=width) as renderer:
        for azimuth in (150.0, 90.0):  # three-quarter front view, then the side (x forward = right)
            camera = mujoco.MjvCamera()
            camera.lookat[:] = (0.0, 0.0, 0.16)
            camera.distance, camera.azimuth, camera.elevation = 0.62, azimuth, -8.0
            renderer.update_scene(data, camera, scene_option=option)
            views.append(renderer.render())
    Image.fromarray(np.hstack(views)).quantize(colors=128).save(path, optimize=True)
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")


if __name__ == "__main__":
    render()
