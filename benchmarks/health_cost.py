"""What the health round-robin costs the control loop's bus budget (issue 24).

Runs ``duck run --sim --policy policies/walk.onnx --command 0.15,0,0`` alternately
without (``--no-health``) and with the health monitor, ``--pairs`` times each, in
one go so both see the same machine, and reports per run the bus phase's p99
(sensor read + goal write + the health read), overruns, stale reads and the
monitor's reads/skips. The bus phase includes the one 3-byte health Read per cycle;
"skipped" counts cycles where that read did not fit before the deadline and was
left for a later cycle.

Before that, the bus alone: the software servo in its own process at 2 Mbps, 13 servos,
cycles of Sync Write + state read alternating with cycles that add the health Read,
so both kinds see the same machine; p50/p99 of each and the health read's wire time.

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


def one_run(seconds: float, health: bool, policy: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        cmd = [sys.executable, "-m", "duck.cli", "run", "--sim", "--policy", str(policy),
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


def bus_only(cycles: int = 600, baud: int = 2_000_000) -> dict:
    """Cycle time without and with the health Read, interleaved, on the software servo."""
    sys.path.insert(0, str(ROOT))
    from firmware_bridge.bench import start_emulator
    from firmware_bridge.bus import HEALTH_BLOCK_SIZE, DynamixelBus
    from firmware_bridge.spec import ServoSpec

    ids = (10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 30, 31, 32)
    servos = [ServoSpec(i, "XL330-M288-T" if i >= 30 else "XC330-M288-T") for i in ids]
    proc, path = start_emulator(servos, baud)
    times: dict[bool, list[float]] = {False: [], True: []}
    misses = 0
    try:
        with DynamixelBus(path, baud, servos, slack_ms=5.0, max_stale_reads=cycles + 100) as bus:
            bus.ping_all()
            goal = np.zeros(len(ids))
            for k in range(cycles + 20):
                health = bool(k % 2)
                t0 = time.perf_counter()
                bus.write_goal_positions(goal)
                state = bus.read_state()
                if health:
                    try:
                        bus.read_health_once(ids[k % len(ids)])
                    except Exception:  # noqa: BLE001 - a late reply on a loaded box: counted, not timed
                        misses += 1
                        continue
                dt = time.perf_counter() - t0
                if k >= 20 and not state.stale:
                    times[health].append(dt * 1e3)
                time.sleep(0.002)
            wire_ms = bus.read_once_wire_bytes(HEALTH_BLOCK_SIZE) * 10.0 / baud * 1e3
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    out = {"baud": baud, "health_read_wire_ms": round(wire_ms, 3), "health_read_misses": misses}
    for health, name in ((False, "off"), (True, "on")):
        v = np.array(times[health])
        out[name] = {"cycles": int(v.size), "p50_ms": round(float(np.percentile(v, 50)), 3),
                     "p99_ms": round(float(np.percentile(v, 99)), 3)}
    out["p50_added_ms"] = round(out["on"]["p50_ms"] - out["off"]["p50_ms"], 3)
    out["p99_added_ms"] = round(out["on"]["p99_ms"] - out["off"]["p99_ms"], 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "health_cost.json")
    p.add_argument("--policy", type=Path, default=ROOT / "policies" / "walk.onnx",
                   help="policy for the duck run half (one trained for the installed contract)")
    args = p.parse_args()
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_average_at_start": os.getloadavg(), "runs": []}
    report["bus_only"] = bus_only()
    print("bus only:", json.dumps(report["bus_only"]), flush=True)
    for k in range(args.pairs):
        for health in (False, True):
            run = one_run(args.seconds, health, args.policy)
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
