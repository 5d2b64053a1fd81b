"""Replay recorded goals on a batch of simulated servos carrying the test arm, in MuJoCo.

One MuJoCo model holds ``n`` independent copies of the rig (one hinge + the
test arm; copies do not collide), one per candidate parameter set, so an
optimizer's whole population is simulated in one pass. Each physics step the
servo model (:class:`firmware_bridge.servo_model.ServoBank`: firmware position
law in register units, PWM slope and limit, the DC motor's drive at the supply,
backlash dead band) gives every copy's drive torque in numpy; MuJoCo integrates
the arm with the servo model's passive terms as the software servo
(:mod:`duck.sim.servo_backend`) does: back-EMF and viscous friction as joint
damping, Coulomb friction as ``frictionloss`` (exact stiction from the
constraint solver), the reflected rotor inertia as ``armature``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from firmware_bridge.servo_model import FirmwareGains, ServoBank, ServoParams, joint_damping

from .load import TestArm

TIMESTEP_S = 0.001


@dataclass(frozen=True)
class Candidate:
    """One hypothesis about the servo: its model parameters and the supply it ran on."""

    params: ServoParams
    supply_v: float


def rig_xml(load: TestArm, n: int) -> str:
    """MJCF of ``n`` copies of the servo + test arm (gravity along -z, arm hanging at q = 0)."""
    bodies = []
    r = 0.006
    for i in range(n):
        geoms = []
        if load.arm_mass_kg > 0:
            geoms.append(f'<geom type="capsule" fromto="0 0 0 0 0 {-load.length_m}" size="{r}" '
                         f'mass="{load.arm_mass_kg}"/>')
        if load.mass_kg > 0:
            geoms.append(f'<geom type="sphere" pos="0 0 {-load.length_m}" size="{r}" mass="{load.mass_kg}"/>')
        bodies.append(f"""
    <body name="arm{i}" pos="{0.3 * i} 0 1">
      <joint name="servo{i}" type="hinge" axis="0 1 0"/>
      {''.join(geoms)}
    </body>""")
    return f"""<mujoco model="sysid_rig">
  <option timestep="{TIMESTEP_S}" gravity="0 0 -9.81" integrator="implicitfast"/>
  <default><geom contype="0" conaffinity="0"/></default>
  <worldbody>{''.join(bodies)}
  </worldbody>
</mujoco>"""


@dataclass
class Rollout:
    """Simulated position (rad), duty and current at the log's sample times, one row per candidate."""

    position_rad: np.ndarray  # (n, samples)
    duty: np.ndarray
    current_a: np.ndarray

    def row(self, k: int) -> Rollout:
        return Rollout(self.position_rad[k], self.duty[k], self.current_a[k])


class RigSim:
    """``n`` simulated servos + test arms. :meth:`configure` sets their parameters; :meth:`step`
    advances all of them one physics step; :meth:`replay` runs a whole recorded goal sequence."""

    def __init__(self, load: TestArm, n: int) -> None:
        self.n = n
        self.model = mujoco.MjModel.from_xml_string(rig_xml(load, n))
        self.data = mujoco.MjData(self.model)
        jid = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, f"servo{i}") for i in range(n)]
        self.dof = np.array([self.model.jnt_dofadr[j] for j in jid])
        self.qadr = np.array([self.model.jnt_qposadr[j] for j in jid])
        self.bank: ServoBank | None = None
        self.supply_v = np.zeros(n)
        self.state: dict[str, np.ndarray] = {}
        self.torque_on: np.ndarray | bool = True
        self.duty = np.zeros(n)
        self.current = np.zeros(n)

    def configure(self, candidates: Sequence[Candidate], gains: FirmwareGains) -> None:
        if len(candidates) != self.n:
            raise ValueError(f"expected {self.n} candidates, got {len(candidates)}")
        params = [c.params for c in candidates]
        self.bank = ServoBank(params, [gains] * self.n)
        self.supply_v = np.array([c.supply_v for c in candidates], dtype=np.float64)
        m = self.model
        m.dof_armature[self.dof] = [p.armature_kgm2 for p in params]
        m.dof_frictionloss[self.dof] = [p.friction_coulomb_nm for p in params]
        self.damping_on = np.array([joint_damping(p) for p in params])  # back-EMF + viscous
        self.damping_off = np.array([p.friction_viscous_nms for p in params])  # driver open: no back-EMF
        self.set_torque(self.torque_on)

    def reset(self, q0: float | np.ndarray = 0.0) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.qadr] = q0
        mujoco.mj_forward(self.model, self.data)
        self.state = self.bank.state() if self.bank is not None else {}

    @property
    def position(self) -> np.ndarray:
        return self.data.qpos[self.qadr]

    @property
    def velocity(self) -> np.ndarray:
        return self.data.qvel[self.dof]

    def set_torque(self, on: bool) -> None:
        self.torque_on = bool(on)
        if self.bank is not None:
            self.model.dof_damping[self.dof] = self.damping_on if on else self.damping_off
            self.state = self.bank.state() if not on else self.state

    def step(self, goal: float | np.ndarray) -> None:
        d = self.data
        tau, self.current = self.bank.torque(np.broadcast_to(goal, (self.n,)), d.qpos[self.qadr], d.qvel[self.dof],
                                             self.supply_v, self.state, TIMESTEP_S, torque_on=self.torque_on,
                                             coulomb=False, damping=False)
        self.duty = self.state["duty"]
        d.qfrc_applied[self.dof] = tau
        mujoco.mj_step(self.model, d)

    def replay(self, candidates: Sequence[Candidate], gains: FirmwareGains, t_goal: np.ndarray, goal: np.ndarray,
               t_sample: np.ndarray, q0: float = 0.0) -> Rollout:
        """Goals switch at ``t_goal`` (zero-order hold); values are taken at ``t_sample``."""
        self.configure(candidates, gains)
        self.reset(q0)
        self.set_torque(True)
        end = float(max(t_goal[-1], t_sample[-1])) + TIMESTEP_S
        steps = int(np.ceil(end / TIMESTEP_S))
        starts = np.arange(steps) * TIMESTEP_S
        goal_at = goal[np.clip(np.searchsorted(t_goal, starts, side="right") - 1, 0, len(goal) - 1)]
        # sample k is read after the step that ends nearest t_sample[k]
        sample_step = np.clip(np.rint(t_sample / TIMESTEP_S).astype(np.int64) - 1, 0, steps - 1)
        order = np.argsort(sample_step, kind="stable")
        pos = np.empty((self.n, len(t_sample)))
        duty = np.empty_like(pos)
        cur = np.empty_like(pos)
        j = 0
        for s in range(steps):
            self.step(goal_at[s])
            while j < len(order) and sample_step[order[j]] == s:
                k = order[j]
                pos[:, k], duty[:, k], cur[:, k] = self.position, self.duty, self.current
                j += 1
        return Rollout(pos, duty, cur)
