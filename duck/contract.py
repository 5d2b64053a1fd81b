"""The robot/IO contract: the single source of truth for joints, servos, limits,
home pose, observation/action layout, control rate and command ranges.

Everything else (sim, training, export, runtime, BOM check, tests) derives from
:data:`CONTRACT`. This module imports only the standard library and numpy, so it
is safe on the Raspberry Pi.

Sign conventions. Legs straight down and head upright at zero (x forward, y left,
z up). What a positive angle moves, at home, from the model's forward kinematics
(:data:`SIGN_CONVENTIONS`; tests/test_contract.py derives this table from
mjcf/duck.xml, and the model card and ``duck servo calibrate`` print the same one):

<!-- signs:begin -->
| joint | a positive angle moves the | home [rad] |
|---|---|---|
| hip_yaw | toe inward | +0.000 |
| hip_roll | foot inward | +0.000 |
| hip_pitch | foot forward | -1.012 |
| knee | foot backward | -1.485 |
| ankle | toe down | +0.647 |
| neck_pitch | head forward | -0.175 |
| head_pitch | face down | +0.175 |
| head_yaw | face left | +0.000 |
<!-- signs:end -->

The leg stands knee-backward, like a bird's: at home the thigh is swung back, the
knee is 5.5 cm behind the hip-pitch axis and the shin leans forward. Left and right
legs use mirrored axes for roll and yaw ("inward" is toward the other leg on both
sides), so a mirrored gait has *equal* joint values on both sides (see
:meth:`RobotContract.mirror_joint_values`). Upstream's models turn some joints the
other way; the mapping is in mjcf/README.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np

CONTRACT_VERSION = 1
GAIT_RATE_ACTION = "gait_rate"  # the name of the action entry after the leg joints


# What a positive angle of each kind of joint moves, and which way, at home: (part, direction).
# Leg rows hold for both sides. Derived from mjcf/duck.xml by forward kinematics
# (duck.sim.signs); tests/test_contract.py checks the rows, the docstring and the card.
SIGN_CONVENTIONS: dict[str, tuple[str, str]] = {
    "hip_yaw": ("toe", "inward"),
    "hip_roll": ("foot", "inward"),
    "hip_pitch": ("foot", "forward"),
    "knee": ("foot", "backward"),
    "ankle": ("toe", "down"),
    "neck_pitch": ("head", "forward"),
    "head_pitch": ("face", "down"),
    "head_yaw": ("face", "left"),
}

# The stepping reference's swing direction, per unit of gait_swing_amplitude_rad: the change of
# hip pitch, knee and ankle that lifts the ankle straight up from home with the sole parallel
# to itself (ankle = hip - knee). The ratio is the secant of the exact 3 cm lift of the
# knee-backward leg (thigh = shin = 6.5 cm; hip -0.403, knee -0.568, ankle +0.165 rad):
# the foot rises as the leg folds, the thigh swinging further back. tests/test_contract.py
# checks the lift on the MuJoCo model.
SWING_GAINS: tuple[tuple[str, float], ...] = (("hip_pitch", -1.0), ("knee", -1.409), ("ankle", 0.409))


def joint_kind(name: str) -> str:
    """``right_knee`` -> ``knee``; head joints are their own kind."""
    for side in ("right_", "left_"):
        if name.startswith(side):
            return name[len(side):]
    return name


def sign_table(joints: tuple[Joint, ...] | None = None) -> str:
    """The sign-convention table (markdown) shown in this docstring, the model card and
    ``duck servo calibrate``: one row per joint kind, with its home angle."""
    joints = joints if joints is not None else CONTRACT.joints
    home = {}
    for j in joints:
        home.setdefault(joint_kind(j.name), j.home_rad)
    lines = ["| joint | a positive angle moves the | home [rad] |", "|---|---|---|"]
    for kind, (part, direction) in SIGN_CONVENTIONS.items():
        lines.append(f"| {kind} | {part} {direction} | {home[kind]:+.3f} |")
    return "\n".join(lines)


class ContractError(ValueError):
    """Raised for any input that does not match the contract."""


@dataclass(frozen=True)
class Joint:
    """One bus servo, named after the joint it drives."""

    name: str
    servo_id: int
    servo_model: str
    lower_rad: float
    upper_rad: float
    home_rad: float
    group: str  # "right_leg", "left_leg" or "head"
    mirror: str  # name of the joint that mirrors this one across the sagittal plane
    mirror_sign: float  # value(mirror joint) = mirror_sign * value(this joint) in a mirrored pose


@dataclass(frozen=True)
class ObsTerm:
    """One named block of the observation vector.

    ``scale`` multiplies the physical value when packing. ``noise`` is the std of
    the additive Gaussian sensor noise (physical units) the sim injects during
    training; the runtime never adds noise.
    """

    name: str
    size: int
    scale: float
    noise: float
    unit: str
    doc: str


@dataclass(frozen=True)
class Range:
    low: float
    high: float

    def clip(self, value: Any) -> Any:
        return np.clip(value, self.low, self.high)


@dataclass(frozen=True)
class CommandRanges:
    """Velocity command ranges, in the robot's heading frame."""

    # Forward to 0.30 m/s (issue 21: walk bar 2 asks vx >= 0.2 m/s at a 0.25 m/s command and
    # reports 0.30; upstream's range is +-0.15). Backward stays at upstream's 0.15.
    vx_mps: Range = Range(-0.15, 0.30)
    vy_mps: Range = Range(-0.10, 0.10)
    yaw_rate_rad_s: Range = Range(-0.5, 0.5)

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.array([self.vx_mps.low, self.vy_mps.low, self.yaw_rate_rad_s.low])
        high = np.array([self.vx_mps.high, self.vy_mps.high, self.yaw_rate_rad_s.high])
        return low, high


