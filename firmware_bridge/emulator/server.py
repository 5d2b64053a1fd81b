"""The software Dynamixel servo: several emulated X330s behind one pseudo-terminal.

The real SDK (or anything else) opens :attr:`SoftwareServo.path` exactly like
``/dev/ttyUSB0``. The pty, the serving thread, faults and wire timing are shared
with the Feetech servo (:mod:`.pty_server`); this module is the Protocol 2.0
part: which instruction gets which status packets.
"""

from __future__ import annotations

from collections.abc import Sequence

from firmware_bridge.control_table import BAUD_TO_CODE, Reg
from firmware_bridge.emulator.backend import IdealBackend, ServoBackend
from firmware_bridge.emulator.faults import FaultKind
from firmware_bridge.emulator.firmware import EmulatedServo
from firmware_bridge.emulator.pty_server import PtyServoServer
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


class SoftwareServo(PtyServoServer):
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
        backend = backend or IdealBackend()
        super().__init__([EmulatedServo(s.servo_id, s.model, BAUD_TO_CODE[baud], return_delay, backend)
                          for s in servos], backend, check_baud)

    def _split(self, buf: bytearray) -> list[bytes]:
        return split_stream(buf)[0]

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
        by_id = {s.servo_id: s for s in listeners}
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


def _u16(p: bytes, k: int) -> int:
    return p[k] | (p[k + 1] << 8)


__all__ = ["SoftwareServo", "Reg"]
