"""Crash-safe telemetry: every cycle's timings, observation, action, targets, and events.

While running, ``run.npz`` does not exist yet; rows go to ``run.npz.parts/``:

* ``meta.json`` written once at open;
* ``000001.npz``, ``000002.npz``, ... one chunk per ``flush_s`` (1 s), each
  written to a temp file, fsync'd, renamed, and the directory fsync'd, so a chunk
  is either fully on disk or absent.

A SIGKILL or power loss therefore loses at most the last second. A clean
:meth:`Telemetry.close` merges the chunks into ``run.npz`` (atomically replacing the
previous run's log) and removes the parts. A run that recorded no cycle (it failed
before the control loop) leaves a previous ``run.npz`` untouched (with none, its
events are kept as the log); the parts of an
earlier run that did not end cleanly are kept, renamed ``run.crashed-<time>.npz.parts``.
:func:`load_log` reads either form (the parts first: they are the newer run), so
``duck log plot run.npz`` works after a crash too; a torn chunk is skipped and named.
The disk work happens on a writer thread so an SD card's fsync
latency never lands inside a control cycle.
"""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PARTS_SUFFIX = ".parts"
META_FILE = "meta.json"
# What a torn or foreign chunk raises from np.load / json.
CHUNK_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def parts_dir(path: Path) -> Path:
    return path.with_name(path.name + PARTS_SUFFIX)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class Telemetry:
    """Buffers per-cycle rows and events; a writer thread persists one chunk per second."""

    def __init__(self, path: str | Path, meta: dict[str, Any], flush_s: float = 1.0) -> None:
        self.path = Path(path)
        self.parts = parts_dir(self.path)
        self.flush_s = flush_s
        if self.parts.exists():  # a previous run at this path did not end cleanly: keep its post-mortem
            kept = self.path.with_name(f"{self.path.stem}.crashed-{time.strftime('%Y%m%d-%H%M%S')}{self.path.suffix}")
            os.replace(self.parts, parts_dir(kept))
            print(f"telemetry: the unfinished log of an earlier run at {self.path} is kept as {kept}",
                  file=sys.stderr)
        self.parts.mkdir(parents=True)
        # The previous run's log stays until this run's log replaces it at close.
        self.cycles = 0
        _atomic_write(self.parts / META_FILE, json.dumps(meta, default=str).encode())
        self._rows: dict[str, list[Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._chunk = 0
        self._last_flush = time.monotonic()
        self._queue: queue.Queue[tuple[int, dict[str, np.ndarray]] | None] = queue.Queue()
        self._error: str | None = None
        self._writer = threading.Thread(target=self._write_loop, name="telemetry", daemon=True)
        self._writer.start()
        self.closed = False

    def record(self, **row: Any) -> None:
        """Append one cycle; values are scalars or fixed-size arrays (same keys every call)."""
        self.cycles += 1
        for key, value in row.items():
            self._rows.setdefault(key, []).append(value)
        if time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def event(self, t: float, cycle: int, kind: str, detail: str = "") -> None:
        self._events.append({"t": round(float(t), 6), "cycle": int(cycle), "kind": kind, "detail": detail})

    def flush(self) -> None:
        """Hand the buffered rows and events to the writer thread (non-blocking)."""
        self._last_flush = time.monotonic()
        if not self._rows and not self._events:
            return
        arrays = {k: np.asarray(v) for k, v in self._rows.items()}
        arrays["events_json"] = np.array(json.dumps(self._events))
        self._rows, self._events = {}, []
        self._chunk += 1
        self._queue.put((self._chunk, arrays))

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            index, arrays = item
            try:
                _atomic_write(self.parts / f"{index:06d}.npz", _npz_bytes(arrays))
            except OSError as exc:  # disk full, SD card gone: keep the robot running
                self._error = f"telemetry write failed: {exc}"

    @property
    def error(self) -> str | None:
        return self._error

    def close(self, merge: bool = True) -> Path:
        """Flush, wait for the writer, and merge the chunks into ``path`` (.npz)."""
        if self.closed:
            return self.path
        self.closed = True
        self.flush()
        self._queue.put(None)
        self._writer.join(timeout=30.0)
        if merge and self.cycles == 0 and self.path.exists():
            # Nothing ran (the bus or a check failed first): the previous log is the one worth keeping.
            shutil.rmtree(self.parts, ignore_errors=True)
        elif merge:
            log = load_log(self.path)
            _atomic_write(self.path, _npz_bytes(log.to_arrays()))
            shutil.rmtree(self.parts, ignore_errors=True)
        return self.path


@dataclass
class RunLog:
    """A loaded run: per-cycle arrays, events, metadata; ``complete`` is False after a crash."""

    cycles: dict[str, np.ndarray]
    events: list[dict[str, Any]]
    meta: dict[str, Any]
    complete: bool
    skipped: list[str] = field(default_factory=list)  # torn chunks left out (name: why)

    def __len__(self) -> int:
        return len(next(iter(self.cycles.values()))) if self.cycles else 0

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = dict(self.cycles)
        arrays["events_json"] = np.array(json.dumps(self.events))
        arrays["meta_json"] = np.array(json.dumps(self.meta, default=str))
        return arrays

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]


def load_log(path: str | Path) -> RunLog:
    """Read ``run.npz`` or, when the last run did not end cleanly, its ``.parts`` chunks.

    A torn chunk (a copy cut short, a bad SD-card block) is skipped and named in
    ``RunLog.skipped``; the rest of the post-mortem stays readable. A torn merged
    ``run.npz`` raises ``ValueError``.
    """
    path = Path(path)
    parts = parts_dir(path)
    if path.is_file() and not parts.is_dir():
        try:
            with np.load(path) as data:
                cycles = {k: data[k] for k in data.files if k not in ("events_json", "meta_json")}
                events = json.loads(str(data["events_json"])) if "events_json" in data.files else []
                meta = json.loads(str(data["meta_json"])) if "meta_json" in data.files else {}
        except CHUNK_ERRORS as exc:
            raise ValueError(f"{path} is damaged: {type(exc).__name__}: {exc}") from None
        return RunLog(cycles, events, meta, True)
    if not parts.is_dir():
        raise FileNotFoundError(f"no telemetry log at {path} (nor {parts})")
    skipped: list[str] = []
    meta_file = parts / META_FILE
    meta: dict[str, Any] = {}
    try:
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    except (OSError, ValueError) as exc:
        skipped.append(f"{META_FILE}: {exc}")
    chunks: dict[str, list[np.ndarray]] = {}
    events: list[dict[str, Any]] = []
    for chunk in sorted(parts.glob("[0-9]*.npz")):
        try:
            with np.load(chunk) as data:
                loaded = {k: data[k] for k in data.files}
            chunk_events = json.loads(str(loaded.pop("events_json", np.array("[]"))))
            if loaded and chunks and set(loaded) != set(chunks):  # (the last chunk may hold events only)
                raise ValueError(f"columns {sorted(set(loaded) ^ set(chunks))} differ from the other chunks")
        except CHUNK_ERRORS as exc:
            skipped.append(f"{chunk.name}: {type(exc).__name__}: {exc}")
            continue  # never fail a post-mortem on one bad chunk
        events.extend(chunk_events)
        for key, value in loaded.items():
            chunks.setdefault(key, []).append(value)
    cycles = {}
    for key, values in chunks.items():
        try:
            cycles[key] = np.concatenate(values)
        except ValueError as exc:
            skipped.append(f"column {key}: {exc}")
    return RunLog(cycles, events, meta, False, skipped)
