"""``duck sysid fit``: identify a servo's parameters from recorded logs by replay in MuJoCo.

The free parameters (:data:`FREE`) are searched by scipy's differential evolution,
its whole population simulated as one batch (:class:`~.replay.RigSim`), then
polished by ``least_squares`` (trust-region reflective) with a Jacobian whose
finite-difference columns are also one batch.

The cost gives every part of the excitation (hold, steps, reversal, chirp; see
:mod:`.excitation`) the same weight, whatever its length: the parts that carry
friction and backlash are slow and quiet, and in a plain RMSE the large errors
of fast steps and chirps (where timing jitter alone costs tenths of a degree)
would drown them. Residuals pass through a Cauchy loss (quadratic below the
noise, logarithmic above), so a few samples spoilt by a mistimed goal (a host
held up between write and read) cannot pull the fit. The first third of the
search assumes every part equally noisy; the noise each part really has is then
estimated from the best candidate (twice, as the search closes in), and the
rest of the search weighs the parts by it. The RMSE reported
before and after is the plain one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import differential_evolution, least_squares

from firmware_bridge.control_table import RAD_PER_TICK
from firmware_bridge.servo_model import FirmwareGains

from .recording import SysidLog, replay_times, trusted_samples
from .replay import Candidate, RigSim


@dataclass(frozen=True)
class FreeParam:
    """One identified parameter and its search range.

    ``name`` is a tunable :class:`~firmware_bridge.servo_model.ServoParams` field, or
    ``supply_v``. Relative bounds are multiples of the starting value; log-scaled
    parameters are searched as log(value) (scales), the others linearly (backlash may be 0).
    """

    name: str
    lo: float
    hi: float
    log_scale: bool
    relative: bool
    unit: str

    def get(self, c: Candidate) -> float:
        return c.supply_v if self.name == "supply_v" else float(getattr(c.params, self.name))

    def set(self, c: Candidate, value: float) -> Candidate:
        if self.name == "supply_v":
            return replace(c, supply_v=value)
        return replace(c, params=c.params.with_overrides(source="duck sysid fit", **{self.name: value}))

    def bounds(self, start: Candidate) -> tuple[float, float]:
        ref = self.get(start) if self.relative else 1.0
        lo, hi = self.lo * ref, self.hi * ref
        return (math.log(lo), math.log(hi)) if self.log_scale else (lo, hi)

    def value(self, x: float) -> float:
        return math.exp(x) if self.log_scale else x

    def coord(self, value: float) -> float:
        return math.log(value) if self.log_scale else value


FREE: dict[str, FreeParam] = {p.name: p for p in (
    # "stiffness-equivalent": the firmware's error gain (duty per P unit per rad), BAM's error gain
    FreeParam("duty_per_p_rad", 0.4, 2.5, True, True, "duty/(P*rad)"),
    FreeParam("friction_coulomb_nm", 0.2, 5.0, True, True, "N*m"),
    FreeParam("backlash_rad", 0.0, math.radians(1.5), False, False, "rad"),
    FreeParam("supply_v", 0.7, 1.25, True, True, "V"),
    FreeParam("friction_viscous_nms", 0.2, 5.0, True, True, "N*m*s/rad"),
    FreeParam("armature_kgm2", 0.2, 5.0, True, True, "kg*m^2"),
    FreeParam("kt_nm_per_a", 0.5, 2.0, True, True, "N*m/A"),
    FreeParam("duty_per_d_rad_s", 0.2, 5.0, True, True, "duty/(D*rad/s)"),
)}
ROBUST_SCALE_RAD = math.radians(0.25)  # about 3 encoder ticks
DEFAULT_FREE = ("duty_per_p_rad", "friction_coulomb_nm", "backlash_rad", "supply_v")


def log_gains(log: SysidLog) -> FirmwareGains:
    """The firmware gains the servo ran during ``log`` (read from it before recording)."""
    s = log.meta["settings"]
    return FirmwareGains(p=int(s["position_p_gain"]), i=int(s["position_i_gain"]), d=int(s["position_d_gain"]),
                         feedforward_1st=int(s["feedforward_1st_gain"]),
                         feedforward_2nd=int(s["feedforward_2nd_gain"]), pwm_limit=int(s["pwm_limit"]),
                         pwm_slope=int(s["pwm_slope"]))


@dataclass
class FitResult:
    start: Candidate
    fitted: Candidate
    free: tuple[str, ...]
    rmse_before_rad: float
    rmse_after_rad: float
    per_log_before_rad: list[float]
    per_log_after_rad: list[float]
    evaluations: int
    seconds: float
    history: list[float] = field(default_factory=list)

    def parameters(self) -> dict[str, dict[str, float]]:
        return {n: {"default": FREE[n].get(self.start), "fitted": FREE[n].get(self.fitted)} for n in self.free}


class Problem:
    """Residuals of many candidates at once, over all logs."""

    def __init__(self, logs: Sequence[SysidLog], start: Candidate, free: Sequence[str] = ()) -> None:
        self.logs, self.start, self.free = list(logs), start, [FREE[n] for n in free]
        self.gains = [log_gains(log) for log in self.logs]
        self.times = [replay_times(log) for log in self.logs]
        # Only samples whose timing is sure count (see recording.trusted_samples).
        self.masks = [trusted_samples(log) for log in self.logs]
        self.weights = [segment_weights(log, m) / np.sqrt(len(self.logs)) for log, m in zip(self.logs, self.masks)]
        self.labels = [segment_labels(log, m) for log, m in zip(self.logs, self.masks)]
        self.noise = [np.full(int(m.sum()), ROBUST_SCALE_RAD) for m in self.masks]
        self._sims: dict[tuple[int, int], RigSim] = {}
        self.evaluations = 0

    def candidate(self, x: np.ndarray) -> Candidate:
        c = self.start
        for p, v in zip(self.free, x):
            c = p.set(c, p.value(float(v)))
        return c

    def _sim(self, i: int, n: int) -> RigSim:
        if (i, n) not in self._sims:
            self._sims[(i, n)] = RigSim(self.logs[i].load, n)
        return self._sims[(i, n)]

    def simulate(self, candidates: list[Candidate]):
        """Per log, the :class:`~.replay.Rollout` of every candidate."""
        self.evaluations += len(candidates)
        out = []
        for i, log in enumerate(self.logs):
            q0 = float(log["position_rad"][log["ok"]][0])
            t_goal, t_sample = self.times[i]
            out.append(self._sim(i, len(candidates)).replay(candidates, self.gains[i], t_goal, log["goal_rad"],
                                                              t_sample, q0))
        return out

    def residuals(self, candidates: list[Candidate]) -> list[np.ndarray]:
        """Per log, (len(candidates), ok samples) simulated minus measured position."""
        return [r.position_rad[:, m] - log["position_rad"][m]
                for r, log, m in zip(self.simulate(candidates), self.logs, self.masks)]

    def weighted(self, candidates: list[Candidate]) -> np.ndarray:
        """(len(candidates), all ok samples): residuals in units of their part's noise, through the
        Cauchy loss, weighted per excitation part; their sum of squares is the cost."""
        out = []
        for r, w, sigma in zip(self.residuals(candidates), self.weights, self.noise):
            z = r / sigma
            out.append(w * np.sign(z) * np.sqrt(np.log1p(z * z)))
        return np.concatenate(out, axis=1)

    def estimate_noise(self, candidate: Candidate) -> None:
        """Each part's noise, from the residuals of ``candidate`` (robust: 1.48 x median |r|,
        at least half an encoder tick); the cost then weighs each part by how well it is measured."""
        for i, r in enumerate(self.residuals([candidate])):
            labels = self.labels[i]
            sigma = np.empty_like(r[0])
            for part in np.unique(labels):
                m = labels == part
                sigma[m] = max(1.4826 * float(np.median(np.abs(r[0][m]))), 0.5 * RAD_PER_TICK)
            self.noise[i] = 2.0 * sigma  # the loss flattens beyond about two sigma

    def cost(self, candidates: list[Candidate]) -> np.ndarray:
        return np.sqrt(np.sum(self.weighted(candidates) ** 2, axis=1))


def segment_labels(log: SysidLog, mask: np.ndarray) -> np.ndarray:
    """Per sample in ``mask``, the index of its excitation part (settle and anything unnamed: the last)."""
    t = log["t_s"][mask]
    parts = [(s0, s1) for name, s0, s1 in log.meta.get("segments", []) if name != "settle"]
    label = np.full(len(t), len(parts))
    for k, (s0, s1) in enumerate(parts):
        label[(t >= s0) & (t < s1)] = k
    return label


def segment_weights(log: SysidLog, mask: np.ndarray) -> np.ndarray:
    """Per sample in ``mask``, 1/sqrt(samples in its part * parts): each part's mean square counts once."""
    label = segment_labels(log, mask)
    counts = np.bincount(label)
    used = np.count_nonzero(counts)
    return 1.0 / np.sqrt(counts[label] * used)


