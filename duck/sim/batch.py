"""The batched walking simulation: N MuJoCo instances stepped together.

Physics runs in ``mujoco.rollout``'s C thread pool (the GIL is released), and
observations, rewards, commands, pushes and noise are numpy over the batch. The
only per-env Python is at reset, to write randomized dynamics into that env's
model. The single gymnasium env (``duck.sim.walk_env``) is this class with N = 1;
each env draws from its own counter-based random stream, so env *i* of a batch
behaves exactly like a single env with the same seed.
"""

from __future__ import annotations

import copy

import mujoco
import numpy as np
from mujoco import rollout

from duck.contract import CONTRACT, RobotContract
from duck.sim import rewards
from duck.sim.config import EnvConfig
from duck.sim.model import ModelIndex, Nominal, apply_dynamics, draw_dynamics, dynamics_draws, load_model
from duck.sim.rng import BatchRNG
from duck.sim.terrain import Terrain
from duck.transforms import gravity_in_body, heading_frame, quat_to_mat, quat_to_yaw

_MAX_LATENCY = 5  # buffer depth for action/IMU latency
_NO_KICK = -(1 << 40)  # last_kick_step before an episode's first kick

# What a privileged critic sees besides the policy's observation (training only: none of it
# is measurable on the robot), in this order; see BatchSim.privileged_observation. Each field
# carries its reflection under the sagittal mirror as (permutation, sign) within the field, the
# convention of RobotContract.observation_mirror: velocities flip y, the rate flips x and z (an
# axial vector), the feet swap, scalars stay. A field's width is the length of its permutation.
PRIVILEGED_MIRROR: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "base_lin_vel_body": ((0, 1, 2), (1.0, -1.0, 1.0)),  # true base velocity, body frame: what a kick changes
    "base_height": ((0,), (1.0,)),
    "foot_contact": ((1, 0), (1.0, 1.0)),
    "gyro_clean": ((0, 1, 2), (-1.0, 1.0, -1.0)),  # the IMU rate without noise or latency
    "floor_friction": ((0,), (1.0,)),
    "trunk_com_offset": ((0, 1), (1.0, -1.0)),  # m, x and y
    "latency_steps": ((0, 1), (1.0, 1.0)),  # action, IMU
}
PRIVILEGED_FIELDS: dict[str, int] = {name: len(perm) for name, (perm, _) in PRIVILEGED_MIRROR.items()}
PRIVILEGED_DIM = sum(PRIVILEGED_FIELDS.values())


def privileged_mirror() -> tuple[np.ndarray, np.ndarray]:
    """(permutation, sign) over the privileged block: ``mirrored = block[..., perm] * sign``."""
    perm, sign, start = [], [], 0
    for field_perm, field_sign in PRIVILEGED_MIRROR.values():
        perm.extend(start + i for i in field_perm)
        sign.extend(field_sign)
        start += len(field_perm)
    return np.array(perm), np.array(sign)


