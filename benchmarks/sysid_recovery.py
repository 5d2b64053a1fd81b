"""Identification recovers a hidden servo (issue 20's acceptance), end to end through the CLI.

1. A software servo (``duck sysid emulate``, its own process) runs an XC330-M288-T carrying a
   0.1 kg test arm at 0.1 m, with a hidden parameter set: stiffness-equivalent (the firmware's
   error gain, ``duty_per_p_rad``) x1.4, Coulomb friction x2, backlash 0.5 deg, supply 10 % below
   the 5.0 V nominal (4.5 V).
2. ``duck sysid record`` drives it through the real dynamixel-sdk over the pty.
3. ``duck sysid fit`` identifies the model from the datasheet set, by replay in MuJoCo.

Reports each parameter's fitted / hidden ratio (bar: within 15 %) and the trajectory RMSE of the
datasheet model against the fitted one (bar: >= 3x lower).
Run: python benchmarks/sysid_recovery.py [--scale 1.0 --generations 30 --popsize 8 --polish 12]
The test (tests/test_sysid.py) calls :func:`run` on a half-length recording (``scale=0.5``) with this search budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from firmware_bridge.servo_model import save_profile, servo_params

MODEL = "XC330-M288-T"
MASS_KG, LENGTH_M = 0.10, 0.10
HIDDEN_RATIOS = {"duty_per_p_rad": 1.4, "friction_coulomb_nm": 2.0, "supply_v": 0.9}
HIDDEN_BACKLASH_RAD = math.radians(0.5)
TOLERANCE = 0.15
MIN_RMSE_RATIO = 3.0


def hidden_values() -> dict[str, float]:
    base = servo_params(MODEL)
    return {"duty_per_p_rad": base.duty_per_p_rad * HIDDEN_RATIOS["duty_per_p_rad"],
            "friction_coulomb_nm": base.friction_coulomb_nm * HIDDEN_RATIOS["friction_coulomb_nm"],
            "backlash_rad": HIDDEN_BACKLASH_RAD,
            "supply_v": base.nominal_supply_v * HIDDEN_RATIOS["supply_v"]}


def _duck(*args: str, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "duck.cli", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"duck {' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def run(workdir: str | Path, scale: float = 1.0, generations: int = 30, popsize: int = 8, polish: int = 12,
        rate_hz: float = 200.0) -> dict:
    workdir = Path(workdir)
    hidden = hidden_values()
    base = servo_params(MODEL)
    hidden_profile = workdir / "hidden_servo.json"
    save_profile(hidden_profile, base.with_overrides(
        source="hidden servo (benchmark)", duty_per_p_rad=hidden["duty_per_p_rad"],
        friction_coulomb_nm=hidden["friction_coulomb_nm"], backlash_rad=hidden["backlash_rad"]))
    load = ["--mass", str(MASS_KG), "--length", str(LENGTH_M)]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "duck.cli", "sysid", "emulate", *load, "--profile", str(hidden_profile),
         "--supply-v", str(hidden["supply_v"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = emulator.stdout.readline().strip()
        if not port.startswith("/dev/"):
            raise RuntimeError(f"emulator did not start: {port!r} {emulator.stderr.read()}")
        log = workdir / "hidden_servo_log.npz"
        t0 = time.perf_counter()
        _duck("sysid", "record", "--port", port, *load, "--rate", str(rate_hz), "--scale", str(scale),
              "--latency-ms", "6", "--out", str(log), "--quiet", timeout=600)
        record_s = time.perf_counter() - t0
    finally:
        emulator.send_signal(signal.SIGTERM)
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    fitted_path = workdir / "fitted_servo.json"
    t0 = time.perf_counter()
    _duck("sysid", "fit", str(log), "--servo-model", MODEL, "--out", str(fitted_path), "--generations",
          str(generations), "--popsize", str(popsize), "--polish", str(polish), "--quiet", timeout=3600)
    fit_s = time.perf_counter() - t0
    profile = json.loads(fitted_path.read_text())
    fit = profile["sysid"]["fit"]
    params = {}
    for name, true in hidden.items():
        got = fit["parameters"][name]["fitted"]
        params[name] = {"hidden": true, "datasheet": fit["parameters"][name]["default"], "fitted": got,
                        "ratio": got / true, "within_tolerance": abs(got / true - 1.0) <= TOLERANCE}
    return {
        "parameters": params,
        "rmse_before_deg": fit["rmse_before_deg"], "rmse_after_deg": fit["rmse_after_deg"],
        "rmse_ratio": fit["rmse_ratio"], "rmse_ok": fit["rmse_ratio"] >= MIN_RMSE_RATIO,
        "record_s": record_s, "fit_s": fit_s, "evaluations": fit["evaluations"],
        "samples": profile["sysid"]["logs"][0]["samples"], "rate_hz": profile["sysid"]["logs"][0]["rate_hz"],
        "budget": {"scale": scale, "generations": generations, "popsize": popsize, "polish": polish},
        "profile": str(fitted_path), "plot": profile["sysid"]["plots"][0], "cpus": os.cpu_count(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--popsize", type=int, default=8)
    ap.add_argument("--polish", type=int, default=12)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sysid_recovery.json")
    ap.add_argument("--keep", type=Path, help="keep the log, profile and plot in this folder")
    args = ap.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(args.keep, args.scale, args.generations, args.popsize, args.polish)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(tmp, args.scale, args.generations, args.popsize, args.polish)
    print(f"{'parameter':<22} {'datasheet':>11} {'hidden':>11} {'fitted':>11} {'fitted/hidden':>14}")
    for name, p in result["parameters"].items():
        print(f"{name:<22} {p['datasheet']:>11.5g} {p['hidden']:>11.5g} {p['fitted']:>11.5g} {p['ratio']:>14.3f}"
              f"{'' if p['within_tolerance'] else '  OUTSIDE 15 %'}")
    print(f"trajectory RMSE {result['rmse_before_deg']:.3f} deg (datasheet) -> {result['rmse_after_deg']:.3f} deg "
          f"(fitted): {result['rmse_ratio']:.1f}x; record {result['record_s']:.0f} s, fit {result['fit_s']:.0f} s "
          f"({result['evaluations']} simulations)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    ok = all(p["within_tolerance"] for p in result["parameters"].values()) and result["rmse_ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
