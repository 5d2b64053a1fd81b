"""What the health round-robin costs the control loop's bus budget (issue 24).

Runs ``duck run --sim --policy policies/walk.onnx --command 0.15,0,0`` alternately
without (``--no-health``) and with the health monitor, ``--pairs`` times each, in
one go so both see the same machine, and reports per run the bus phase's p99
(sensor read + goal write + the health read), overruns, stale reads and the
monitor's reads/skips. The bus phase includes the one 3-byte health Read per cycle;
"skipped" counts cycles where that read did not fit before the deadline and was
left for a later cycle.

Run it on a quiet machine (stop training first):
    python benchmarks/health_cost.py [--pairs 3] [--seconds 20] [--out benchmarks/results/health_cost.json]
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


def one_run(seconds: float, health: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        cmd = [sys.executable, "-m", "duck.cli", "run", "--sim", "--policy", str(ROOT / "policies" / "walk.onnx"),
               "--duration", str(seconds), "--command", "0.15,0,0", "--json", str(out)]
        if not health:
            cmd.append("--no-health")
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
        if not out.is_file():
            raise SystemExit(f"duck run wrote no summary (exit {proc.returncode}): {proc.stderr[-500:]}")
        r = json.loads(out.read_text())
    return {"health": health, "exit_code": r["exit_code"], "cycles": r["cycles"], "overruns": r["overruns"],
            "stale_bus_reads": r["stale_servo_reads"], "bus_p99_ms": round(r["phase_ms_p99"]["bus"], 3),
            "bus_mean_ms": round(r["phase_ms"]["bus"], 3),
            "period_p99_error_ms": round(r["period_p99_error_ms"], 3), "health_monitor": r.get("health", {})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "health_cost.json")
    args = p.parse_args()
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_average_at_start": os.getloadavg(), "runs": []}
    for k in range(args.pairs):
        for health in (False, True):
            run = one_run(args.seconds, health)
            report["runs"].append(run)
            h = run["health_monitor"]
            print(f"pair {k + 1} health {'on ' if health else 'off'}: bus p99 {run['bus_p99_ms']} ms "
                  f"(mean {run['bus_mean_ms']}), overruns {run['overruns']}, stale {run['stale_bus_reads']}, "
                  f"p99 |period-20ms| {run['period_p99_error_ms']} ms"
                  + (f", health reads {h['reads']}, skipped {h['skipped_cycles']}" if health else ""), flush=True)
    summary = {}
    for health in (False, True):
        runs = [r for r in report["runs"] if r["health"] == health]
        summary["on" if health else "off"] = {
            "bus_p99_ms_median": float(np.median([r["bus_p99_ms"] for r in runs])),
            "bus_mean_ms_median": float(np.median([r["bus_mean_ms"] for r in runs])),
            "overruns_total": int(sum(r["overruns"] for r in runs)),
            "stale_total": int(sum(r["stale_bus_reads"] for r in runs))}
    summary["bus_p99_ratio_on_over_off"] = round(summary["on"]["bus_p99_ms_median"]
                                                 / summary["off"]["bus_p99_ms_median"], 3)
    report["summary"] = summary
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(summary, indent=1))
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
