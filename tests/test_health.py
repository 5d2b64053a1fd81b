"""Health monitoring during a run: round-robin supply/temperature reads through the real SDK
against the software servo, the warn-then-stop thresholds, and `duck run --sim` ending in the
documented safe stop on an emulated sag and on emulated heating."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from policy_fixtures import build_policy
from servo_fixtures import specs

from duck.runtime.health import HealthConfig, HealthMonitor
from duck.runtime.robot_io import make_bus
from duck.runtime.safety import REACTIONS
from duck.runtime.telemetry import load_log
from firmware_bridge.emulator import Fault, FaultKind, IdealBackend, SoftwareServo
from firmware_bridge.health_limits import health_limits

BAUD = 1_000_000


@pytest.fixture()
def rig():
    with SoftwareServo(specs(), IdealBackend(), baud=BAUD) as emu:
        # A generous timeout: the software servo shares this process and a busy test machine.
        bus = make_bus(emu.path, BAUD, latency_ms=20.0)
        bus.open()
        lines: list[str] = []
        monitor = HealthMonitor(bus, config=HealthConfig(console=lines.append))
        try:
            yield emu, monitor, lines
        finally:
            bus.close()


def poll(monitor, n):
    faults = []
    for _ in range(n):
        f = monitor.poll(time.perf_counter() + 0.2)
        if f is not None:
            faults.append(f)
    return faults


def test_round_robin_reads_every_servo_in_turn(rig):
    emu, monitor, lines = rig
    assert poll(monitor, 13) == []
    assert monitor.reads == 13 and (monitor.voltage_v == 5.0).all() and (monitor.temperature_c == 35).all()
    assert lines == [] and monitor.take_events() == []


def test_low_voltage_warns_then_stops_after_three_reads_in_a_row(rig):
    emu, monitor, lines = rig
    lim = health_limits("XC330-M288-T")
    emu.inject(Fault(FaultKind.SAG, None, value=4.1))  # between stop (3.9) and warn (4.3)
    assert poll(monitor, 13) == []
    events = monitor.take_events()
    assert len(events) == 1 and events[0][0] == "health_warn" and "4.1 V below 4.3 V" in events[0][1]
    assert len(lines) == 1 and "charge or swap the battery" in lines[0]  # warned once, not every read
    emu.inject(Fault(FaultKind.SAG, None, value=3.8))
    faults = poll(monitor, 3)
    assert [f.kind for f in faults] == ["low_voltage"] and monitor.supply_v < lim.low_voltage_stop_v
    assert REACTIONS["low_voltage"] == ("hold", 10)


def test_one_sagging_read_is_not_a_stop(rig):
    emu, monitor, _ = rig
    emu.inject(Fault(FaultKind.SAG, None, value=3.8))
    assert poll(monitor, 2) == []
    emu.inject(Fault(FaultKind.SAG, None, value=5.0))
    assert poll(monitor, 13) == []


def test_overheat_warns_then_stops_on_that_servo(rig):
    emu, monitor, lines = rig
    emu.power.set_temperature(12, 61)
    assert poll(monitor, 13) == []
    assert "servo 12 (right_hip_pitch) at 61 degC" in lines[0]
    emu.power.set_temperature(12, 66)
    faults = poll(monitor, 26)
    assert [f.kind for f in faults] == ["overheat"] and "servo 12" in faults[0].detail
    assert REACTIONS["overheat"] == ("hold", 11)


def test_missing_servo_counts_bus_errors_and_polling_skips_without_time(rig):
    emu, monitor, _ = rig
    emu.inject(Fault(FaultKind.MISSING, 20))
    poll(monitor, 26)
    assert monitor.bus_errors[monitor.ids.index(20)] == 2
    before = monitor.reads
    assert monitor.poll(time.perf_counter() + 0.01) is None  # not enough time left in the cycle
    assert monitor.reads == before and monitor.skipped == 1


# ---- duck run --sim ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def zeros(tmp_path_factory):
    return build_policy(tmp_path_factory.mktemp("p") / "zeros.onnx", "zeros")


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "code"), [("voltage_sag", 10), ("overheat", 11)])
def test_duck_run_sim_safe_stop_on_health_fault(fault, code, zeros, tmp_path):
    log, out = tmp_path / "run.npz", tmp_path / "out.json"
    for _attempt in range(3):
        r = subprocess.run([sys.executable, "-m", "duck.cli", "run", "--sim", "--policy", str(zeros), "--duration",
                            "6", "--ramp", "0.5", "--fault", f"{fault}@0.5", "--log", str(log), "--json", str(out)],
                           capture_output=True, text=True, timeout=120)
        # A stalled shared VM can trip the timing watchdogs (fall 3, stale 4, overruns 7), or time out a
        # start-up read (2), before the emulated fault has built up; not what this test is about: rerun.
        reached = out.is_file() and json.loads(out.read_text())["injected"] == [fault]
        if r.returncode not in (2, 3, 4, 7) or (reached and r.returncode != 3):
            break
        out.unlink(missing_ok=True)
    assert "Traceback" not in r.stderr + r.stdout
    assert r.returncode == code, r.stdout + r.stderr
    summary = json.loads(out.read_text())
    kind = "low_voltage" if fault == "voltage_sag" else "overheat"
    assert summary["faults"] == [kind] and summary["injected"] == [fault]
    assert "duck run: warning:" in r.stderr  # the console line came first
    run = load_log(log)
    warn, stop = run.events_of("health_warn"), run.events_of(kind)
    assert warn and stop and warn[0]["t"] <= stop[0]["t"]
    # The documented safe stop: hold, ramp home, torque off (confirmed, and true in the emulator).
    modes = " ".join(e["detail"] for e in run.events_of("mode"))
    assert modes.index("HOLD") < modes.index("STOPPING") < modes.index("OFF")
    assert summary["final_state"] == "torque_off" and summary["sim_torque_on_after"] == []
    assert "confirmed on all 13" in run.events_of("safe_state")[0]["detail"]
    # The health columns are in the log.
    assert {"supply_v", "servo_temp_c", "bus_errors", "jitter_ms"} <= set(run.cycles)


def test_log_show_and_plot_show_health(tmp_path, capsys):
    import numpy as np

    from duck.cli import main
    from duck.contract import CONTRACT
    from duck.runtime.telemetry import Telemetry

    n = CONTRACT.num_joints
    tel = Telemetry(tmp_path / "run.npz", {"joint_names": list(CONTRACT.joint_names)})
    temps = np.full(n, np.nan)
    for k in range(60):
        temps[k % n] = 30 + k
        tel.record(t=k * 0.02, cycle=k, mode=2, overrun=False, bus_ms=1.0, imu_ms=0.1, inference_ms=0.2,
                   other_ms=0.1, targets=np.zeros(n), joint_pos=np.zeros(n), gyro=np.zeros(3), gravity=np.zeros(3),
                   command=np.zeros(3), action=np.zeros(CONTRACT.action_dim), jitter_ms=0.3 if k == 40 else 0.0,
                   supply_v=5.0 - k * 0.01, servo_voltage_v=np.full(n, 5.0 - k * 0.01), servo_temp_c=temps.copy(),
                   bus_errors=np.eye(n, dtype=int)[3] * (k > 30), health_servo=k % n)
    tel.event(0.9, 45, "health_warn", "overheat: servo 12 ...")
    tel.close()
    assert main(["log", "show", str(tmp_path / "run.npz")]) == 0
    out = capsys.readouterr().out
    assert "supply: min 4.4 V, last 4.4 V" in out and "hottest servos: left_hip_pitch 89 degC" in out
    assert "bus errors: right_knee 1" in out and "max 0.30 ms" in out and "health_warn" in out
    assert main(["log", "plot", str(tmp_path / "run.npz"), "--out", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "health.png").stat().st_size > 10_000
