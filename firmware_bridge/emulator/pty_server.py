"""What every software servo bus shares, whatever its protocol: the pty, the
serving thread, fault bookkeeping and wire timing.

A family (:mod:`.server` for Dynamixel, :mod:`.feetech_server` for Feetech)
subclasses :class:`PtyServoServer` with its own emulated servos, its packet
splitter and its instruction handler. Status packets go out at the time a real
bus would deliver them: after the instruction's wire time, each servo's Return
Delay Time, and the reply's own wire time (bytes x 10 / baud). Servos only hear
the host when the pty's baud (set by the client through termios) matches their
baud register, so a scan at the wrong baud finds nothing, as on hardware.
"""

from __future__ import annotations

import os
import random
import select
import signal
import termios
import threading
import time
import tty
from collections.abc import Sequence

from firmware_bridge.emulator.backend import IdealBackend, ServoBackend
from firmware_bridge.emulator.faults import Fault, FaultKind
from firmware_bridge.emulator.power import PowerModel, supply_model

#: Every baud either family can use, as termios speed constant -> bits per second.
_ALL_BAUDS = (9_600, 19_200, 38_400, 57_600, 76_800, 115_200, 128_000, 250_000, 500_000,
              1_000_000, 2_000_000, 3_000_000, 4_000_000)
_SPEEDS = {getattr(termios, f"B{b}"): b for b in _ALL_BAUDS if hasattr(termios, f"B{b}")}


class PtyServoServer:
    """Serve emulated servos on a new pty; subclasses supply ``servos``, :meth:`_split` and
    :meth:`_handle`. Each servo object has ``servo_id``, ``boot_id``, ``baud``,
    ``return_delay_s``, ``stuck``, ``refresh()`` and ``set_hardware_error(bits)``."""

    def __init__(self, servos: Sequence, backend: ServoBackend | None, check_baud: bool,
                 power: PowerModel | None = None) -> None:
        self.backend = backend or IdealBackend()
        self.power = power or supply_model(self.backend)
        self.servos = list(servos)
        # The supply sags with the current every energised servo draws: as of each servo's last
        # refresh (the control loop's Sync Read refreshes all every cycle), so a supply read does
        # not take the physics lock once per servo.
        self.power.currents = lambda: [getattr(s, "last_current_a", 0.0) for s in self.servos]
        self.check_baud = check_baud
        self.faults: list[Fault] = []
        self.path: str | None = None
        self.stats = {"instructions": 0, "replies": 0, "crc_errors": 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random(0)
        self._wire_free = 0.0  # perf_counter time at which the last byte leaves the wire

    # ---- what a family provides ---------------------------------------------------------
    def _split(self, buf: bytearray) -> list[bytes]:
        raise NotImplementedError

    def _handle(self, raw: bytes, t_rx: float) -> None:
        raise NotImplementedError

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> str:
        self._master, self._slave = os.openpty()
        # Raw mode on our side of the line discipline: no echo, no CR/LF mangling,
        # before any client opens it (pyserial sets raw too, but only on open).
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.backend.start([s.servo_id for s in self.servos])
        self._thread = threading.Thread(target=self._serve, name="software-servo", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self.backend.stop()
        for fd in (getattr(self, "_master", None), getattr(self, "_slave", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None

    def serve_until_signal(self, faults: Sequence[Fault] = (), on_start=None) -> None:
        """Start, print the pty path as the first stdout line, inject ``faults`` and serve
        until SIGINT/SIGTERM (the CLI entry points). ``on_start(path)`` runs after the print."""
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        path = self.start()
        print(path, flush=True)
        for fault in faults:
            self.inject(fault)
        if on_start is not None:
            on_start(path)
        try:
            done.wait()
        finally:
            self.stop()

    def __enter__(self) -> PtyServoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- faults and inspection ----------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)
            if fault.kind is FaultKind.HWERROR:
                for s in self.servos:
                    if fault.hits(s.boot_id):
                        s.set_hardware_error(fault.bits)
            if fault.kind is FaultKind.SAG:
                self.power.sag(fault.value)
            if fault.kind is FaultKind.HEAT:
                for s in self.servos:
                    if fault.hits(s.boot_id):
                        self.power.heat(s.boot_id, fault.value)
            if fault.kind is FaultKind.STUCK:
                for s in self.servos:
                    if fault.hits(s.boot_id):
                        s.refresh()
                        s.stuck = True

    def clear_faults(self) -> None:
        """Remove faults. What a hardware error leaves behind is the firmware's business
        (a Dynamixel latches it until REBOOT; a Feetech clears its Status bits)."""
        with self._lock:
            self.faults.clear()
            self.power.cool()
            for s in self.servos:
                s.stuck = False
                s.faults_cleared()

    def servo(self, servo_id: int):
        for s in self.servos:
            if s.servo_id == servo_id:
                return s
        raise KeyError(servo_id)

    def _fault(self, kind: FaultKind, servo) -> bool:
        for f in self.faults:
            if f.kind is kind and f.hits(servo.boot_id):
                return f.probability >= 1.0 or self._rng.random() < f.probability
        return False

    # ---- serving ----------------------------------------------------------------------
    def _serve(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                time.sleep(0.01)  # no client has the pty open right now
                continue
            t_rx = time.perf_counter()
            buf += chunk
            packets = self._split(buf)
            for raw in packets:
                with self._lock:
                    self._handle(raw, t_rx)

    def _host_baud(self) -> int | None:
        try:
            return _SPEEDS.get(termios.tcgetattr(self._slave)[4])
        except termios.error:
            return None

    def _listeners(self) -> list:
        """Servos that hear the host: present, and at the host's baud."""
        host = self._host_baud() if self.check_baud else None
        return [s for s in self.servos
                if not self._fault(FaultKind.MISSING, s) and (host is None or s.baud == host)]

    def _maybe_corrupt(self, s, packet: bytes) -> bytes:
        """The packet with its last byte (CRC/checksum) flipped when a CRC fault hits ``s``."""
        if self._fault(FaultKind.CRC, s):
            return packet[:-1] + bytes([packet[-1] ^ 0xFF])
        return packet

    def _send(self, s, t: float, packet: bytes, baud: int | None = None) -> float:
        packet = self._maybe_corrupt(s, packet)
        end = t + s.return_delay_s + len(packet) * 10.0 / (baud or s.baud) + self._late_s(s)
        self._write_at(end, packet)
        return end

    def _late_s(self, s) -> float:
        """A LATE fault delays ``s``'s next reply once, then is spent."""
        for f in self.faults:
            if f.kind is FaultKind.LATE and f.hits(s.boot_id):
                self.faults.remove(f)
                return f.value / 1000.0
        return 0.0

    def _write_at(self, deadline: float, packet: bytes) -> None:
        # Sleep most of the way, then spin the last 0.3 ms: time.sleep overshoots by
        # ~0.1 ms, and a longer spin would hold the CPU that the process's other threads
        # (physics, IMU publisher) share with this one when the sim pins it to one core.
        remaining = deadline - time.perf_counter()
        if remaining > 0.0005:
            time.sleep(remaining - 0.0003)
        while time.perf_counter() < deadline:
            pass
        self.stats["replies"] += 1
        self._wire_free = max(self._wire_free, deadline)
        try:
            os.write(self._master, packet)
        except OSError:
            pass
