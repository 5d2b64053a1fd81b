"""Loop timing of `duck run --sim` (issue: runtime), with the machine's own stall floor.

Runs, in one go:
1. a CPU stall probe with no project code in it: on every CPU at once, 1 ms chunks of
   pure-Python work at 200 Hz for 10 s, reporting how often a chunk takes 3x its median
   and the longest one. On a virtual machine the vCPU stalls show up here;
2. N runs of ``duck run --sim --policy policies/walk.onnx --duration 30 --command 0.15,0,0``,
   each with its overruns, period error, per-phase p99 and stale bus reads.

Run it on a quiet machine (stop training first):
    python benchmarks/run_timing.py [--runs 3] [--out benchmarks/results/run_timing.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
walls, end, nxt = [], time.perf_counter() + float(sys.argv[2]), time.perf_counter()
while time.perf_counter() < end:
    nxt += 0.005
    time.sleep(max(0.0, nxt - time.perf_counter()))
    t = time.perf_counter()
    x = 0
    for i in range(6000):
        x += i * i
    walls.append((time.perf_counter() - t) * 1e3)
print(json.dumps(walls))
"""


def stall_probe(seconds: float = 10.0) -> dict[str, dict[str, float]]:
    cpus = sorted(os.sched_getaffinity(0))
    procs = {c: subprocess.Popen([sys.executable, "-c", PROBE, str(c), str(seconds)], stdout=subprocess.PIPE,
                                 text=True) for c in cpus}
    out = {}
    for cpu, proc in procs.items():
        walls = np.array(json.loads(proc.communicate()[0]))
        median = float(np.median(walls))
        out[f"cpu{cpu}"] = {"chunks": int(walls.size), "median_ms": round(median, 3),
                            "p99_ms": round(float(np.percentile(walls, 99)), 3), "max_ms": round(float(walls.max()), 2),
                            "share_over_3x_median": round(float(np.mean(walls > 3 * median)), 4)}
    return out


def timing_run(seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        cmd = [sys.executable, "-m", "duck.cli", "run", "--sim", "--policy", str(ROOT / "policies" / "walk.onnx"),
               "--duration", str(seconds), "--command", "0.15,0,0", "--json", str(out)]
        # A watchdog stop (stale servo data, stale IMU, overrun burst) is a result too.
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
        if not out.is_file():
            raise SystemExit(f"duck run wrote no summary (exit {proc.returncode}): {proc.stderr[-500:]}")
        result = json.loads(out.read_text())
    stale = result["stale_servo_reads"]
    return {"exit_code": result["exit_code"], "reason": result["reason"],
            "distance_m": round(result["distance_m"], 3), "falls": result["falls"], "overruns": result["overruns"],
            "period_p99_error_ms": round(result["period_p99_error_ms"], 3),
            "period_max_error_ms": round(result["period"]["max_error_ms"], 2), "cycles": result["cycles"],
            "stale_bus_reads": stale, "phase_ms_mean": {k: round(v, 3) for k, v in result["phase_ms"].items()},
            "phase_ms_p99": {k: round(v, 3) for k, v in result["phase_ms_p99"].items()},
            "inference_ms": {k: round(v, 3) for k, v in result["inference_ms"].items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "run_timing.json")
    args = p.parse_args()
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "stall_probe": stall_probe(), "runs": []}
    print("stall probe:", json.dumps(report["stall_probe"]), flush=True)
    for k in range(args.runs):
        run = timing_run(args.seconds)
        report["runs"].append(run)
        print(f"run {k + 1}: overruns {run['overruns']}, p99 |period-20ms| {run['period_p99_error_ms']} ms, "
              f"stale reads {run['stale_bus_reads']}, bus p99 {run['phase_ms_p99']['bus']} ms, "
              f"walked {run['distance_m']} m, exit {run['exit_code']} ({run['reason']})", flush=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
