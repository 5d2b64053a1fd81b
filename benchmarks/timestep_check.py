"""Evidence for the 4 ms physics timestep: the same open-loop trajectory at 4, 2 and 0.5 ms.

Joint targets follow a stepping-like sinusoid around home for 3 s (policy-free). We compare
the trunk position, orientation and joint angles against the 0.5 ms reference.
Run: python benchmarks/timestep_check.py
"""

import time

import mujoco
import numpy as np

from duck.contract import CONTRACT
from duck.sim.model import load_model


def trajectory(dt: float, seconds: float = 3.0):
    model = load_model(dt)
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, 0)
    legs = CONTRACT.action_indices
    out, t0 = [], time.perf_counter()
    for k in range(int(round(seconds / 0.02))):
        t = k * 0.02
        wave = np.zeros(CONTRACT.num_joints)
        phase = 2 * np.pi * t / CONTRACT.gait_period_s
        wave[legs] = 0.15 * np.sin(phase + np.repeat([0.0, np.pi], 5))
        data.ctrl[:] = CONTRACT.home + wave
        for _ in range(int(round(0.02 / dt))):
            mujoco.mj_step(model, data)
        out.append(np.concatenate([data.qpos[:3], data.qpos[3:7], data.qpos[7:]]))
    return np.array(out), time.perf_counter() - t0


if __name__ == "__main__":
    ref, ref_time = trajectory(0.0005)
    print(f"{'dt':>8} {'max |trunk pos| err [mm]':>26} {'max |joint| err [rad]':>22} {'wall [s]':>9}")
    for dt in (0.004, 0.002, 0.0005):
        traj, wall = trajectory(dt)
        pos_err = np.max(np.linalg.norm(traj[:, :3] - ref[:, :3], axis=1)) * 1000
        joint_err = np.max(np.abs(traj[:, 7:] - ref[:, 7:]))
        print(f"{dt * 1000:6.1f}ms {pos_err:26.2f} {joint_err:22.4f} {wall:9.2f}")
