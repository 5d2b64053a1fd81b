"""Batched quaternion helpers (numpy only; shared by the sim and the runtime).

Quaternions are (w, x, y, z), body-to-world, as MuJoCo and the BNO055 report them.
"""

from __future__ import annotations

import numpy as np


def quat_to_mat(quat: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 3, 3) rotation matrices (body to world)."""
    quat = np.asarray(quat, dtype=np.float64)
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    rows = [
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ]
    return np.stack(rows, axis=-2)


def gravity_in_body(quat: np.ndarray) -> np.ndarray:
    """Unit gravity direction expressed in the body frame: R^T @ (0, 0, -1)."""
    quat = np.asarray(quat, dtype=np.float64)
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    # Third row of R, negated (R^T e_z is the third row of R).
    return -np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)


def quat_to_yaw(quat: np.ndarray) -> np.ndarray:
    quat = np.asarray(quat, dtype=np.float64)
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def heading_frame(yaw: np.ndarray, vec_world: np.ndarray) -> np.ndarray:
    """Rotate world-frame vectors (..., 3) into the yaw-aligned heading frame."""
    c, s = np.cos(yaw), np.sin(yaw)
    x, y = vec_world[..., 0], vec_world[..., 1]
    return np.stack([c * x + s * y, -s * x + c * y, vec_world[..., 2]], axis=-1)
