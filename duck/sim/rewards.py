"""Reward terms, one small function each, over a whole batch.

Each ``_reward_<name>(s, shape)`` returns an (N,) array; the env multiplies it by
``RewardScales.<name>`` and reports the product in ``info["reward_terms"][name]``.
The reward is exactly the sum of those products, in declaration order.

The gait prior (``feet_height`` + ``feet_contact``) is an analytic, phase-based
reference: with a non-zero command, the left foot swings while sin(phase) > 0 and
the right while sin(phase) < 0, along a half-sine of height ``swing_height_m``;
with a zero command both feet stay planted. See docs/training.md for what it buys.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from duck.sim.config import RewardScales, RewardShape


@dataclass
class StepState:
    """Everything the reward terms may look at, for N envs (privileged sim state is fine here)."""

    lin_vel_heading: np.ndarray  # (N, 3) base velocity in the yaw-aligned frame
    ang_vel_world: np.ndarray  # (N, 3)
    gravity_body: np.ndarray  # (N, 3)
    base_height: np.ndarray  # (N,)
    command: np.ndarray  # (N, 3)
    joint_pos_rel: np.ndarray  # (N, 13) minus home
    joint_vel: np.ndarray  # (N, 13)
    torque: np.ndarray  # (N, 13)
    action: np.ndarray  # (N, A) clipped
    last_action: np.ndarray  # (N, A)
    foot_height: np.ndarray  # (N, 2) right, left: sole height above the floor
    foot_vel_xy: np.ndarray  # (N, 2, 2)
    foot_contact: np.ndarray  # (N, 2) bool
    foot_offset_xy: np.ndarray  # (N, 2, 2) sole centre minus base position, heading frame
    home_foot_offset_xy: np.ndarray  # (2, 2) the same at the home pose
    home_gravity_xy: np.ndarray  # (2,) gravity's x, y in the body frame standing at home, settled
    phase_sin: np.ndarray  # (N,)
    terminated: np.ndarray  # (N,) bool
    posture_weights: np.ndarray  # (13,)
    leg_joints: np.ndarray  # indices of leg joints


def is_moving(command: np.ndarray) -> np.ndarray:
    """True where the command asks for motion (the stand-still share is exactly zero)."""
    return np.any(np.abs(command) > 1e-6, axis=-1)


def swinging_feet(phase_sin: np.ndarray) -> np.ndarray:
    """(N, 2) bool, right and left: which foot the gait clock swings (left while sin > 0)."""
    swing_left = phase_sin > 0
    return np.stack([~swing_left, swing_left], axis=-1)


def reference_foot_height(phase_sin: np.ndarray, moving: np.ndarray, height: float) -> np.ndarray:
    """(N, 2) reference sole heights for right, left."""
    left = np.maximum(phase_sin, 0.0) * height
    right = np.maximum(-phase_sin, 0.0) * height
    return np.stack([right, left], axis=-1) * moving[:, None]


def _reward_tracking_lin_vel(s: StepState, shape: RewardShape) -> np.ndarray:
    err = np.sum((s.lin_vel_heading[:, :2] - s.command[:, :2]) ** 2, axis=-1)
    return np.exp(-err / shape.lin_vel_sigma)


def _yaw_rate_kernel(s: StepState, sigma: float) -> np.ndarray:
    """exp(-err^2 / sigma) of the yaw-rate error, rad/s."""
    return np.exp(-((s.ang_vel_world[:, 2] - s.command[:, 2]) ** 2) / sigma)


def _reward_tracking_yaw(s: StepState, shape: RewardShape) -> np.ndarray:
    return _yaw_rate_kernel(s, shape.yaw_sigma)


def _reward_tracking_yaw_coarse(s: StepState, shape: RewardShape) -> np.ndarray:
    return _yaw_rate_kernel(s, shape.yaw_coarse_sigma)


def _reward_alive(s: StepState, shape: RewardShape) -> np.ndarray:
    return 1.0 - s.terminated


def _reward_feet_height(s: StepState, shape: RewardShape) -> np.ndarray:
    ref = reference_foot_height(s.phase_sin, is_moving(s.command), shape.swing_height_m)
    return np.exp(-np.sum((s.foot_height - ref) ** 2, axis=-1) / shape.feet_height_sigma)


def _reward_feet_contact(s: StepState, shape: RewardShape) -> np.ndarray:
    expected_stance = ~(is_moving(s.command)[:, None] & swinging_feet(s.phase_sin))
    return np.mean(s.foot_contact == expected_stance, axis=-1)


def _reward_orientation(s: StepState, shape: RewardShape) -> np.ndarray:
    """Tilt away from the home stance's. The real robot's home leans the trunk back (its soles
    are pitched 0.174 rad toe-down against the trunk), so level is not its neutral (Walk-v6)."""
    return np.sum((s.gravity_body[:, :2] - s.home_gravity_xy) ** 2, axis=-1)


def _reward_base_height(s: StepState, shape: RewardShape) -> np.ndarray:
    return (s.base_height - shape.base_height_m) ** 2


def _reward_action_rate(s: StepState, shape: RewardShape) -> np.ndarray:
    return np.sum((s.action - s.last_action) ** 2, axis=-1)


def _reward_torque(s: StepState, shape: RewardShape) -> np.ndarray:
    return np.sum(s.torque**2, axis=-1)


def _reward_foot_slip(s: StepState, shape: RewardShape) -> np.ndarray:
    return np.sum(np.sum(s.foot_vel_xy**2, axis=-1) * s.foot_contact, axis=-1)


def _reward_posture(s: StepState, shape: RewardShape) -> np.ndarray:
    return np.sum(s.posture_weights * s.joint_pos_rel**2, axis=-1)


def _reward_stand_still(s: StepState, shape: RewardShape) -> np.ndarray:
    standing = ~is_moving(s.command)
    return np.sum(np.abs(s.joint_pos_rel[:, s.leg_joints]), axis=-1) * standing


def _reward_lin_vel_z(s: StepState, shape: RewardShape) -> np.ndarray:
    return s.lin_vel_heading[:, 2] ** 2


def _reward_ang_vel_xy(s: StepState, shape: RewardShape) -> np.ndarray:
    return np.sum(s.ang_vel_world[:, :2] ** 2, axis=-1)


def _reward_capture_step(s: StepState, shape: RewardShape) -> np.ndarray:
    """Squared distance (m^2) of the swing foot from where a step stops the base: its stance
    spot (home x, ``capture_half_width_m`` out), led by the command's speed and moved by the
    velocity error over omega (the pendulum's capture-point offset), so a kick asks for a step
    that far in its direction. A cost: a kernel had no gradient a kick's 10 cm away."""
    omega = np.sqrt(9.81 / shape.capture_com_height_m)
    shift = (s.lin_vel_heading[:, :2] - s.command[:, :2]) / omega + s.command[:, :2] * shape.capture_lead_s
    stance = np.stack([s.home_foot_offset_xy[:, 0], np.sign(s.home_foot_offset_xy[:, 1]) * shape.capture_half_width_m],
                      axis=-1)
    distance2 = np.sum((s.foot_offset_xy - (stance[None] + shift[:, None, :])) ** 2, axis=-1)
    return np.sum(distance2 * swinging_feet(s.phase_sin), axis=-1) * is_moving(s.command)


TERMS = tuple(f.name for f in fields(RewardScales))
_FUNCTIONS = {name: globals()[f"_reward_{name}"] for name in TERMS}


def compute(s: StepState, scales: RewardScales, shape: RewardShape) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted terms and their sum (the reward). Zero-weight terms are skipped but reported."""
    terms: dict[str, np.ndarray] = {}
    total = np.zeros(len(s.base_height))
    for name in TERMS:
        weight = getattr(scales, name)
        value = weight * _FUNCTIONS[name](s, shape) if weight != 0.0 else np.zeros_like(total)
        terms[name] = value
        total = total + value
    return total, terms
