"""Render docs/duck.png (the README picture) from the MJCF at the home pose."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import imageio.v2 as imageio  # noqa: E402
import mujoco  # noqa: E402

from duck.paths import REPO_ROOT, SCENE_XML  # noqa: E402

model = mujoco.MjModel.from_xml_path(str(SCENE_XML))
data = mujoco.MjData(model)
mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
mujoco.mj_forward(model, data)
camera = mujoco.MjvCamera()
camera.lookat[:] = (0.0, 0.0, 0.17)
camera.distance, camera.elevation, camera.azimuth = 0.75, -12.0, 145.0
with mujoco.Renderer(model, 360, 480) as renderer:
    renderer.update_scene(data, camera)
    imageio.imwrite(REPO_ROOT / "docs" / "duck.png", renderer.render())
print("wrote docs/duck.png")
