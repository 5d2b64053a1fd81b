"""The shipped policy, closed loop, on (a) the training env's actuators and (b) the full servo law of
the software servo (duck.sim.servo_backend), stepped in lockstep (no real time, no bus): does a policy
trained on (a) walk on (b), and on (b) with backlash, a low supply, and the factory gains?

Observation and post-processing are the contract's (CONTRACT.pack, CONTRACT.policy_targets), as in the
env and the runtime; no noise, no latency.

    python benchmarks/servo_model_walk.py   # -> benchmarks/results/servo_model_walk.json
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import mujoco
import numpy as np

from duck.contract import CONTRACT as C
from duck.paths import POLICIES_DIR, SCENE_XML
from duck.runtime.policy import load_policy
from duck.servo_profile import SERVO_PROFILE
from duck.sim.servo_backend import MujocoServoBackend
from duck.transforms import gravity_in_body
from firmware_bridge.servo_model import servo_params

ROOT = Path(__file__).resolve().parents[1]
SUBSTEPS = 5


class PlantA:
    """The env's MJCF position actuators."""

    def __init__(self) -> None:
        self.model = mujoco.MjModel.from_xml_path(str(SCENE_XML))
        self.data = mujoco.MjData(self.model)
        mujoco.mj_resetDataKeyframe(self.model, self.data, self.model.key("home").id)
        self.qadr = np.array([self.model.jnt_qposadr[self.model.joint(n).id] for n in C.joint_names])
        self.dofs = np.array([self.model.jnt_dofadr[self.model.joint(n).id] for n in C.joint_names])

    def apply(self, targets: np.ndarray) -> None:
        self.data.ctrl[:] = targets

    def step(self) -> None:
        mujoco.mj_step(self.model, self.data)


class PlantB:
    """The software servo's physics: ServoBank per substep."""

    def __init__(self, supply_v: float | None = None, backlash_deg: float = 0.0, factory: bool = False) -> None:
        overrides = {m: servo_params(m).with_overrides(backlash_rad=math.radians(backlash_deg))
                     for m in {j.servo_model for j in C.joints}} if backlash_deg else None
        self.b = MujocoServoBackend(supply_v=supply_v, overrides=overrides)
        self.model, self.data = self.b.model, self.b.data
        self.qadr, self.dofs = self.b._qadr, self.b._dofs
        for j in C.joints:
            g = servo_params(j.servo_model).factory_gains if factory else SERVO_PROFILE.gains_for(j.servo_model)
            self.b.set_gains(j.servo_id, g.p, g.i, g.d, g.pwm_limit, g.pwm_slope)
            self.b.set_goal(j.servo_id, j.home_rad)
            self.b.set_torque(j.servo_id, True)

    def apply(self, targets: np.ndarray) -> None:
        for j, t in zip(C.joints, targets):
            self.b.set_goal(j.servo_id, float(t))

    def step(self) -> None:
        self.b._physics_step()


def walk(plant, policy, seconds: float = 10.0, command=(0.15, 0.0, 0.0)) -> dict:
    m, d = plant.model, plant.data
    gyro_adr = m.sensor_adr[m.sensor("imu_gyro").id]
    command = np.asarray(command, dtype=float)
    targets, last_action, clock = C.home.copy(), np.zeros(C.action_dim), 0.0
    for _ in range(int(1.0 / (SUBSTEPS * m.opt.timestep))):  # settle at home for 1 s
        plant.apply(C.home)
        for _ in range(SUBSTEPS):
            plant.step()
    start = d.qpos[:2].copy()
    fell = False
    for _ in range(int(seconds * C.control_rate_hz)):
        obs = C.pack({"gyro": d.sensordata[gyro_adr:gyro_adr + 3], "gravity": gravity_in_body(d.qpos[3:7]),
                      "command": command, "joint_pos": d.qpos[plant.qadr] - C.home, "joint_vel": d.qvel[plant.dofs],
                      "last_action": last_action, "gait_phase": C.gait_phase(clock)})
        action, offsets = policy(obs)
        last_action = np.asarray(action, dtype=float)
        targets = C.policy_targets(offsets, C.gait_phase(clock), command, np.zeros(len(C.head_indices)), targets)
        clock = float(C.advance_gait_clock(clock, last_action))
        plant.apply(targets)
        for _ in range(SUBSTEPS):
            plant.step()
        if -gravity_in_body(d.qpos[3:7])[2] < math.cos(0.8) or d.qpos[2] < 0.09:
            fell = True
            break
    return {"distance_m": float(d.qpos[0] - start[0]), "drift_m": float(abs(d.qpos[1] - start[1])), "fell": fell}


def main() -> int:
    policy = load_policy(POLICIES_DIR / "walk.onnx")
    cases = {
        "a (training env)": PlantA,
        "b (servo law, profile gains, 5.0 V)": PlantB,
        "b, backlash 0.5 deg": lambda: PlantB(backlash_deg=0.5),
        "b, supply 4.5 V": lambda: PlantB(supply_v=4.5),
        "b, factory gains (what duck run used to restore)": lambda: PlantB(factory=True),
    }
    results = {name: walk(make(), policy) for name, make in cases.items()}
    print(json.dumps(results, indent=2))
    out = ROOT / "benchmarks" / "results" / "servo_model_walk.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
