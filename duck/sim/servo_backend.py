"""MuJoCo backend for the software servo: each servo runs the servo model in register units.

The physics runs in its own thread, in real time (``mj_step`` until sim time
catches up with the wall clock, then a short sleep), so the emulated servos
move while the runtime's control loop talks to them over the pty. Before each
physics step the firmware law of :class:`firmware_bridge.servo_model.ServoBank`
(P/I/D in register units, PWM Limit, PWM Slope, backlash, the DC motor at the
emulated supply voltage) turns goal, position and velocity into a drive torque
applied to the joint; MuJoCo's joint damping carries back-EMF and viscous gear
friction, its frictionloss the Coulomb friction (both from the same servo model).
So a Position P Gain write changes the emulated stiffness as on a real servo,
and the servos power up with their factory gains, as real ones do.

Present current is the model's winding current, Present PWM its duty, Present
Input Voltage the emulated supply. :meth:`imu_reading` and :meth:`base_position`
expose the trunk for a simulated IMU.

The supply voltage and the servo parameters are configurable (``supply_v``,
``overrides``: servo model -> :class:`~firmware_bridge.servo_model.ServoParams`,
e.g. from an identified or hypothetical profile JSON).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence

import mujoco
import numpy as np

from duck import paths
from duck.contract import CONTRACT, RobotContract
from duck.errors import UserError
from duck.servo_profile import SERVO_PROFILE, RobotServoProfile
from duck.sim.actuators import JointServos, write_actuators
from firmware_bridge.emulator import ThreadedBackend
from firmware_bridge.servo_model import FirmwareGains, ProfileError, ServoBank, ServoParams, load_profile


def load_servo_overrides(paths_: Sequence[str]) -> dict[str, ServoParams]:
    """Servo profile JSON files -> {servo model: parameters}; one-line UserError if unusable."""
    out: dict[str, ServoParams] = {}
    for path in paths_:
        try:
            params, _ = load_profile(path)
        except ProfileError as exc:
            raise UserError(str(exc)) from None
        out[params.model] = params
    return out


class MujocoServoBackend(ThreadedBackend):
    thread_name = "mujoco-servo-physics"

    def __init__(self, scene_xml: str | None = None, contract: RobotContract = CONTRACT,
                 keyframe: str | None = "home", max_lag_s: float = 0.1, supply_v: float | None = None,
                 overrides: Mapping[str, ServoParams] | None = None,
                 profile: RobotServoProfile = SERVO_PROFILE) -> None:
        self.model = mujoco.MjModel.from_xml_path(str(scene_xml or paths.SCENE_XML))
        self.data = mujoco.MjData(self.model)
        if keyframe is not None:
            key = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_KEY, keyframe)
            if key >= 0:
                mujoco.mj_resetDataKeyframe(self.model, self.data, key)
        mujoco.mj_forward(self.model, self.data)
        self.max_lag_s = max_lag_s
        self.supply_v = float(profile.nominal_supply_v if supply_v is None else supply_v)
        self._lock = threading.Lock()
        self._index: dict[int, int] = {}  # servo id -> joint index (contract order)
        acts, qadr, dofs = [], [], []
        for k, j in enumerate(contract.joints):
            a = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_ACTUATOR, j.name)
            jid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, j.name)
            if a < 0 or jid < 0:
                raise ValueError(f"robot model has no actuator/joint named {j.name!r}")
            self._index[j.servo_id] = k
            acts.append(a)
            qadr.append(self.model.jnt_qposadr[jid])
            dofs.append(self.model.jnt_dofadr[jid])
        self._acts, self._qadr, self._dofs = np.array(acts), np.array(qadr), np.array(dofs)
        servos = JointServos.build(contract, profile, overrides)
        factory = [p.factory_gains for p in servos.params]
        self.params = servos.params
        self.bank = ServoBank(servos.params, factory)
        self.gains: list[FirmwareGains] = list(factory)
        # The joints' passive terms (back-EMF + viscous damping, Coulomb friction, armature) from
        # the servo model; the position actuators are switched off: the drive is applied by hand.
        passive = servos.arrays(self.supply_v)
        write_actuators(self.model, self._dofs, {**passive, "kp": np.zeros(len(acts)), "kv": np.zeros(len(acts))},
                        self._acts)
        self._damping_on = passive["damping"]
        self._damping_off = servos.viscous.copy()  # driver open: no back-EMF braking
        self._state = self.bank.state()
        self._goal = np.zeros(len(acts))
        self._torque_on = np.zeros(len(acts), dtype=bool)
        self._current = np.zeros(len(acts))
        self.model.dof_damping[self._dofs] = self._damping_off
        self._publish()
        self._sensor = {name: self._sensor_adr(name) for name in ("imu_quat", "imu_gyro", "imu_accel")}

    def _sensor_adr(self, name: str) -> tuple[int, int] | None:
        sid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SENSOR, name)
        if sid < 0:
            return None
        return int(self.model.sensor_adr[sid]), int(self.model.sensor_dim[sid])

    # ---- physics thread ------------------------------------------------------------------
    def start(self, servo_ids: Sequence[int] = ()) -> None:
        unknown = set(servo_ids) - set(self._index)
        if unknown:
            raise ValueError(f"servo ids {sorted(unknown)} are not in the contract")
        self._start_thread()

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
            for _ in range(min(steps, 10)):
                with self._lock:
                    self._physics_step()
                # The servo law is Python between the C steps: hand the GIL and the CPU (the sim
                # process runs SCHED_FIFO on one core) to the servo thread between substeps.
                os.sched_yield()

    def step(self, n: int = 1) -> None:
        """Advance the physics by hand (tests, or when the thread is not running)."""
        with self._lock:
            for _ in range(n):
                self._physics_step()

    def _physics_step(self) -> None:
        """One substep: the firmware law, then MuJoCo (caller holds the lock)."""
        q = self.data.qpos[self._qadr]
        qd = self.data.qvel[self._dofs]
        tau, self._current = self.bank.torque(self._goal, q, qd, self.supply_v, self._state,
                                              self.model.opt.timestep, self._torque_on, coulomb=False, damping=False)
        self.data.qfrc_applied[self._dofs] = tau
        mujoco.mj_step(self.model, self.data)
        self._publish()

    def _publish(self) -> None:
        # One tuple swapped in whole: the servo thread reads it without waiting for the physics lock.
        self._snapshot = (self.data.qpos[self._qadr].copy(), self.data.qvel[self._dofs].copy(),
                          np.asarray(self._current, dtype=float).copy(), self._state["duty"].copy())

    # ---- ServoBackend ----------------------------------------------------------------
    def set_torque(self, servo_id: int, enabled: bool) -> None:
        k = self._index[servo_id]
        with self._lock:
            self._torque_on[k] = bool(enabled)
            self.model.dof_damping[self._dofs[k]] = self._damping_on[k] if enabled else self._damping_off[k]
            self._state["duty"][k] = 0.0
            self._state["integral"][k] = 0.0

    def set_goal(self, servo_id: int, position_rad: float) -> None:
        with self._lock:
            self._goal[self._index[servo_id]] = position_rad

    def set_p_gain(self, servo_id: int, gain: int) -> None:
        k = self._index[servo_id]
        self.set_gains(servo_id, gain, self.gains[k].i, self.gains[k].d, self.gains[k].pwm_limit,
                       self.gains[k].pwm_slope)

    def set_gains(self, servo_id: int, p: int, i: int, d: int, pwm_limit: int | None = None,
                  pwm_slope: int | None = None) -> None:
        k = self._index[servo_id]
        with self._lock:
            self.gains[k] = FirmwareGains(p=int(p), i=int(i), d=int(d), pwm_limit=pwm_limit, pwm_slope=pwm_slope)
            self.bank.set_gains(self.gains)

    def stiffness(self, servo_id: int) -> float:
        """The emulated small-error stiffness now (N m/rad), at the current gains and supply."""
        return float(self.bank.stiffness(self.supply_v)[self._index[servo_id]])

    def read(self, servo_id: int) -> tuple[float, float, float]:
        k = self._index[servo_id]
        q, qd, current, _ = self._snapshot
        return float(q[k]), float(qd[k]), float(current[k])

    def pwm_duty(self, servo_id: int) -> float:
        """Present PWM as a duty in [-1, 1]."""
        return float(self._snapshot[3][self._index[servo_id]])

    def set_position(self, servo_id: int, position_rad: float) -> None:
        k = self._index[servo_id]
        with self._lock:
            self.data.qpos[self._qadr[k]] = position_rad
            self.data.qvel[self._dofs[k]] = 0.0
            mujoco.mj_forward(self.model, self.data)
            self._publish()

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
