"""The control loop: start-up ramp, policy cycles, safety reactions, shutdown.

Each cycle, on an absolute-deadline grid at the contract's control rate:

1. read the servos and the IMU (phases ``bus`` and ``imu``);
2. build the observation with ``CONTRACT.pack`` (the same code the sim uses);
3. run the policy (``inference``);
4. post-process exactly as in training: ``CONTRACT.policy_targets`` (offsets
   plus the stepping reference, home, head command, rate cap, joint limits), and
   advance the gait clock at the rate the action sets (``CONTRACT.advance_gait_clock``);
5. write the goal positions (``bus``), log the cycle (``other``).

Modes and fault reactions are in :mod:`duck.runtime.safety`. Whatever happens
(exception included), :meth:`Runner.run` ends with torque off.
"""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from duck.contract import CONTRACT, RobotContract
from duck.runtime.guards import check_run_config, finite_command
from duck.runtime.loop import RateLoop, set_realtime
from duck.runtime.robot_io import RobotIO
from duck.runtime.safety import (
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    HOLD,
    TORQUE_OFF,
    Fault,
    Mode,
    SafetyConfig,
    SafetyMonitor,
    tilt_rad,
)
from duck.runtime.telemetry import Telemetry
from duck.runtime.teleop import PAUSE, START, Teleop

PHASES = ("bus", "imu", "inference", "other")


def _gain_text(gains: dict[int, int]) -> str:
    return ", ".join(f"{i}: {g}" for i, g in sorted(gains.items()))


def _profile_gain_text(profile: Any, contract: RobotContract) -> str:
    """e.g. ``XC330-M288-T P 475 I 0 D 0 on [10, 11, ...]; XL330-M288-T P 1700 ...``"""
    parts = []
    for model in sorted({j.servo_model for j in contract.joints}):
        g = profile.gains_for(model)
        ids = [j.servo_id for j in contract.joints if j.servo_model == model]
        parts.append(f"{model} P {g.p} I {g.i} D {g.d} on {ids}")
    return "; ".join(parts)


@dataclass
class RuntimeFault:
    """A fault injected on the runtime side (the bus faults are injected in the emulator)."""

    kind: str  # "nan_action" or "overrun"
    at_s: float  # seconds after the policy took over
    duration_s: float = 0.2


@dataclass
class RunConfig:
    duration_s: float | None = None  # policy time; None = until stopped
    go: bool = False  # hand over without waiting for the start button
    ramp_s: float = 2.0
    stop_ramp_s: float = 1.0
    # The policy's servo profile (duck.servo_profile): the firmware gains written after the start-up
    # ramp and the supply range checked before torque on. None: touch neither (bare tests).
    servo_profile: Any = None
    ramp_p_fraction: float = 0.5  # start-up ramp stiffness: this fraction of the profile's P
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    rt_priority: int | None = None
    cpu: int | None = None
    # Of each period, this much is kept for the policy, safety, logging and the write:
    # a bus retry that could run into it is skipped (one stale read instead of an overrun).
    compute_reserve_s: float = 0.005
    start_tilt_limit_rad: float = 0.6
    runtime_faults: list[RuntimeFault] = field(default_factory=list)
    health: bool = True  # round-robin supply/temperature reads (duck.runtime.health)


@dataclass
class RunResult:
    exit_code: int
    reason: str
    cycles: int
    overruns: int
    period: dict[str, float | int]
    phase_ms: dict[str, float]
    phase_ms_p99: dict[str, float]
    inference_ms: dict[str, float]
    falls: int
    stale_reads: int  # cycles that went on with the last good servo state (see RobotIO.read_joints)
    faults: list[str]
    policy_time_s: float
    final_state: str
    released: list[int]
    unconfirmed: list[int]
    notes: list[str]
    health: dict[str, Any] = field(default_factory=dict)


