"""Counter-based random numbers, one independent stream per env, drawn for a whole batch
at once (no per-env Python loop).

Env *i*'s stream depends only on its own seed and how many numbers it has drawn, so
env 3 of a 64-env batch sees exactly what a single env with the same seed sees.
The generator is SplitMix64 over (seed key, counter): tiny, fast in numpy, and
statistically fine for noise and sampling.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


class BatchRNG:
    """One stream per env. ``uniform(idx, n)`` draws ``n`` numbers for each env in ``idx``."""

    def __init__(self, num_envs: int):
        self.keys = np.zeros(num_envs, dtype=np.uint64)
        self.counters = np.zeros(num_envs, dtype=np.uint64)

    def seed(self, idx: np.ndarray, seeds: np.ndarray) -> None:
        with np.errstate(over="ignore"):
            self.keys[idx] = _mix(np.asarray(seeds, dtype=np.uint64) * _GOLDEN + _GOLDEN)
        self.counters[idx] = 0

    def uniform(self, idx: np.ndarray, n: int, low=0.0, high=1.0) -> np.ndarray:
        """Shape (len(idx), n) in [low, high)."""
        with np.errstate(over="ignore"):
            ctr = self.counters[idx][:, None] + np.arange(n, dtype=np.uint64)[None, :]
            bits = _mix(self.keys[idx][:, None] ^ (ctr * _GOLDEN))
        self.counters[idx] += np.uint64(n)
        unit = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        return low + (np.asarray(high) - np.asarray(low)) * unit

    def normal(self, idx: np.ndarray, n: int) -> np.ndarray:
        """Standard normal, shape (len(idx), n), by Box-Muller."""
        u = self.uniform(idx, 2 * n)
        u1 = np.maximum(u[:, :n], 1e-12)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u[:, n:])

    def integers(self, idx: np.ndarray, low: int, high_inclusive: int) -> np.ndarray:
        u = self.uniform(idx, 1)[:, 0]
        return np.minimum(low + np.floor(u * (high_inclusive - low + 1)).astype(np.int64), high_inclusive)
