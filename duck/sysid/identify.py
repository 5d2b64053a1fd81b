"""``duck sysid fit`` end to end: fit, then write the servo profile and the figures."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.servo_model import load_profile, save_profile, servo_params

from .fit import DEFAULT_FREE, FREE, FitResult, Problem, fit
from .plots import plot_fit
from .progress import Progress
from .recording import SysidLog
from .replay import Candidate


def start_candidate(model: str, start_profile: str | Path | None = None, supply_v: float | None = None) -> Candidate:
    params = servo_params(model) if start_profile is None else load_profile(start_profile)[0]
    if params.model != model:
        raise ValueError(f"{start_profile} is a {params.model} profile, not {model}")
    return Candidate(params, params.nominal_supply_v if supply_v is None else supply_v)


def identify(logs: Sequence[SysidLog], model: str, out: str | Path, plot: str | Path | None = None,
             start_profile: str | Path | None = None, free: Sequence[str] = DEFAULT_FREE, popsize: int = 8,
             generations: int = 30, polish: int = 12, seed: int = 0, log_paths: Sequence[str] = (),
             show_progress: bool = True) -> dict[str, Any]:
    """Fit ``free`` parameters of ``model`` to ``logs``; write the profile ``out`` (atomically) with
    the fit's RMSE before and after, and one figure per log. Returns the profile's ``sysid`` block
    (plus ``plots``)."""
    start = start_candidate(model, start_profile)
    bar = Progress(1.0, "sysid fit", "", enabled=show_progress)
    stages = {"search": (0.0, 0.8), "polish": (0.8, 0.2), "done": (1.0, 0.0)}

    def progress(stage: str, frac: float) -> None:
        base, span = stages[stage]
        bar.update_to(min(1.0, base + span * frac), postfix=stage)

    try:
        result = fit(logs, start, free, popsize=popsize, generations=generations, polish_iterations=polish,
                     seed=seed, progress=progress)
    finally:
        bar.close()
    block = sysid_block(result, logs, log_paths)
    out = Path(out)
    plot = Path(plot) if plot is not None else out.with_suffix(".png")
    plots = _plots(result, logs, plot)
    block["plots"] = [str(p) for p in plots]
    save_profile(out, result.fitted.params, extra={"sysid": block})
    return block


def sysid_block(result: FitResult, logs: Sequence[SysidLog], log_paths: Sequence[str]) -> dict[str, Any]:
    params = {}
    for name, row in result.parameters().items():
        ratio = row["fitted"] / row["default"] if row["default"] else float("nan")
        params[name] = {"default": row["default"], "fitted": row["fitted"], "ratio": ratio, "unit": FREE[name].unit}
    logged_v = [float(np.nanmean(log["voltage_v"])) for log in logs]
    return {
        "fit": {
            "parameters": params, "free": list(result.free),
            "rmse_before_deg": math.degrees(result.rmse_before_rad),
            "rmse_after_deg": math.degrees(result.rmse_after_rad),
            "rmse_ratio": result.rmse_before_rad / max(result.rmse_after_rad, 1e-12),
            "per_log_rmse_before_deg": [math.degrees(r) for r in result.per_log_before_rad],
            "per_log_rmse_after_deg": [math.degrees(r) for r in result.per_log_after_rad],
            "optimizer": "scipy.optimize.differential_evolution (vectorized) + least_squares (trf)",
            "evaluations": result.evaluations, "seconds": result.seconds,
        },
        # The supply is a condition of the recording, not a property of the servo: it is not in
        # the profile's params. The identified value checks the model against Present Input Voltage.
        "supply_v_identified": result.fitted.supply_v,
        "supply_v_logged": logged_v,
        "logs": [{"path": p, "load": log.meta["load"], "settings": log.meta["settings"], "samples": len(log),
                  "rate_hz": log.rate_hz, "recorded_at": log.meta.get("recorded_at")}
                 for p, log in zip(list(log_paths) + [""] * len(logs), logs)],
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _plots(result: FitResult, logs: Sequence[SysidLog], plot: Path) -> list[Path]:
    prob = Problem(logs, result.start)
    rollouts = prob.simulate([result.start, result.fitted])
    paths = []
    for i, (log, r) in enumerate(zip(logs, rollouts)):
        path = plot if len(logs) == 1 else plot.with_name(f"{plot.stem}_{i}{plot.suffix}")
        title = (f"{log.servo_model}, {log.load.mass_kg} kg at {log.load.length_m} m: RMSE "
                 f"{math.degrees(result.per_log_before_rad[i]):.2f} deg (datasheet) -> "
                 f"{math.degrees(result.per_log_after_rad[i]):.2f} deg (fitted)")
        paths.append(plot_fit(path, log, r.row(0), r.row(1), title))
    return paths
