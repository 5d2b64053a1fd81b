"""Crash-safe telemetry: chunks on disk every flush, merge on close, readable after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from duck.runtime.telemetry import Telemetry, load_log, parts_dir


def test_record_flush_close_roundtrip(tmp_path) -> None:
    path = tmp_path / "run.npz"
    tel = Telemetry(path, {"policy": "x.onnx"}, flush_s=0.05)
    for k in range(30):
        tel.record(t=k * 0.02, obs=np.full(4, k, dtype=np.float32), overrun=False)
        if k == 10:
            tel.event(0.2, k, "fall", "tilt")
        time.sleep(0.004)
    tel.close()
    assert path.is_file() and not parts_dir(path).exists()
    log = load_log(path)
    assert log.complete and len(log) == 30 and log.cycles["obs"].shape == (30, 4)
    assert log.events_of("fall")[0]["cycle"] == 10 and log.meta["policy"] == "x.onnx"


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from duck.runtime.telemetry import Telemetry
    tel = Telemetry(sys.argv[1], {"what": "crash test"}, flush_s=0.2)
    k = 0
    while True:
        tel.record(t=k * 0.02, cycle=k, targets=np.zeros(13))
        if k == 5:
            tel.event(0.1, k, "mode", "RUNNING")
        k += 1
        time.sleep(0.02)
""")


def test_sigkill_keeps_everything_up_to_the_last_flush(tmp_path) -> None:
    path = tmp_path / "run.npz"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.monotonic() + 20
        while len(list(parts_dir(path).glob("0*.npz"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not path.exists()
    log = load_log(path)  # reads the .parts chunks
    assert not log.complete and log.meta["what"] == "crash test"
    assert len(log) >= 20 and np.array_equal(log.cycles["cycle"], np.arange(len(log)))
    assert log.events_of("mode")