class BatchSim:
    """N walking envs. ``step`` returns obs, reward, terminated, truncated and per-term info.

    It does not auto-reset: the caller resets finished envs with :meth:`reset`.
    """

    def __init__(self, num_envs: int, config: EnvConfig = EnvConfig(), contract: RobotContract = CONTRACT,
                 nthread: int | None = None, model: mujoco.MjModel | None = None):
        self.n = num_envs
        self.cfg = config
        self.contract = contract
        # ``model``: another compiled scene of the same robot (eval's rough floor); default the scene.
        base = load_model(config.physics_dt_s) if model is None else model
        # Rough floors (dr.terrain): the base becomes the heightfield scene, switched to the plane.
        self.terrain = None
        if model is None and config.dr.enabled and config.dr.terrain.probability > 0:
            self.terrain = Terrain(config.dr.terrain, num_envs, config.physics_dt_s, plane_model=base)
            base = self.terrain.model
        self.idx = ModelIndex.build(base, contract)
        self.nominal = Nominal.of(base)
        # One model per env only when dynamics are randomized; rollout accepts a shared one.
        self.models = [copy.copy(base) for _ in range(num_envs)] if config.dr.enabled else [base] * num_envs
        self.model = base
        threads = nthread if nthread is not None else min(2, max(1, num_envs))
        self.pool = rollout.Rollout(nthread=threads if num_envs > 1 else 0)
        self.datas = [mujoco.MjData(base) for _ in range(max(1, threads))]
        self.substeps = int(round(contract.control_dt_s / config.physics_dt_s))
        if abs(self.substeps * config.physics_dt_s - contract.control_dt_s) > 1e-9:
            raise ValueError("physics_dt_s must divide the control period")
        self.max_steps = int(round(config.episode_length_s / contract.control_dt_s))
        self.rng = BatchRNG(num_envs)
        self.all = np.arange(num_envs)
        self.leg_joints = np.array([i for i, j in enumerate(contract.joints) if j.group != "head"])
        # Where the feet are and which way gravity points once the robot has settled at home:
        # the capture step's stance spots and the orientation cost's neutral (the real home pose
        # leans the trunk back, and the keyframe's rigid-servo lean settles under load).
        self.home_foot_offset_xy, home_gravity = home_stance(base, self.idx)
        self.home_gravity_xy = home_gravity[:2]
        self.posture_weights = np.array(
            [1.0 if n.endswith(("hip_yaw", "hip_roll")) else (0.3 if j.group == "head" else 0.0)
             for n, j in zip(contract.joint_names, contract.joints)])
        self._alloc()

    # ---------------------------------------------------------------- state ---
    def _alloc(self) -> None:
        n, c, m = self.n, self.contract, self.model
        self.nstate = mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        self.state = np.zeros((n, self.nstate))
        self._state_out = np.zeros((n, self.substeps, self.nstate))
        self._sens_out = np.zeros((n, self.substeps, m.nsensordata))
        self.sensors = np.zeros((n, m.nsensordata))
        self._ctrl = np.zeros((n, self.substeps, m.nu))
        self.step_count = np.zeros(n, dtype=np.int64)
        self.command = np.zeros((n, 3))
        self.head_command = np.zeros((n, len(c.head_indices)))
        self.next_command_step = np.zeros(n, dtype=np.int64)
        self.next_head_step = np.zeros(n, dtype=np.int64)
        self.next_push_step = np.zeros(n, dtype=np.int64)
        self.last_action = np.zeros((n, c.action_dim))
        self.targets = np.tile(c.home, (n, 1))
        self.offset_buffer = np.zeros((n, _MAX_LATENCY, c.num_leg_actions))
        self.gait_clock = np.zeros(n)  # in gait periods; the policy sets its rate
        self.imu_buffer = np.zeros((n, _MAX_LATENCY, 6))
        self.action_latency = np.zeros(n, dtype=np.int64)
        self.imu_latency = np.zeros(n, dtype=np.int64)
        self.joint_offset = np.zeros((n, c.num_joints))
        self.kp = np.tile(self.nominal.gainprm0, (n, 1))
        self.torque_limit = np.tile(self.nominal.forcerange[:, 1], (n, 1))
        self.push_count = np.zeros(n, dtype=np.int64)
        # Episode step of each env's latest kick (far in the past before the first) and kicks
        # given since construction: the trainer's kick curriculum counts falls that follow one.
        self.last_kick_step = np.full(n, _NO_KICK, dtype=np.int64)
        self.kicks_given = 0
        self.foot_contact = np.zeros((n, 2), dtype=bool)
        # Floor friction and trunk CoM offset (x, y) of each env's dynamics, for the privileged critic.
        self.nominal_dynamics = np.array([self.nominal.geom_friction[self.idx.floor_geom, 0], 0.0, 0.0])
        self.dynamics_params = np.tile(self.nominal_dynamics, (n, 1))
        self.push_scale = 1.0  # curriculum knob, set by the trainer: kick magnitude multiplier
        # Optional (sim, ctrl) -> ctrl applied to the actuator setpoints each control step; eval's
        # servo conditions (duck/sim/servo_conditions.py: backlash) hook in here.
        self.ctrl_hook = None

    @property
    def qpos(self) -> np.ndarray:
        return self.state[:, 1:1 + self.model.nq]

    @property
    def qvel(self) -> np.ndarray:
        return self.state[:, 1 + self.model.nq:1 + self.model.nq + self.model.nv]

    # ---------------------------------------------------------------- reset ---
    def seed(self, seeds: np.ndarray, idx: np.ndarray | None = None) -> None:
        self.rng.seed(self.all if idx is None else idx, seeds)

    def reset(self, idx: np.ndarray) -> np.ndarray:
        """Reset envs ``idx``; returns their observations (len(idx), obs_dim)."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return np.zeros((0, self.contract.obs_dim), dtype=np.float32)
        cfg, dr, c = self.cfg, self.cfg.dr, self.contract
        k = idx.size
        # Fixed draw layout per reset keeps streams aligned whatever is enabled.
        u_dyn = self.rng.uniform(idx, dynamics_draws(self.model))
        u_misc = self.rng.uniform(idx, 4 + c.num_joints)
        joint_noise = self.rng.uniform(idx, c.num_joints, -1.0, 1.0) * cfg.init_joint_noise_rad
        if dr.enabled:
            samples = draw_dynamics(u_dyn, self.model, dr)
            for i, s in zip(idx, samples):  # per-env only at reset: each env owns a model
                apply_dynamics(self.models[i], self.nominal, self.idx, s)
                self.kp[i] = self.models[i].actuator_gainprm[:, 0]
                self.torque_limit[i] = self.models[i].actuator_forcerange[:, 1]
                self.dynamics_params[i] = (s.friction, *s.com_offset)
            lat_a = dr.action_latency_steps
            lat_i = dr.imu_latency_steps
            self.action_latency[idx] = np.minimum(lat_a[0] + np.floor(u_misc[:, 0] * (lat_a[1] - lat_a[0] + 1)),
                                                  lat_a[1]).astype(np.int64)
            self.imu_latency[idx] = np.minimum(lat_i[0] + np.floor(u_misc[:, 1] * (lat_i[1] - lat_i[0] + 1)),
                                               lat_i[1]).astype(np.int64)
            self.joint_offset[idx] = (u_misc[:, 4:] * 2 - 1) * dr.joint_offset_rad
        else:
            self.action_latency[idx] = 0
            self.imu_latency[idx] = 0
            self.joint_offset[idx] = 0.0
            self.dynamics_params[idx] = self.nominal_dynamics
        if self.terrain is not None:  # drawn last, and only then: flat training keeps its streams
            self.terrain.reset(idx, self.rng.uniform(idx, Terrain.DRAWS), self.models)
        qpos = np.tile(self.idx.home_qpos, (k, 1))
        qpos[:, self.idx.qpos_joints] += joint_noise
        self.state[idx] = 0.0
        self.state[idx, 1:1 + self.model.nq] = qpos
        self.step_count[idx] = 0
        self.gait_clock[idx] = 0.0
        self.last_action[idx] = 0.0
        self.offset_buffer[idx] = 0.0
        self.targets[idx] = c.home
        self._resample_head(idx)
        self.push_count[idx] = 0
        self.last_kick_step[idx] = _NO_KICK
        self.foot_contact[idx] = False
        self._resample_commands(idx)
        self._schedule_push(idx, u_misc[:, 2])
        # Settle sensors: one forward pass gives consistent IMU readings at t=0.
        self.sensors[idx] = self._forward_sensors(idx)
        self.imu_buffer[idx] = self._imu_now(idx)[:, None, :]
        return self._observe(idx)

    def _copy_state_to_data(self, data: mujoco.MjData, model: mujoco.MjModel, row: np.ndarray) -> None:
        mujoco.mj_setState(model, data, row, mujoco.mjtState.mjSTATE_FULLPHYSICS)

    def _forward_sensors(self, idx: np.ndarray) -> np.ndarray:
        out = np.zeros((idx.size, self.model.nsensordata))
        data = self.datas[0]
        for j, i in enumerate(idx):  # reset-only
            self._copy_state_to_data(data, self.models[i], self.state[i])
            mujoco.mj_forward(self.models[i], data)
            out[j] = data.sensordata
        return out

    def _steps(self, seconds: np.ndarray) -> np.ndarray:
        return np.maximum(1, np.round(seconds / self.contract.control_dt_s)).astype(np.int64)

    def _resample_commands(self, idx: np.ndarray) -> None:
        cc = self.cfg.commands
        u = self.rng.uniform(idx, 5)
        low, high = self.contract.commands.as_arrays()
        cmd = (low + (high - low) * u[:, :3]) * cc.range_scale
        cmd[u[:, 3] < cc.stand_probability] = 0.0
        self.command[idx] = cmd
        lo, hi = cc.resample_interval_s
        self.next_command_step[idx] = self.step_count[idx] + self._steps(lo + (hi - lo) * u[:, 4])

    def _resample_head(self, idx: np.ndarray) -> None:
        hc = self.cfg.commands.head
        if hc.range_scale <= 0.0:  # no draws: the random streams stay those of Walk-v5
            self.head_command[idx] = 0.0
            self.next_head_step[idx] = np.iinfo(np.int64).max
            return
        nh = self.head_command.shape[1]
        u = self.rng.uniform(idx, nh + 2)
        r = self.contract.head_command_range_rad
        head = (r.low + (r.high - r.low) * u[:, :nh]) * hc.range_scale
        head[u[:, nh] < hc.home_probability] = 0.0
        self.head_command[idx] = head
        lo, hi = hc.resample_interval_s
        self.next_head_step[idx] = self.step_count[idx] + self._steps(lo + (hi - lo) * u[:, nh + 1])

    def set_head_command(self, head: np.ndarray, idx: np.ndarray | None = None, hold: bool = True) -> None:
        """Force head commands (rad, contract's head joint order); ``hold`` stops their resampling."""
        idx = self.all if idx is None else np.asarray(idx)
        self.head_command[idx] = head
        if hold:
            self.next_head_step[idx] = np.iinfo(np.int64).max

    def _schedule_push(self, idx: np.ndarray, u: np.ndarray) -> None:
        lo, hi = self.cfg.dr.push.interval_s
        self.next_push_step[idx] = self.step_count[idx] + self._steps(lo + (hi - lo) * u)

    def set_command(self, command: np.ndarray, idx: np.ndarray | None = None, hold: bool = True) -> None:
        """Force a command (eval, teleop). ``hold`` stops the random resampling."""
        idx = self.all if idx is None else np.asarray(idx)
        self.command[idx] = command
        if hold:
            self.next_command_step[idx] = np.iinfo(np.int64).max

    def observe(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Fresh observations (e.g. after :meth:`set_command`), with this step's sensor noise."""
        return self._observe(self.all if idx is None else np.asarray(idx))

    def step_state(self) -> rewards.StepState:
        """Everything the reward terms see, for the state reached by the last :meth:`step`."""
        touch = self.sensors[:, self.idx.foot_touch] > 0.0
        return self._step_state(self.last_action, touch)

    def kick(self, idx: np.ndarray, velocity_xy: np.ndarray) -> None:
        """Add a horizontal velocity kick (m/s) to the base of envs ``idx``."""
        self.qvel[idx, 0:2] += velocity_xy

    # ----------------------------------------------------------------- step ---
    def step(self, action: np.ndarray):
        c, cfg = self.contract, self.cfg
        clipped = c.clip_action(action)
        offsets = c.action_to_offsets(clipped)
        self.offset_buffer = np.roll(self.offset_buffer, 1, axis=1)
        self.offset_buffer[:, 0] = offsets
        delayed = self.offset_buffer[self.all, self.action_latency]
        # The reference uses the phase and command of the observation the policy just saw.
        phase = c.gait_phase(self.gait_clock)
        self.targets = c.policy_targets(delayed, phase, self.command, self.head_command, self.targets)
        ctrl = self.targets + self.joint_offset
        if self.ctrl_hook is not None:
            ctrl = self.ctrl_hook(self, ctrl)

        if cfg.dr.push.enabled:
            self._apply_due_pushes()

        self._ctrl[:] = ctrl[:, None, :]  # zero-order hold over the substeps
        state, sens = self.pool.rollout(
            self.models, self.datas, self.state, self._ctrl, nstep=self.substeps, skip_checks=True,
            state=self._state_out, sensordata=self._sens_out)
        self.state[:] = state[:, -1]
        self.sensors[:] = sens[:, -1]
        touch = np.max(sens[:, :, self.idx.foot_touch], axis=1) > 0.0
        self.foot_contact[:] = touch
        self.step_count += 1
        self.gait_clock = c.advance_gait_clock(self.gait_clock, clipped)

        finite = np.all(np.isfinite(self.state), axis=1)
        if not finite.all():
            self.state[~finite] = 0.0
            self.state[~finite, 1:1 + self.model.nq] = self.idx.home_qpos
            self.sensors[~finite] = 0.0
        s = self._step_state(clipped, touch)
        tilt_cos = -s.gravity_body[:, 2]
        terminated = (~finite) | (tilt_cos < np.cos(cfg.fall_tilt_rad)) | (s.base_height < cfg.fall_height_m)
        s.terminated = terminated
        reward, terms = rewards.compute(s, cfg.reward, cfg.shape)
        truncated = (self.step_count >= self.max_steps) & ~terminated
        self.last_action = clipped

        due = np.flatnonzero(self.step_count >= self.next_command_step)
        if due.size:
            self._resample_commands(due)
        due_head = np.flatnonzero(self.step_count >= self.next_head_step)
        if due_head.size:
            self._resample_head(due_head)
        self.imu_buffer = np.roll(self.imu_buffer, 1, axis=1)
        self.imu_buffer[:, 0] = self._imu_now(self.all)
        obs = self._observe(self.all)
        info = {"reward_terms": terms, "fell": terminated, "command": self.command.copy()}
        return obs, reward, terminated, truncated, info

    def _apply_due_pushes(self) -> None:
        due = np.flatnonzero(self.step_count >= self.next_push_step)
        if due.size == 0:
            return
        u = self.rng.uniform(due, 3)
        lo, hi = self.cfg.dr.push.magnitude_mps
        magnitude = (lo + (hi - lo) * u[:, 0]) * self.push_scale
        angle = 2 * np.pi * u[:, 1]
        self.kick(due, magnitude[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1))
        self.push_count[due] += 1
        self.last_kick_step[due] = self.step_count[due]
        self.kicks_given += due.size
        self._schedule_push(due, u[:, 2])

    def _step_state(self, clipped: np.ndarray, touch: np.ndarray) -> rewards.StepState:
        qpos, qvel, sens, idx = self.qpos, self.qvel, self.sensors, self.idx
        quat = qpos[:, 3:7]
        yaw = quat_to_yaw(quat)
        joint_pos = qpos[:, idx.qpos_joints]
        torque = np.clip(self.kp * (self.targets + self.joint_offset - joint_pos), -self.torque_limit,
                         self.torque_limit)
        rot_body = quat_to_mat(quat)
        ang_vel_world = np.einsum("nij,nj->ni", rot_body, qvel[:, 3:6])
        foot_pos = np.stack([sens[:, idx.foot_pos[0]], sens[:, idx.foot_pos[1]]], axis=1)
        foot_vel = np.stack([sens[:, idx.foot_vel[0]], sens[:, idx.foot_vel[1]]], axis=1)
        foot_offset = heading_frame(yaw[:, None], foot_pos - qpos[:, None, 0:3])[..., :2]
        return rewards.StepState(
            lin_vel_heading=heading_frame(yaw, qvel[:, 0:3]),
            ang_vel_world=ang_vel_world,
            gravity_body=gravity_in_body(quat),
            base_height=qpos[:, 2] - self._floor_under(qpos[:, 0:2]),
            command=self.command,
            joint_pos_rel=joint_pos - self.contract.home,
            joint_vel=qvel[:, idx.qvel_joints],
            torque=torque,
            action=clipped,
            last_action=self.last_action,
            foot_height=foot_pos[:, :, 2] - SOLE_SITE_HEIGHT - self._floor_under(foot_pos[:, :, 0:2]),
            foot_vel_xy=foot_vel[:, :, :2],
            foot_contact=touch,
            foot_offset_xy=foot_offset,
            home_foot_offset_xy=self.home_foot_offset_xy,
            home_gravity_xy=self.home_gravity_xy,
            phase_sin=self.contract.gait_phase(self.gait_clock)[:, 1],
            terminated=np.zeros(self.n, dtype=bool),
            posture_weights=self.posture_weights,
            leg_joints=self.leg_joints,
        )

    def _floor_under(self, xy: np.ndarray) -> np.ndarray:
        """Floor height under ``xy`` (num_envs, ..., 2): 0 unless training on rough floors."""
        return np.zeros(xy.shape[:-1]) if self.terrain is None else self.terrain.floor_height(xy)

    # ---------------------------------------------------------- observation ---
    def _imu_now(self, idx: np.ndarray) -> np.ndarray:
        gyro = self.sensors[idx][:, self.idx.gyro]
        gravity = gravity_in_body(self.qpos[idx, 3:7])
        return np.concatenate([gyro, gravity], axis=-1)

    def _observe(self, idx: np.ndarray) -> np.ndarray:
        c = self.contract
        imu = self.imu_buffer[idx, self.imu_latency[idx]]
        joint_pos = self.qpos[idx][:, self.idx.qpos_joints] - self.joint_offset[idx]
        obs = c.pack({
            "gyro": imu[:, 0:3],
            "gravity": imu[:, 3:6],
            "command": self.command[idx],
            "joint_pos": joint_pos - c.home,
            "joint_vel": self.qvel[idx][:, self.idx.qvel_joints],
            "last_action": self.last_action[idx],
            "gait_phase": c.gait_phase(self.gait_clock[idx]),
        })
        if self.cfg.dr.enabled and self.cfg.dr.noise_scale > 0:
            noise = self.rng.normal(idx, c.obs_dim) * (c.obs_noise * self.cfg.dr.noise_scale)
            obs = (obs + noise).astype(np.float32)
        return obs

    def privileged_observation(self, idx: np.ndarray | None = None) -> np.ndarray:
        """The critic-only state of envs ``idx``, laid out as :data:`PRIVILEGED_FIELDS`."""
        idx = self.all if idx is None else np.asarray(idx)
        quat = self.qpos[idx, 3:7]
        fields = {
            "base_lin_vel_body": np.einsum("nji,nj->ni", quat_to_mat(quat), self.qvel[idx, 0:3]),
            "base_height": self.qpos[idx, 2:3] - self._floor_under(self.qpos[:, 0:2])[idx, None],
            "foot_contact": self.foot_contact[idx].astype(np.float64),
            "gyro_clean": self.sensors[idx, self.idx.gyro],
            "floor_friction": self.dynamics_params[idx, :1],
            "trunk_com_offset": self.dynamics_params[idx, 1:3],
            "latency_steps": np.stack([self.action_latency[idx], self.imu_latency[idx]], axis=1).astype(np.float64),
        }
        return np.concatenate([fields[name] for name in PRIVILEGED_FIELDS], axis=1).astype(np.float32)

    def close(self) -> None:
        self.pool.close()


def home_stance(model: mujoco.MjModel, idx: ModelIndex, seconds: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """The nominal model standing at home with the home targets held, settled for ``seconds``:
    ((2, 2) right and left sole centres minus the base position, heading frame, x and y;
    (3,) gravity's direction in the trunk frame)."""
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    for _ in range(int(round(seconds / model.opt.timestep))):
        mujoco.mj_step(model, data)
    quat = data.qpos[None, 3:7]
    feet = np.stack([data.sensordata[idx.foot_pos[k]] - data.qpos[0:3] for k in range(2)])
    offsets = heading_frame(quat_to_yaw(quat)[:, None], feet[None])[0, :, :2]
    return offsets, gravity_in_body(quat)[0]


# Height of the foot site (sole pad centre) above the sole bottom: the pad's half-thickness.
SOLE_SITE_HEIGHT = 0.003