def _leg(side: str, first_id: int) -> tuple[Joint, ...]:
    other = "left" if side == "right" else "right"
    # (name, lower, upper, home). Ranges: upstream's v1 model, mapped through the world-frame
    # joint axes into this contract's signs (hip_pitch turns the other way; mjcf/README.md).
    # Home: upstream's v1 runtime start pose (hwi.py init_pos), mapped the same way and
    # averaged over the two sides; hip yaw/roll there are calibration residue (< 0.02 rad).
    # The leg stands knee-backward: thigh swung back, knee 5.5 cm behind the hip-pitch axis,
    # and the sole pitched 0.174 rad toe-down against the trunk (so the trunk leans back).
    spec = (
        ("hip_yaw", -0.698, 0.698, 0.0),
        ("hip_roll", -1.571, 0.436, 0.0),
        ("hip_pitch", -1.571, 0.524, -1.012),
        ("knee", -2.094, 2.094, -1.485),
        ("ankle", -1.571, 1.571, 0.647),
    )
    return tuple(
        Joint(
            name=f"{side}_{name}",
            servo_id=first_id + i,
            servo_model="XC330-M288-T",
            lower_rad=lo,
            upper_rad=hi,
            home_rad=home,
            group=f"{side}_leg",
            mirror=f"{other}_{name}",
            mirror_sign=1.0,
        )
        for i, (name, lo, hi, home) in enumerate(spec)
    )


_HEAD = (
    Joint("neck_pitch", 30, "XL330-M288-T", -1.309, 0.175, -0.175, "head", "neck_pitch", 1.0),
    Joint("head_pitch", 31, "XL330-M288-T", -0.698, 0.698, 0.175, "head", "head_pitch", 1.0),
    Joint("head_yaw", 32, "XL330-M288-T", -2.094, 2.094, 0.0, "head", "head_yaw", -1.0),
)

_OBS_TERMS = (
    ObsTerm("gyro", 3, 0.25, 0.10, "rad/s", "IMU angular velocity, body frame"),
    ObsTerm("gravity", 3, 1.0, 0.05, "1", "unit gravity direction in the body frame"),
    ObsTerm("command", 3, 1.0, 0.0, "m/s, m/s, rad/s", "velocity command vx, vy, yaw rate"),
    ObsTerm("joint_pos", 13, 1.0, 0.03, "rad", "joint position minus home, contract order"),
    ObsTerm("joint_vel", 13, 0.05, 1.5, "rad/s", "joint velocity, contract order"),
    ObsTerm("last_action", 11, 1.0, 0.0, "1", "previous clipped policy action: leg joints, then gait rate"),
    ObsTerm("gait_phase", 2, 1.0, 0.0, "1", "cos and sin of the gait clock"),
)