class Runner:
    """Runs one session on ``io`` with ``policy``; see the module docstring."""

    def __init__(self, io: RobotIO, policy: Any, teleop: Teleop, config: RunConfig,
                 telemetry: Telemetry | None = None, probe: Callable[[Mode], dict[str, Any]] | None = None,
                 contract: RobotContract = CONTRACT) -> None:
        check_run_config(config)  # defence in depth: NaN ramp/duration never reach the loop
        self.io, self.policy, self.teleop, self.cfg = io, policy, teleop, config
        self.telemetry, self.probe, self.c = telemetry, probe, contract
        self.safety = SafetyMonitor(config.safety)
        self.loop = RateLoop(contract.control_dt_s)
        self.mode = Mode.STARTUP
        self.cycle = 0
        self._t0 = 0.0
        self._signal: int | None = None
        self._exit_code = EXIT_OK
        self._reason = "completed"
        self._faults: list[str] = []
        self._phase: dict[str, list[float]] = {p: [] for p in PHASES}
        self._inference: list[float] = []
        self._notes: list[str] = []
        self._policy_time = 0.0
        self._stale_reads = 0
        self._health_fault: Fault | None = None
        self.health = None
        if config.health and hasattr(io.bus, "read_health_once"):
            from duck.runtime.health import HealthMonitor

            profile = config.servo_profile
            self.health = HealthMonitor(io.bus, contract,
                                        supply_range_v=profile.supply_range_v if profile is not None else None)

    # ---- helpers -------------------------------------------------------------------
    def _event(self, kind: str, detail: str = "") -> None:
        if self.telemetry is not None:
            self.telemetry.event(time.perf_counter() - self._t0, self.cycle, kind, detail)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only set a flag: the loop reacts at the next cycle boundary, with the bus in a known state.
        if self._signal is not None:
            raise KeyboardInterrupt  # second signal: skip the ramp, the finally still releases torque
        self._signal = signum

    def _gains(self) -> dict[int, Any]:
        """Servo id -> the profile's FirmwareGains for its servo model (empty without a profile)."""
        profile = self.cfg.servo_profile
        if profile is None:
            return {}
        return {j.servo_id: profile.gains_for(j.servo_model) for j in self.c.joints}

    def _check_supply(self) -> None:
        profile = self.cfg.servo_profile
        if profile is not None:
            volts = self.io.check_supply(profile.supply_range_v)
            self._event("supply", f"{min(volts.values()):.1f}-{max(volts.values()):.1f} V within "
                        f"{profile.supply_range_v[0]:.1f}-{profile.supply_range_v[1]:.1f} V")

    def _set_mode(self, mode: Mode, why: str) -> None:
        if mode != self.mode:
            self.mode = mode
            self._event("mode", f"{mode.name}: {why}")

    # ---- main ----------------------------------------------------------------------
    def run(self) -> RunResult:
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        final_state, released, unconfirmed = "torque_off", [], []
        self._t0 = time.perf_counter()
        try:
            self._notes += self.io.open()
            self._notes += set_realtime(self.cfg.rt_priority, self.cfg.cpu)
            for note in self._notes:
                self._event("note", note)
            self._check_supply()
            self._check_upright()
            self.teleop.start()
            ramp_gains = {i: max(1, int(g.p * self.cfg.ramp_p_fraction)) for i, g in self._gains().items()}
            self.io.torque_on(ramp_gains)
            self._event("torque", "on" + (f" at ramp P gains {_gain_text(ramp_gains)}" if ramp_gains else ""))
            self._control()
        finally:
            try:
                if self.io._bus_open:
                    released, unconfirmed = self.io.release()
                    final_state = "torque_off" if not unconfirmed else "torque_off_unconfirmed"
                    self._event("safe_state", f"torque off confirmed on {len(released)}/{len(self.c.joints)} "
                                f"servos; unconfirmed {unconfirmed} (broadcast torque-off sent)" if unconfirmed
                                else f"torque off confirmed on all {len(released)} servos")
            finally:
                self.teleop.close()
                self.io.close()
                for s, handler in old.items():
                    signal.signal(s, handler)
        return self._result(final_state, released, unconfirmed)

    def _check_upright(self) -> None:
        from duck.errors import UserError

        sample = self.io.read_imu()
        tilt = tilt_rad(sample.gravity) if sample is not None else float("nan")
        if not np.isfinite(tilt) or tilt > self.cfg.start_tilt_limit_rad:
            raise UserError(f"IMU says the robot is tilted {np.degrees(tilt):.0f}° at start; stand it upright, "
                            "or fix the IMU 'mount' remap if it is upright")

    def _control(self) -> None:
        c, cfg = self.c, self.cfg
        first = self.io.read_joints()
        if first.position is None:
            from duck.errors import UserError

            raise UserError(f"cannot read the servos at start: {first.detail}")
        ramp_from = np.clip(first.position, c.lower, c.upper)
        ramp_start = time.perf_counter()
        targets = ramp_from.copy()
        hold_targets = targets
        last_action = np.zeros(c.action_dim)
        gait_clock = 0.0  # in gait periods; advanced each cycle at the rate the policy sets
        policy_t0: float | None = None
        mode_since = ramp_start
        fault: Fault | None = None
        inject = sorted(cfg.runtime_faults, key=lambda f: f.at_s)
        nan_obs = np.full(c.obs_dim, np.nan, dtype=np.float32)
        # Move start-up garbage out of the collector's reach so a gen-2 pass never lands in a cycle.
        gc.collect()
        gc.freeze()
        last_imu = None
        self.loop.start()
        while True:
            start, overran = self.loop.wait()
            now = start
            self.cycle += 1
            if overran:
                self._event("overrun", f"{self.loop.consecutive_overruns} in a row, {self.loop.overruns} in total")
            # -- 1. sensors -------------------------------------------------------------
            joints = self.io.read_joints(deadline=start + c.control_dt_s - cfg.compute_reserve_s)
            t_bus = time.perf_counter()
            fresh_imu = self.io.read_imu()
            t_imu = time.perf_counter()
            if fresh_imu is None and last_imu is not None:
                # One failed read is not a stale IMU: go on with the last sample, whose age
                # the watchdog keeps measuring (imu_stale after SafetyConfig.imu_stale_s).
                self._event("imu_read", "no new sample; using the last one")
            imu = last_imu = fresh_imu if fresh_imu is not None else last_imu
            imu_age = (t_imu - imu.stamp) if imu is not None else float("inf")
            tele = self.teleop.sample(now)
            for ev in tele.events:
                self._event("button", ev)
            policy_time = (now - policy_t0) if policy_t0 is not None else 0.0
            if self.mode in (Mode.RUNNING, Mode.PAUSED):
                self._policy_time = policy_time

            # -- 2./3. policy -----------------------------------------------------------
            obs, action, offsets = nan_obs, None, None
            t_inf0 = t_inf1 = time.perf_counter()
            policy_mode = self.mode in (Mode.RUNNING, Mode.PAUSED)
            command = np.zeros(3) if self.mode == Mode.PAUSED else finite_command(tele.command)
            phase = c.gait_phase(gait_clock)
            if policy_mode and joints.position is not None and imu is not None:
                obs = c.pack({
                    "gyro": imu.gyro, "gravity": imu.gravity, "command": command,
                    "joint_pos": joints.position - c.home, "joint_vel": joints.velocity,
                    "last_action": last_action, "gait_phase": phase,
                })
                t_inf0 = time.perf_counter()
                action, offsets = self.policy(obs)
                t_inf1 = time.perf_counter()
                self._inference.append(t_inf1 - t_inf0)
                for f in inject:
                    if f.kind == "nan_action" and f.at_s <= policy_time < f.at_s + f.duration_s:
                        action, offsets = action * np.nan, offsets * np.nan
            finite = action is None or bool(np.all(np.isfinite(action)) and np.all(np.isfinite(offsets)))

            # -- safety -----------------------------------------------------------------
            check_fall = self.mode in (Mode.READY, Mode.RUNNING, Mode.PAUSED)
            new = self.safety.check(
                estop=tele.estop, servo_error=joints.hardware_error, servo_ok=joints.ok,
                servo_detail=joints.detail, imu_age_s=imu_age,
                gravity=imu.gravity if imu is not None else None, action_finite=finite,
                consecutive_overruns=self.loop.consecutive_overruns,
                gamepad_lost_s=tele.lost_for_s if self.mode in (Mode.READY, Mode.RUNNING, Mode.PAUSED) else 0.0,
                check_fall=check_fall,
            )
            if not joints.ok and joints.detail:
                self._stale_reads += 1
                self._event("servo_read", joints.detail)
                if self.health is not None:
                    self.health.count_bus_errors(joints.error_ids)
            if new is None and self._health_fault is not None:
                new, self._health_fault = self._health_fault, None
            if new is not None and self._escalates(fault, new):
                fault = new
                self._faults.append(new.kind)
                self._event(new.kind, new.detail)
                self._exit_code, self._reason = new.exit_code, f"{new.kind}: {new.detail}"
                if new.reaction == TORQUE_OFF:
                    self._set_mode(Mode.OFF, f"{new.kind} -> torque off")
                    break
                hold_targets, mode_since = targets.copy(), now
                self._set_mode(Mode.HOLD, f"{new.kind} -> hold last good targets")
            if self._signal is not None and self.mode not in (Mode.STOPPING, Mode.OFF):
                sig = signal.Signals(self._signal).name
                if fault is None:
                    self._exit_code = EXIT_SIGTERM if self._signal == signal.SIGTERM else EXIT_SIGINT
                    self._reason = f"stopped by {sig}"
                self._event("signal", sig)
                hold_targets, mode_since = targets.copy(), now
                self._set_mode(Mode.STOPPING, f"{sig}: ramp to home, then torque off")

            # -- 4. targets by mode -----------------------------------------------------
            if self.mode == Mode.STARTUP:
                s = min(1.0, (now - ramp_start) / cfg.ramp_s)
                targets = ramp_from + (c.home - ramp_from) * _smooth(s)
                if s >= 1.0:
                    gains = self._gains()
                    err = self.io.write_gains(gains) if gains else None
                    if err:
                        self._event("note", f"could not write the servo profile's gains: {err}")
                    elif gains:
                        self._event("gains", f"wrote servo profile {cfg.servo_profile.name} "
                                    f"{cfg.servo_profile.fingerprint}: {_profile_gain_text(cfg.servo_profile, c)}")
                    self._set_mode(Mode.READY, "at home")
                    mode_since = now
            elif self.mode == Mode.READY:
                targets = c.home.copy()
                if cfg.go or START in tele.events:
                    policy_t0, last_action, mode_since = now, np.zeros(c.action_dim), now
                    gait_clock = 0.0
                    self._set_mode(Mode.RUNNING, "--go" if cfg.go else "start button")
            elif policy_mode:
                if action is not None and finite:
                    last_action = np.asarray(action, dtype=np.float64)
                    # The training post-processing: offsets + stepping reference (same phase and
                    # command the policy saw), home, head, rate cap, limits.
                    targets = c.policy_targets(offsets, phase, command, tele.head, targets)
                    gait_clock = float(c.advance_gait_clock(gait_clock, last_action))
                if self.mode == Mode.RUNNING and PAUSE in tele.events:
                    self._set_mode(Mode.PAUSED, "pause button")
                elif self.mode == Mode.PAUSED and START in tele.events:
                    self._set_mode(Mode.RUNNING, "start button")
                if cfg.duration_s is not None and policy_time >= cfg.duration_s:
                    hold_targets, mode_since = targets.copy(), now
                    self._set_mode(Mode.STOPPING, f"--duration {cfg.duration_s:g} s reached")
            elif self.mode == Mode.HOLD:
                targets = hold_targets
                if now - mode_since >= cfg.safety.hold_s:
                    mode_since = now
                    self._set_mode(Mode.STOPPING, "hold time over")
            if self.mode == Mode.STOPPING:
                s = min(1.0, (now - mode_since) / cfg.stop_ramp_s)
                targets = hold_targets + (c.home - hold_targets) * _smooth(s)
                if s >= 1.0:
                    self._set_mode(Mode.OFF, "stop ramp done")

            # -- 5. write ---------------------------------------------------------------
            if not np.all(np.isfinite(targets)):  # belt and braces: never send NaN to a servo
                targets = hold_targets
            t_w0 = time.perf_counter()
            write_err = self.io.write_targets(targets)
            if self.health is not None and self.mode != Mode.OFF:
                # After the write, in the cycle's slack; it reacts next cycle, through the safety path.
                self._health_fault = self.health.poll(start + c.control_dt_s) or self._health_fault
                for kind, detail in self.health.take_events():
                    self._event(kind, detail)
            t_w1 = time.perf_counter()
            if write_err:
                self._event("servo_write", write_err)
            for f in inject:
                if f.kind == "overrun" and policy_t0 is not None and f.at_s <= policy_time < f.at_s + f.duration_s:
                    time.sleep(c.control_dt_s * 1.5)  # a stalled cycle (GC pause, SD-card hiccup)
            self._record(start, t_bus, t_imu, t_inf0, t_inf1, t_w0, t_w1, overran, obs, action, targets,
                         joints, imu, tele, policy_time)
            if self.mode == Mode.OFF:
                break

    @staticmethod
    def _escalates(current: Fault | None, new: Fault) -> bool:
        """A new fault takes over only if nothing is active or it needs torque off."""
        if current is None:
            return True
        return new.reaction == TORQUE_OFF and current.reaction == HOLD

    def _record(self, start: float, t_bus: float, t_imu: float, t_inf0: float, t_inf1: float, t_w0: float,
                t_w1: float, overran: bool, obs: np.ndarray, action: Any, targets: np.ndarray, joints: Any,
                imu: Any, tele: Any, policy_time: float) -> None:
        end = time.perf_counter()
        bus = (t_bus - start) + (t_w1 - t_w0)
        imu_dt = t_imu - t_bus
        inference = t_inf1 - t_inf0
        other = (end - start) - bus - imu_dt - inference
        for name, value in zip(PHASES, (bus, imu_dt, inference, other), strict=True):
            self._phase[name].append(value)
        # The probe (sim-in-the-loop ground truth, fault schedule) runs with or without a log.
        extra = self.probe(self.mode) if self.probe is not None else {}
        if self.telemetry is None:
            return
        nj = self.c.num_joints
        row = dict(
            t=start - self._t0, cycle=self.cycle, mode=int(self.mode), overrun=overran, policy_t=policy_time,
            bus_ms=bus * 1e3, imu_ms=imu_dt * 1e3, inference_ms=inference * 1e3, other_ms=other * 1e3,
            obs=obs, action=np.full(self.c.action_dim, np.nan) if action is None else np.asarray(action),
            targets=targets, servo_ok=joints.ok,
            joint_pos=joints.position if joints.position is not None else np.full(nj, np.nan),
            joint_vel=joints.velocity if joints.velocity is not None else np.full(nj, np.nan),
            gyro=imu.gyro if imu is not None else np.full(3, np.nan),
            gravity=imu.gravity if imu is not None else np.full(3, np.nan),
            command=tele.command, head=tele.head, gamepad=tele.connected,
            jitter_ms=(start - self.loop.last_deadline) * 1e3,
        )
        if self.health is not None:
            row.update(supply_v=self.health.supply_v, servo_temp_c=self.health.temperature_c.copy(),
                       servo_voltage_v=self.health.voltage_v.copy(), bus_errors=self.health.bus_errors.copy(),
                       health_servo=self.health.last_read)
        row.update(extra)
        self.telemetry.record(**row)

    def _result(self, final_state: str, released: list[int], unconfirmed: list[int]) -> RunResult:
        skip = min(len(self.loop.periods), 5)  # the first periods include start-up transients
        stats = self.loop.stats(skip=skip)
        ms = {p: np.asarray(v) * 1e3 for p, v in self._phase.items()}
        inf = np.asarray(self._inference) * 1e3
        return RunResult(
            exit_code=self._exit_code, reason=self._reason, cycles=self.cycle, overruns=self.loop.overruns,
            period=stats.as_dict(),
            phase_ms={p: float(v.mean()) if v.size else 0.0 for p, v in ms.items()},
            phase_ms_p99={p: float(np.percentile(v, 99)) if v.size else 0.0 for p, v in ms.items()},
            inference_ms={"p50": float(np.percentile(inf, 50)) if inf.size else 0.0,
                          "p99": float(np.percentile(inf, 99)) if inf.size else 0.0},
            falls=self._faults.count("fall"), stale_reads=self._stale_reads, faults=list(self._faults),
            policy_time_s=float(self._policy_time),
            final_state=final_state, released=released, unconfirmed=unconfirmed, notes=list(self._notes),
            health=self._health_summary(),
        )

    def _health_summary(self) -> dict[str, Any]:
        h = self.health
        if h is None:
            return {"enabled": False}
        volts, temps = h.voltage_v[np.isfinite(h.voltage_v)], h.temperature_c[np.isfinite(h.temperature_c)]
        return {"enabled": True, "reads": h.reads, "skipped_cycles": h.skipped,
                "last_supply_v": None if not volts.size else round(h.supply_v, 2),
                "max_temperature_c": None if not temps.size else float(temps.max()),
                "bus_errors": {int(i): int(n) for i, n in zip(h.ids, h.bus_errors) if n}}


def _smooth(s: float) -> float:
    """Smoothstep: zero velocity at both ends of a ramp, so no jerk at start or end."""
    s = min(max(s, 0.0), 1.0)
    return s * s * (3.0 - 2.0 * s)
