"""``duck bench bus``: one control cycle (Sync Write + state read of N servos) vs. wire time,
for either family (the bus and software servo come from the servos' models).

The software servo runs in its own process (``python -m firmware_bridge.emulator``)
so the client's measurement includes only what a real bus would cost: the
bytes on the wire at that baud (simulated by the emulator) plus our own
software overhead. The lower bound is the wire time of every byte of the
cycle: the Sync Write, the read instruction and all replies.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from firmware_bridge.errors import BusError
from firmware_bridge.families import family_of_servos, make_bus
from firmware_bridge.spec import ServoSpec

DEFAULT_BAUDS = {"dynamixel": (1_000_000, 2_000_000, 3_000_000, 4_000_000), "feetech": (1_000_000,)}


@dataclass(frozen=True)
class BusBenchRow:
    baud: int
    cycle_ms: float  # median of the measured cycles
    p95_ms: float
    wire_bound_ms: float
    ratio: float
    fast_sync_read: bool
    stale_reads: int

    def as_dict(self) -> dict:
        return asdict(self)


def start_emulator(servos: Sequence[ServoSpec], baud: int) -> tuple[subprocess.Popen, str]:
    # Real-time priority where allowed: a servo answers on time whatever the host does, and the
    # benchmark should time the client and the wire, not the emulator waiting for a CPU.
    cmd = [sys.executable, "-m", "firmware_bridge.emulator", "--baud", str(baud), "--rt-priority", "10"]
    for s in servos:
        cmd += ["--servo", f"{s.servo_id}={s.model}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    path = proc.stdout.readline().strip()
    if not path:
        proc.kill()
        raise RuntimeError("software servo did not start")
    return proc, path


def bench_baud(servos: Sequence[ServoSpec], baud: int, cycles: int = 300, fast: bool = True) -> BusBenchRow:
    proc, path = start_emulator(servos, baud)
    # Generous slack: it only matters when a reply is late (a shared, loaded machine),
    # never for the cycles that succeed, which are what we time. Late replies show up
    # as stale reads in the table instead of aborting the benchmark.
    try:
        options = {"fast_sync_read": fast} if family_of_servos(servos).name == "dynamixel" else {}
        with make_bus(path, baud, servos, slack_ms=5.0, max_stale_reads=cycles + 100, **options) as bus:
            for attempt in range(3):  # the freshly started emulator may still be settling
                try:
                    bus.ping_all()
                    break
                except BusError:
                    if attempt == 2:
                        raise
                    time.sleep(0.2)
            goal = np.zeros(len(servos))
            with bus.torque_enabled():
                times, stale = [], 0
                for k in range(cycles + 20):
                    t0 = time.perf_counter()
                    bus.write_goal_positions(goal)
                    state = bus.read_state()
                    dt = time.perf_counter() - t0
                    if k >= 20:  # warm-up cycles excluded
                        stale += state.stale
                        if not state.stale:
                            times.append(dt)
                    time.sleep(0.001)  # idle gap, like a 50 Hz loop's sleep
            used_fast = getattr(bus, "use_fast_sync_read", False)
            wire = (bus.write_wire_bytes() + bus.read_wire_bytes(used_fast)) * 10.0 / baud
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    cycle = statistics.median(times)
    return BusBenchRow(baud, cycle * 1e3, float(np.percentile(times, 95)) * 1e3, wire * 1e3, cycle / wire,
                       used_fast, stale)


def run(servos: Sequence[ServoSpec], bauds: Sequence[int] = DEFAULT_BAUDS["dynamixel"], cycles: int = 300,
        fast: bool = True) -> list[BusBenchRow]:
    return [bench_baud(servos, b, cycles, fast) for b in bauds]


def format_table(rows: Sequence[BusBenchRow]) -> str:
    lines = [f"{'baud':>9} {'cycle_ms':>9} {'p95_ms':>8} {'wire_bound_ms':>14} {'ratio':>6} {'read':>10} {'stale':>5}"]
    for r in rows:
        lines.append(f"{r.baud:>9} {r.cycle_ms:>9.3f} {r.p95_ms:>8.3f} {r.wire_bound_ms:>14.3f} {r.ratio:>6.2f} "
                     f"{'fast sync' if r.fast_sync_read else 'sync':>10} {r.stale_reads:>5}")
    return "\n".join(lines)
