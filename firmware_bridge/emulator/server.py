"""The software servo: several emulated X330s behind one pseudo-terminal.

The real SDK (or anything else) opens :attr:`SoftwareServo.path` exactly like
``/dev/ttyUSB0``. A thread reads instruction packets from the pty master,
lets each addressed :class:`~.firmware.EmulatedServo` react, and writes the
status packets back at the time a real bus would deliver them: after the
instruction's wire time, each servo's Return Delay Time, and the reply's own
wire time (bytes x 10 / baud). Servos only hear the host when the pty's baud
(set by the client through termios) matches their Baud Rate register, so
``scan`` at the wrong baud finds nothing, as on hardware.
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

from firmware_bridge.control_table import BAUD_TO_CODE, Reg
from firmware_bridge.emulator.backend import IdealBackend, ServoBackend
from firmware_bridge.emulator.faults import Fault, FaultKind
from firmware_bridge.emulator.firmware import EmulatedServo
from firmware_bridge.emulator.power import DEFAULT_SUPPLY_V, PowerModel
from firmware_bridge.protocol import (
    BROADCAST_ID,
    ErrorNumber,
    Instruction,
    PacketError,
    build_status,
    fast_read_status,
    parse_packet,
    split_stream,
)

# termios speed constant -> bits per second, for the bauds a Dynamixel can use.
_SPEEDS = {getattr(termios, f"B{b}"): b for b in BAUD_TO_CODE if hasattr(termios, f"B{b}")}


class SoftwareServo:
    """Serve ``servos`` (objects with ``servo_id`` and ``model``) on a new pty.

    ``SoftwareServo(servos, IdealBackend(), baud=1_000_000).start()`` returns
    the pty path; :meth:`stop` ends it. Also a context manager.
    """

    def __init__(
        self,
        servos: Sequence,
        backend: ServoBackend | None = None,
        baud: int = 1_000_000,
        return_delay: int = 0,
        check_baud: bool = True,
    ) -> None:
        self.backend = backend or IdealBackend()
        # A backend that models the supply (the servo-model MuJoCo backend) sets the open-circuit
        # voltage, and a sag fault reaches its motor law too.
        self.power = PowerModel(supply_v=getattr(self.backend, "supply_v", DEFAULT_SUPPLY_V))
        if hasattr(self.backend, "supply_v"):
            self.power.on_sag = lambda volts: setattr(self.backend, "supply_v", volts)
        self.servos = [EmulatedServo(s.servo_id, s.model, BAUD_TO_CODE[baud], return_delay, self.backend, self.power)
                       for s in servos]
        # The supply sags with the current every energised servo draws: as of each servo's last
        # refresh (the control loop's Sync Read refreshes all every cycle), so a supply read does
        # not take the physics lock once per servo.
        self.power.currents = lambda: [s.last_current_a for s in self.servos]
        self.check_baud = check_baud
        self.faults: list[Fault] = []
        self.path: str | None = None
        self.stats = {"instructions": 0, "replies": 0, "crc_errors": 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random(0)
        self._wire_free = 0.0  # perf_counter time at which the last byte leaves the wire

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

    def __enter__(self) -> SoftwareServo:
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
        """Remove faults. Latched hardware errors stay until a REBOOT, as on hardware."""
        with self._lock:
            self.faults.clear()
            self.power.cool()
            for s in self.servos:
                s.stuck = False

    def servo(self, servo_id: int) -> EmulatedServo:
        for s in self.servos:
            if s.servo_id == servo_id:
                return s
        raise KeyError(servo_id)

    def _fault(self, kind: FaultKind, servo: EmulatedServo) -> bool:
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
            packets, _ = split_stream(buf)
            for raw in packets:
                with self._lock:
                    self._handle(raw, t_rx)

    def _host_baud(self) -> int | None:
        try:
            return _SPEEDS.get(termios.tcgetattr(self._slave)[4])
        except termios.error:
            return None

    def _listeners(self) -> list[EmulatedServo]:
        """Servos that hear the host: present, and at the host's baud."""
        host = self._host_baud() if self.check_baud else None
        return [s for s in self.servos
                if not self._fault(FaultKind.MISSING, s) and (host is None or s.baud == host)]

    def _handle(self, raw: bytes, t_rx: float) -> None:
        self.stats["instructions"] += 1
        listeners = self._listeners()
        if not listeners:
            return
        baud = listeners[0].baud
        # Half duplex: the instruction starts when the wire is free (after an earlier
        # Sync Write, say) and must itself be on the wire before anyone answers.
        t = max(t_rx, self._wire_free) + len(raw) * 10.0 / baud
        self._wire_free = t
        try:
            pkt = parse_packet(raw)
        except PacketError:
            # A servo that recognises its ID answers a bad CRC with a CRC error.
            self.stats["crc_errors"] += 1
            for s in listeners:
                if len(raw) > 4 and raw[4] == s.servo_id and s.status_return_level >= 2:
                    self._send(s, t, build_status(s.servo_id, ErrorNumber.CRC | s.error_byte))
            return
        inst, p, target = pkt.instruction, pkt.params, pkt.servo_id
        addressed = [s for s in listeners if target in (BROADCAST_ID, s.servo_id)]
        if inst == Instruction.PING:
            for s in addressed:  # broadcast ping: every servo answers, in id order
                t = self._reply(s, t, bytes([s.table[0], s.table[1], s.table[6]]), always=True)
        elif inst == Instruction.READ and len(p) == 4:
            address, length = _u16(p, 0), _u16(p, 2)
            for s in addressed:
                err, data = s.read(address, length)
                if target != BROADCAST_ID and s.status_return_level >= 1:
                    self._reply(s, t, data, err)
        elif inst in (Instruction.WRITE, Instruction.REG_WRITE) and len(p) >= 3:
            address, data = _u16(p, 0), p[2:]
            for s in addressed:
                # The reply follows the settings the servo had when the instruction arrived.
                old_id, old_baud, level = s.servo_id, s.baud, s.status_return_level
                err = s.write(address, data) if inst == Instruction.WRITE else s.reg_write(address, data)
                if target != BROADCAST_ID and level >= 2:
                    self._reply(s, t, b"", err, reply_id=old_id, baud=old_baud)
        elif inst == Instruction.ACTION:
            for s in addressed:
                err = s.action()
                if target != BROADCAST_ID and s.status_return_level >= 2:
                    self._reply(s, t, b"", err)
        elif inst == Instruction.FACTORY_RESET and len(p) == 1:
            if target == BROADCAST_ID and p[0] == 0xFF:
                return  # e-manual: broadcast reset-all is ignored (firmware 42+)
            for s in addressed:
                old_id, old_baud = s.servo_id, s.baud
                err = s.factory_reset(p[0])
                if target != BROADCAST_ID and s.status_return_level >= 2:
                    self._reply(s, t, b"", err, reply_id=old_id, baud=old_baud)
        elif inst == Instruction.CLEAR:
            for s in addressed:
                err = s.clear(p)
                if target != BROADCAST_ID and s.status_return_level >= 2:
                    self._reply(s, t, b"", err)
        elif inst == Instruction.REBOOT:
            for s in addressed:
                if target != BROADCAST_ID and s.status_return_level >= 2:
                    self._reply(s, t, b"")
                s.reboot()
        elif inst in (Instruction.SYNC_READ, Instruction.FAST_SYNC_READ) and len(p) >= 5:
            address, length = _u16(p, 0), _u16(p, 2)
            self._multi_read([(i, address, length) for i in p[4:]], listeners, t,
                             fast=inst == Instruction.FAST_SYNC_READ)
        elif inst in (Instruction.BULK_READ, Instruction.FAST_BULK_READ) and len(p) % 5 == 0 and p:
            items = [(p[k], _u16(p, k + 1), _u16(p, k + 3)) for k in range(0, len(p), 5)]
            self._multi_read(items, listeners, t, fast=inst == Instruction.FAST_BULK_READ)
        elif inst == Instruction.SYNC_WRITE and len(p) >= 4:
            address, length = _u16(p, 0), _u16(p, 2)
            by_id = {s.servo_id: s for s in listeners}
            for k in range(4, len(p) - length + 1, length + 1):
                if p[k] in by_id:
                    by_id[p[k]].write(address, p[k + 1:k + 1 + length])
        elif inst == Instruction.BULK_WRITE:
            by_id = {s.servo_id: s for s in listeners}
            k = 0
            while k + 5 <= len(p):
                sid, address, length = p[k], _u16(p, k + 1), _u16(p, k + 3)
                if sid in by_id:
                    by_id[sid].write(address, p[k + 5:k + 5 + length])
                k += 5 + length
        elif target != BROADCAST_ID:
            for s in addressed:
                self._reply(s, t, b"", ErrorNumber.INSTRUCTION)

    def _multi_read(self, items, listeners, t: float, fast: bool) -> None:
        # Sync/Bulk Read are read instructions: a servo at Status Return Level 0 (ping only)
        # reads nothing back (e-manual, Status Return Level(68)); in a Fast read it breaks the chain.
        by_id = {s.servo_id: s for s in listeners if s.status_return_level >= 1}
        if fast:
            parts = []
            delay = None
            for servo_id, address, length in items:
                s = by_id.get(servo_id)
                if s is None or self._fault(FaultKind.DROP, s):
                    break  # the chain stops: later servos wait for this one forever
                err, data = s.read(address, length)
                parts.append((err | s.error_byte, servo_id, data))
                delay = s.return_delay_s if delay is None else delay
            if not parts:
                return
            packet = bytearray(fast_read_status(parts))
            if len(parts) < len(items):
                packet = packet[:-1]  # truncated: the next servo never added its block
            elif any(self._fault(FaultKind.CRC, by_id[i]) for i, _, _ in items):
                packet[-1] ^= 0xFF
            self._write_at(t + delay + len(packet) * 10.0 / by_id[items[0][0]].baud, bytes(packet))
            return
        for servo_id, address, length in items:
            s = by_id.get(servo_id)
            if s is None:
                continue
            err, data = s.read(address, length)
            t = self._reply(s, t, data, err)

    def _reply(self, s: EmulatedServo, t: float, data: bytes, err: int = 0, always: bool = False,
               reply_id: int | None = None, baud: int | None = None) -> float:
        """Send one status packet after ``t``; returns when it ends on the wire."""
        if self._fault(FaultKind.DROP, s):
            return t
        packet = build_status(s.servo_id if reply_id is None else reply_id, err | s.error_byte, data)
        return self._send(s, t, packet, baud)

    def _send(self, s: EmulatedServo, t: float, packet: bytes, baud: int | None = None) -> float:
        if self._fault(FaultKind.CRC, s):
            packet = packet[:-1] + bytes([packet[-1] ^ 0xFF])
        end = t + s.return_delay_s + len(packet) * 10.0 / (baud or s.baud)
        self._write_at(end, packet)
        return end

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


def _u16(p: bytes, k: int) -> int:
    return p[k] | (p[k + 1] << 8)


__all__ = ["SoftwareServo", "Reg"]
