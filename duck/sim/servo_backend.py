"""MuJoCo backend for the software servo: each servo is the robot model's actuator of its joint.

The physics runs in its own thread, in real time (``mj_step`` until sim time
catches up with the wall clock, then a short sleep), so the emulated servos
move while the runtime's control loop talks to them over the pty. Goal
positions become actuator controls; present position, velocity and current
come from the joint and the actuator force. :meth:`imu_reading` and
:meth:`base_position` expose the trunk for a simulated IMU.

Torque off zeroes the actuator's gain and bias (the joint goes limp); the
servo's Position P Gain scales the actuator's kp around the model default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import mujoco
import numpy as np

from duck import paths
from duck.contract import CONTRACT, RobotContract
from firmware_bridge.emulator import ServoBackend
from firmware_bridge.emulator.feetech_firmware import STALL_CURRENT_A as _STS_STALL_A
from firmware_bridge.feetech.control_table import VARIANTS

# Torque constants (N*m per A) from ROBOTIS datasheet stall torque / stall current:
# XC330-M288-T 0.93 N*m / 1.8 A, XL330-M288-T 0.52 N*m / 1.47 A (at 5 V). Rough, but
# the sign and scale of "current" are what the runtime logs.
TORQUE_CONSTANT = {"XC330-M288-T": 0.93 / 1.8, "XL330-M288-T": 0.52 / 1.47}
DEFAULT_P_GAIN = {"XC330-M288-T": 1100, "XL330-M288-T": 400}
# Feetech STS: factory P Coefficient 32 (upstream: P 32 <-> kp 17.3). "Current" here is
# stall-torque fraction x the software STS's assumed stall current, so the emulated
# Present Load is actuator torque / stall torque (the servo model itself is issue 20's).
for _name, _v in VARIANTS.items():
    TORQUE_CONSTANT[_name] = _v.stall_torque_nm / _STS_STALL_A
    DEFAULT_P_GAIN[_name] = 32
TORQUE_CONSTANT["STS3215"], DEFAULT_P_GAIN["STS3215"] = TORQUE_CONSTANT["STS3215-C001"], 32


class MujocoServoBackend(ServoBackend):
    def __init__(self, scene_xml: str | None = None, contract: RobotContract = CONTRACT,
                 keyframe: str | None = "home", max_lag_s: float = 0.1) -> None:
        self.model = mujoco.MjModel.from_xml_path(str(scene_xml or paths.SCENE_XML))
        self.data = mujoco.MjData(self.model)
        if keyframe is not None:
            key = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_KEY, keyframe)
            if key >= 0:
                mujoco.mj_resetDataKeyframe(self.model, self.data, key)
        mujoco.mj_forward(self.model, self.data)
        self.max_lag_s = max_lag_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._act: dict[int, int] = {}  # servo id -> actuator index
        self._qadr: dict[int, tuple[int, int]] = {}  # servo id -> (qpos adr, qvel adr)
        self._kt: dict[int, float] = {}
        self._p_default: dict[int, int] = {}
        for j in contract.joints:
            a = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_ACTUATOR, j.name)
            jid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, j.name)
            if a < 0 or jid < 0:
                raise ValueError(f"robot model has no actuator/joint named {j.name!r}")
            self._act[j.servo_id] = a
            self._qadr[j.servo_id] = (self.model.jnt_qposadr[jid], self.model.jnt_dofadr[jid])
            self._kt[j.servo_id] = TORQUE_CONSTANT.get(j.servo_model, 0.5)
            self._p_default[j.servo_id] = DEFAULT_P_GAIN.get(j.servo_model, 800)
        self._kp0 = self.model.actuator_gainprm[:, 0].copy()
        self._torque = {sid: False for sid in self._act}
        self._gain = {sid: 1.0 for sid in self._act}
        for sid in self._act:
            self._apply_gain(sid)
        self._sensor = {name: self._sensor_adr(name) for name in ("imu_quat", "imu_gyro", "imu_accel")}

    def _sensor_adr(self, name: str) -> tuple[int, int] | None:
        sid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SENSOR, name)
        if sid < 0:
            return None
        return int(self.model.sensor_adr[sid]), int(self.model.sensor_dim[sid])

    # ---- physics thread ------------------------------------------------------------------
    def start(self, servo_ids: Sequence[int] = ()) -> None:
        unknown = set(servo_ids) - set(self._act)
        if unknown:
            raise ValueError(f"servo ids {sorted(unknown)} are not in the contract")
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mujoco-servo-physics", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def _run(self) -> None:
        dt = self.model.opt.timestep
        wall0, sim0 = time.perf_counter(), self.data.time
        while not self._stop.is_set():
            behind = (time.perf_counter() - wall0) - (self.data.time - sim0)
            if behind > self.max_lag_s:  # we cannot keep up: drop time rather than spiral
                wall0 += behind - self.max_lag_s
                behind = self.max_lag_s
            steps = int(behind / dt)
            if steps <= 0:
                time.sleep(dt)
                continue
            with self._lock:
                for _ in range(min(steps, 10)):
                    mujoco.mj_step(self.model, self.data)

    def step(self, n: int = 1) -> None:
        """Advance the physics by hand (tests, or when the thread is not running)."""
        with self._lock:
            for _ in range(n):
                mujoco.mj_step(self.model, self.data)

    # ---- ServoBackend ----------------------------------------------------------------
    def _apply_gain(self, sid: int) -> None:
        a = self._act[sid]
        kp = self._kp0[a] * self._gain[sid] if self._torque[sid] else 0.0
        # Position actuator: force = kp * ctrl - kp * qpos (kv = 0 in the model).
        self.model.actuator_gainprm[a, 0] = kp
        self.model.actuator_biasprm[a, 1] = -kp

    def set_torque(self, servo_id: int, enabled: bool) -> None:
        with self._lock:
            self._torque[servo_id] = bool(enabled)
            self._apply_gain(servo_id)

    def set_goal(self, servo_id: int, position_rad: float) -> None:
        with self._lock:
            self.data.ctrl[self._act[servo_id]] = position_rad

    def set_p_gain(self, servo_id: int, gain: int) -> None:
        with self._lock:
            self._gain[servo_id] = max(0.0, gain / self._p_default[servo_id])
            self._apply_gain(servo_id)

    def read(self, servo_id: int) -> tuple[float, float, float]:
        q, v = self._qadr[servo_id]
        with self._lock:
            force = float(self.data.actuator_force[self._act[servo_id]])
            return float(self.data.qpos[q]), float(self.data.qvel[v]), force / self._kt[servo_id]

    def set_position(self, servo_id: int, position_rad: float) -> None:
        q, v = self._qadr[servo_id]
        with self._lock:
            self.data.qpos[q] = position_rad
            self.data.qvel[v] = 0.0
            mujoco.mj_forward(self.model, self.data)

    # ---- simulated IMU -------------------------------------------------------------------
    def imu_reading(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(quaternion wxyz, gyro rad/s body frame, accelerometer m/s^2 body frame) of the IMU site."""
        with self._lock:
            quat = self._read_sensor("imu_quat", self.data.qpos[3:7])
            gyro = self._read_sensor("imu_gyro", self.data.qvel[3:6])
            accel = self._read_sensor("imu_accel", np.array([0.0, 0.0, 9.81]))
        return quat, gyro, accel

    def _read_sensor(self, name: str, fallback: np.ndarray) -> np.ndarray:
        adr = self._sensor.get(name)
        if adr is None:
            return np.array(fallback, dtype=np.float64)
        return self.data.sensordata[adr[0]:adr[0] + adr[1]].copy()

    def base_position(self) -> np.ndarray:
        """World position of the free-joint base (m)."""
        with self._lock:
            return self.data.qpos[0:3].copy()

    @property
    def sim_time_s(self) -> float:
        return float(self.data.time)