def fit(logs: Sequence[SysidLog], start: Candidate, free: Sequence[str] = DEFAULT_FREE, *,
        popsize: int = 8, generations: int = 20, polish_iterations: int = 10, seed: int = 0,
        progress: Callable[[str, float], None] | None = None) -> FitResult:
    """Identify ``free`` parameters of ``start`` from ``logs``; ``progress(stage, fraction)``."""
    unknown = [n for n in free if n not in FREE]
    if unknown:
        raise ValueError(f"cannot fit {unknown}; fittable: {sorted(FREE)}")
    if not logs:
        raise ValueError("no logs to fit")
    t0 = time.perf_counter()
    prob = Problem(logs, start, free)
    report = progress or (lambda stage, frac: None)
    before = prob.residuals([start])
    history: list[float] = []
    bounds = [p.bounds(start) for p in prob.free]

    def population_cost(xs: np.ndarray) -> np.ndarray:  # vectorized DE: xs is (dims, S)
        return prob.cost([prob.candidate(x) for x in np.atleast_2d(xs.T)])

    gen = 0

    def on_generation(intermediate_result) -> None:
        nonlocal gen
        gen += 1
        history.append(float(intermediate_result.fun))
        report("search", gen / max(generations, 1))

    # Stages: the first searches with every part's noise assumed equal; then, twice, the noise
    # each part actually has is estimated from the best candidate's residuals and the search goes
    # on (its population carried over) weighing each part by it. Each estimate is made nearer the
    # answer, so model error counts less and less as noise.
    x0 = np.array([min(max(p.coord(p.get(start)), lo), hi) for p, (lo, hi) in zip(prob.free, bounds)])
    common = dict(popsize=popsize, seed=seed, vectorized=True, updating="deferred", polish=False, tol=1e-6,
                  callback=on_generation)
    stages = [g for g in (generations - 2 * (generations // 3), generations // 3, generations // 3) if g > 0]
    init = "sobol"
    x = x0
    for k, g in enumerate(stages):
        if k > 0:
            prob.estimate_noise(prob.candidate(x))
        de = differential_evolution(population_cost, bounds, maxiter=g, init=init,
                                    **({"x0": x0} if k == 0 else {}), **common)
        x, init = de.x, de.population
    prob.estimate_noise(prob.candidate(x))
    if polish_iterations > 0:
        x = _polish(prob, x, bounds, polish_iterations, history, report)
    fitted = prob.candidate(x)
    after = prob.residuals([fitted])
    report("done", 1.0)

    def rms(rs):
        return [float(np.sqrt(np.mean(r[0] ** 2))) for r in rs]

    def total(rs):
        return float(np.sqrt(np.mean(np.concatenate([r[0] for r in rs]) ** 2)))

    return FitResult(start, fitted, tuple(free), total(before), total(after), rms(before), rms(after),
                     prob.evaluations, time.perf_counter() - t0, history)


def _polish(prob: Problem, x: np.ndarray, bounds, iterations: int, history: list[float], report) -> np.ndarray:
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    h = 0.01 * (hi - lo)  # friction and backlash make the cost rough at small scales: wide differences
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    calls = 0

    def both(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = x.tobytes()
        if key not in cache:
            steps = []
            for i in range(len(x)):
                s = x.copy()
                s[i] = s[i] + h[i] if s[i] + h[i] <= hi[i] else s[i] - h[i]
                steps.append(s)
            r = prob.weighted([prob.candidate(s) for s in [x, *steps]])
            jac = np.stack([(r[i + 1] - r[0]) / (steps[i][i] - x[i]) for i in range(len(x))], axis=1)
            cache.clear()
            cache[key] = (r[0], jac)
        return cache[key]

    def fun(x):
        nonlocal calls
        calls += 1
        r = both(x)[0]
        history.append(float(np.sqrt(np.sum(r**2))))
        report("polish", min(1.0, calls / iterations))
        return r

    start = float(np.sqrt(np.sum(both(x)[0] ** 2)))
    res = least_squares(fun, x, jac=lambda x: both(x)[1], bounds=(lo, hi), method="trf", max_nfev=iterations,
                        x_scale=hi - lo)
    return res.x if np.sqrt(np.sum(res.fun**2)) <= start else x