@dataclass(frozen=True)
class RobotContract:
    """Frozen definition of the robot's IO. See the module docstring."""

    version: int = CONTRACT_VERSION
    joints: tuple[Joint, ...] = _leg("right", 10) + _leg("left", 20) + _HEAD
    control_rate_hz: float = 50.0
    # Policy acts on the legs; head joints follow head commands (teleop) around home.
    action_joints: tuple[str, ...] = tuple(j.name for j in _leg("right", 10) + _leg("left", 20))
    # Residual on top of the stepping reference. Upstream v2 uses 0.25 rad; 0.35 reaches
    # ~8.3 cm forward at touchdown against ~7.0 cm (benchmarks/push_authority.py) and trained
    # the first 15/17 walk-bar policy (exp18/exp20, docs/training.md). It still cannot cancel
    # the reference's 0.57 rad knee swing (at 0.5 rad policies learned to stand instead, exp3).
    action_scale_rad: float = 0.35
    action_clip: float = 1.0
    # Below the XC330-M288-T no-load speed (81 rpm = 8.5 rad/s); upstream capped at 5.24.
    max_target_rate_rad_s: float = 7.0
    gait_period_s: float = 0.5  # upstream PlaCo gait period 0.54 s, rounded to 25 steps
    # The action's last entry sets how fast the gait clock runs: 1 + gain * a, a in [-1, 1], so
    # the next step can come up to 1.5x sooner or 2x later than the nominal period. On a fixed
    # clock, kicks were survived only when they landed near the lift-off of the foot that could
    # catch them (exp20, scripts/kick_phase.py). At 1.5x the reference's knee swing already
    # asks ~1.5x the target-rate cap, so a faster clock would only be clipped.
    gait_rate_gain: float = 0.5
    # Open-loop stepping reference added under the policy's offsets while a motion is
    # commanded: A times SWING_GAINS on the swing leg (hip -A, knee -1.409 A, ankle
    # +0.409 A) keeps the sole flat and lifts it straight up 3 cm at A = 0.403 rad. The knee
    # then sits at -2.053 rad, 0.04 rad inside its range: the real leg cannot lift much higher.
    gait_swing_amplitude_rad: float = 0.403
    commands: CommandRanges = field(default_factory=CommandRanges)
    head_command_range_rad: Range = Range(-0.5, 0.5)
    obs_terms: tuple[ObsTerm, ...] = _OBS_TERMS

    # ---- derived sizes and arrays -------------------------------------------------
    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def obs_dim(self) -> int:
        return sum(t.size for t in self.obs_terms)

    @property
    def action_names(self) -> tuple[str, ...]:
        """The action layout: one offset per action joint, then the gait clock's rate."""
        return self.action_joints + (GAIT_RATE_ACTION,)

    @property
    def action_dim(self) -> int:
        return len(self.action_names)

    @property
    def num_leg_actions(self) -> int:
        return len(self.action_joints)

    @property
    def leg_action_slice(self) -> slice:
        """Where the action's joint offsets are (the exporter slices its torch graph with it)."""
        return slice(0, self.num_leg_actions)

    @property
    def gait_rate_index(self) -> int:
        """Where the action's gait-clock rate is, in the action and in ``last_action``."""
        return self.action_names.index(GAIT_RATE_ACTION)

    @property
    def control_dt_s(self) -> float:
        return 1.0 / self.control_rate_hz

    # Derived arrays are computed once (they sit on the env's and the robot's hot path)
    # and read-only, so no caller can change the contract through them.
    @cached_property
    def home(self) -> np.ndarray:
        return _frozen([j.home_rad for j in self.joints])

    @cached_property
    def lower(self) -> np.ndarray:
        return _frozen([j.lower_rad for j in self.joints])

    @cached_property
    def upper(self) -> np.ndarray:
        return _frozen([j.upper_rad for j in self.joints])

    @property
    def servo_ids(self) -> tuple[int, ...]:
        return tuple(j.servo_id for j in self.joints)

    @cached_property
    def action_indices(self) -> np.ndarray:
        """Indices into the joint order of the joints the policy acts on."""
        return _frozen([self.joint_names.index(n) for n in self.action_joints])

    @cached_property
    def head_indices(self) -> np.ndarray:
        return _frozen([i for i, j in enumerate(self.joints) if j.group == "head"])

    def term(self, name: str) -> ObsTerm:
        for t in self.obs_terms:
            if t.name == name:
                return t
        raise ContractError(f"unknown observation term {name!r}; terms are {self.term_names}")

    @property
    def term_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.obs_terms)

    def term_slice(self, name: str) -> slice:
        start = 0
        for t in self.obs_terms:
            if t.name == name:
                return slice(start, start + t.size)
            start += t.size
        raise ContractError(f"unknown observation term {name!r}; terms are {self.term_names}")

    @cached_property
    def obs_scale(self) -> np.ndarray:
        return _frozen(np.concatenate([np.full(t.size, t.scale) for t in self.obs_terms]))

    @cached_property
    def obs_noise(self) -> np.ndarray:
        """Per-element noise std in *packed* (scaled) units."""
        return _frozen(np.concatenate([np.full(t.size, t.noise * t.scale) for t in self.obs_terms]))

    # ---- observation packing -------------------------------------------------------
    def pack(self, terms: Mapping[str, Any]) -> np.ndarray:
        """Concatenate named physical terms into an observation, applying scales.

        Each term may carry leading batch dimensions; all must agree. Missing, extra
        or mis-sized terms raise :class:`ContractError`.
        """
        missing = [n for n in self.term_names if n not in terms]
        extra = [n for n in terms if n not in self.term_names]
        if missing or extra:
            raise ContractError(f"observation terms: missing {missing}, unexpected {extra}")
        parts = []
        batch_shape = None
        for t in self.obs_terms:
            value = np.asarray(terms[t.name], dtype=np.float64)
            if value.ndim == 0 or value.shape[-1] != t.size:
                raise ContractError(
                    f"observation term {t.name!r} must have last dimension {t.size}, got shape {value.shape}"
                )
            if batch_shape is None:
                batch_shape = value.shape[:-1]
            elif value.shape[:-1] != batch_shape:
                raise ContractError(
                    f"observation term {t.name!r} has batch shape {value.shape[:-1]}, expected {batch_shape}"
                )
            parts.append(value * t.scale)
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def unpack(self, obs: Any) -> dict[str, np.ndarray]:
        """Split an observation back into named physical terms (inverse of :meth:`pack`)."""
        obs = np.asarray(obs)
        if obs.ndim == 0 or obs.shape[-1] != self.obs_dim:
            raise ContractError(f"observation must have last dimension {self.obs_dim}, got shape {obs.shape}")
        return {t.name: obs[..., self.term_slice(t.name)] / t.scale for t in self.obs_terms}

    # ---- action post-processing (shared by env, export parity and runtime) --------
    def clip_action(self, action: Any) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64)
        if action.ndim == 0 or action.shape[-1] != self.action_dim:
            raise ContractError(f"action must have last dimension {self.action_dim}, got shape {action.shape}")
        return np.clip(action, -self.action_clip, self.action_clip)

    def action_to_offsets(self, action: Any) -> np.ndarray:
        """Policy action -> joint offsets from home (rad), for the action joints."""
        return self.clip_action(action)[..., self.leg_action_slice] * self.action_scale_rad

    def gait_rate(self, action: Any) -> np.ndarray:
        """Policy action -> how fast the gait clock runs, as a multiple of the nominal rate."""
        return 1.0 + self.gait_rate_gain * self.clip_action(action)[..., self.gait_rate_index]

    def advance_gait_clock(self, clock: Any, action: Any) -> np.ndarray:
        """The gait clock (in periods, wrapped to [0, 1)) one control step later under ``action``."""
        step = self.gait_rate(action) * self.control_dt_s / self.gait_period_s
        return np.mod(np.asarray(clock, dtype=np.float64) + step, 1.0)

    def targets_from_offsets(
        self, leg_offsets: Any, head_command: Any, previous_targets: Any | None
    ) -> np.ndarray:
        """Full 13-joint position targets: home + offsets, head commands, limits and rate cap.

        ``previous_targets=None`` disables the rate cap (first cycle).
        """
        leg_offsets = np.asarray(leg_offsets, dtype=np.float64)
        head_command = self.head_command_range_rad.clip(np.asarray(head_command, dtype=np.float64))
        batch = leg_offsets.shape[:-1]
        targets = np.broadcast_to(self.home, batch + (self.num_joints,)).copy()
        targets[..., self.action_indices] += leg_offsets
        targets[..., self.head_indices] += head_command
        if previous_targets is not None:
            step = self.max_target_rate_rad_s * self.control_dt_s
            prev = np.asarray(previous_targets, dtype=np.float64)
            targets = np.clip(targets, prev - step, prev + step)
        return np.clip(targets, self.lower, self.upper)

    def policy_targets(self, leg_offsets: Any, gait_phase: Any, command: Any, head_command: Any,
                       previous_targets: Any | None) -> np.ndarray:
        """The post-processing used in training and on the robot: policy offsets plus the
        stepping reference (from the same ``gait_phase`` and ``command`` the policy observed),
        then home, head commands, rate cap and limits (:meth:`targets_from_offsets`)."""
        leg_offsets = np.asarray(leg_offsets, dtype=np.float64) + self.reference_offsets(gait_phase, command)
        return self.targets_from_offsets(leg_offsets, head_command, previous_targets)

    def reference_offsets(self, gait_phase: Any, command: Any) -> np.ndarray:
        """Stepping reference for the action joints, from the observation's ``gait_phase``
        (cos, sin) and ``command`` terms. Left swings while sin > 0, right while sin < 0;
        zero when the command is zero (stand still)."""
        phase_sin = np.asarray(gait_phase, dtype=np.float64)[..., 1]
        moving = np.any(np.abs(np.asarray(command, dtype=np.float64)) > 1e-6, axis=-1)
        lift = self.gait_swing_amplitude_rad * moving[..., None] * np.stack(
            [np.maximum(-phase_sin, 0.0), np.maximum(phase_sin, 0.0)], axis=-1)  # (..., 2): right, left
        return lift @ self._reference_gains

    @cached_property
    def _reference_gains(self) -> np.ndarray:
        """(2, num_leg_actions): how a unit lift of the right/left foot maps onto the action joints."""
        gains = np.zeros((2, self.num_leg_actions))
        for side, column in (("right", 0), ("left", 1)):
            for joint, gain in SWING_GAINS:
                gains[column, self.action_joints.index(f"{side}_{joint}")] = gain
        return _frozen(gains)

    def gait_phase(self, clock: Any) -> np.ndarray:
        """cos/sin of the gait clock (in periods, any shape; see :meth:`advance_gait_clock`)
        -> shape (..., 2). Clock 0: the left foot starts its swing; 0.5: the right one does."""
        angle = 2.0 * np.pi * np.asarray(clock, dtype=np.float64)
        return np.stack([np.cos(angle), np.sin(angle)], axis=-1)

    @cached_property
    def joint_mirror(self) -> tuple[np.ndarray, np.ndarray]:
        """(permutation, sign) with ``mirrored = values[..., perm] * sign`` in joint order."""
        perm = [self.joint_names.index(j.mirror) for j in self.joints]
        return _frozen(perm), _frozen([j.mirror_sign for j in self.joints])

    def mirror_joint_values(self, values: Any) -> np.ndarray:
        """Mirror joint-ordered values across the sagittal plane."""
        perm, sign = self.joint_mirror
        return np.asarray(values)[..., perm] * sign

    # Reflection across the sagittal (x-z) plane, per observation term: polar vectors
    # flip y; the gyro (a pseudovector) flips x and z; commands flip vy and yaw rate;
    # joint terms swap sides; the gait clock moves half a period (the other foot swings).
    @cached_property
    def _mirror_signs_by_term(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        joint_perm, joint_sign = self.joint_mirror
        action_perm, action_sign = self.action_mirror
        identity3 = np.arange(3)
        return {
            "gyro": (identity3, np.array([-1.0, 1.0, -1.0])),
            "gravity": (identity3, np.array([1.0, -1.0, 1.0])),
            "command": (identity3, np.array([1.0, -1.0, -1.0])),
            "joint_pos": (joint_perm, joint_sign),
            "joint_vel": (joint_perm, joint_sign),
            "last_action": (action_perm, action_sign),
            "gait_phase": (np.arange(2), np.array([-1.0, -1.0])),
        }

    @cached_property
    def action_mirror(self) -> tuple[np.ndarray, np.ndarray]:
        """(permutation, sign) with ``mirrored = action[..., perm] * sign``. The gait rate is
        the same in the mirrored world (the clock's half-period shift is in the observation)."""
        joints = {j.name: j for j in self.joints}
        perm = [self.action_joints.index(joints[n].mirror) for n in self.action_joints] + [self.gait_rate_index]
        sign = [joints[n].mirror_sign for n in self.action_joints] + [1.0]
        return _frozen(perm), _frozen(sign)

    @cached_property
    def observation_mirror(self) -> tuple[np.ndarray, np.ndarray]:
        """(permutation, sign) with ``mirrored = obs[..., perm] * sign``: the observation
        the robot would see in the sagittally mirrored world (used for symmetry training)."""
        by_term = self._mirror_signs_by_term
        if set(by_term) != set(self.term_names):
            raise ContractError(f"no mirror rule for observation terms {set(self.term_names) - set(by_term)}")
        perm, sign = [], []
        for t in self.obs_terms:
            start = self.term_slice(t.name).start
            term_perm, term_sign = by_term[t.name]
            perm.append(start + term_perm)
            sign.append(term_sign)
        return _frozen(np.concatenate(perm)), _frozen(np.concatenate(sign))

    def mirror_observation(self, obs: Any) -> np.ndarray:
        perm, sign = self.observation_mirror
        return np.asarray(obs)[..., perm] * sign

    def mirror_action(self, action: Any) -> np.ndarray:
        perm, sign = self.action_mirror
        return np.asarray(action)[..., perm] * sign

    def mirror_leg_offsets(self, offsets: Any) -> np.ndarray:
        """Mirror values over the action joints only (offsets, stepping reference)."""
        perm, sign = self.action_mirror
        legs = self.leg_action_slice
        return np.asarray(offsets)[..., perm[legs]] * sign[legs]

    # ---- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace. The fingerprint hashes this."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_json(cls, text: str) -> RobotContract:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"contract JSON is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RobotContract:
        try:
            known = {f.name for f in fields(cls)}
            unknown = set(data) - known
            if unknown:
                raise ContractError(f"unknown contract keys {sorted(unknown)}")
            cmd = data["commands"]
            return cls(
                version=int(data["version"]),
                joints=tuple(Joint(**j) for j in data["joints"]),
                control_rate_hz=float(data["control_rate_hz"]),
                action_joints=tuple(data["action_joints"]),
                action_scale_rad=float(data["action_scale_rad"]),
                action_clip=float(data["action_clip"]),
                max_target_rate_rad_s=float(data["max_target_rate_rad_s"]),
                gait_period_s=float(data["gait_period_s"]),
                # Contracts from before the learned clock rate ran a fixed clock.
                gait_rate_gain=float(data.get("gait_rate_gain", 0.0)),
                commands=CommandRanges(**{k: Range(**v) for k, v in cmd.items()}),
                head_command_range_rad=Range(**data["head_command_range_rad"]),
                obs_terms=tuple(ObsTerm(**t) for t in data["obs_terms"]),
            )
        except (KeyError, TypeError) as exc:
            raise ContractError(f"contract data is malformed: {exc!r}") from None

    def diff(self, other: RobotContract) -> list[str]:
        """Human-readable list of top-level fields that differ from ``other``."""
        mine, theirs = self.to_dict(), other.to_dict()
        out = []
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                out.append(f"{key}: installed={_short(mine.get(key))} policy={_short(theirs.get(key))}")
        return out


def _frozen(values: Any) -> np.ndarray:
    array = np.array(values)
    array.flags.writeable = False
    return array


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


CONTRACT = RobotContract()
