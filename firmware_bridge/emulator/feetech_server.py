"""The software Feetech bus: emulated STS3215s behind one pseudo-terminal.

Same pty, thread, faults and wire timing as the Dynamixel one (:mod:`.pty_server`),
with the Feetech instruction set (:mod:`firmware_bridge.feetech.protocol`):

- PING, READ answer whatever the Status Return Level; WRITE, REG WRITE and ACTION
  answer only at level 1. Nothing addressed to the broadcast ID answers, except
  PING (every servo answers, in ID order; a real bus would collide).
- SYNC READ: each listed servo answers with its own status packet, in list order,
  each after the previous one is on the wire. SYNC WRITE never answers.
- A packet with a bad checksum, an unknown instruction or an unknown ID gets no
  answer at all (the SDK sees a timeout): there is no error number to send.
"""

from __future__ import annotations

from collections.abc import Sequence

from firmware_bridge.emulator.backend import IdealBackend, ServoBackend
from firmware_bridge.emulator.faults import FaultKind
from firmware_bridge.emulator.feetech_firmware import EmulatedSTS
from firmware_bridge.emulator.pty_server import PtyServoServer
from firmware_bridge.feetech.control_table import BAUD_TO_CODE
from firmware_bridge.feetech.protocol import BROADCAST_ID, Instruction, PacketError, parse, split_stream, status


class FeetechSoftwareServo(PtyServoServer):
    """Serve Feetech ``servos`` (objects with ``servo_id`` and ``model``) on a new pty."""

    def __init__(self, servos: Sequence, backend: ServoBackend | None = None, baud: int = 1_000_000,
                 return_delay: int = 0, check_baud: bool = True) -> None:
        backend = backend or IdealBackend()
        super().__init__([EmulatedSTS(s.servo_id, s.model, BAUD_TO_CODE[baud], return_delay, backend)
                          for s in servos], backend, check_baud)

    def _split(self, buf: bytearray) -> list[bytes]:
        return split_stream(buf)[0]

    def power_cycle(self) -> None:
        with self._lock:
            for s in self.servos:
                s.power_cycle()

    def _handle(self, raw: bytes, t_rx: float) -> None:
        self.stats["instructions"] += 1
        listeners = self._listeners()
        if not listeners:
            return
        t = max(t_rx, self._wire_free) + len(raw) * 10.0 / listeners[0].baud
        self._wire_free = t
        try:
            pkt = parse(raw)
        except PacketError:
            self.stats["crc_errors"] += 1
            return  # the firmware drops it silently
        inst, p, target = pkt.code, pkt.params, pkt.servo_id
        addressed = [s for s in listeners if target in (BROADCAST_ID, s.servo_id)]
        unicast = target != BROADCAST_ID
        if inst == Instruction.PING:
            for s in sorted(addressed, key=lambda s: s.servo_id):
                t = self._reply(s, t, b"")
        elif inst == Instruction.READ and len(p) == 2:
            for s in addressed:
                data = s.read(p[0], p[1])
                if unicast:
                    self._reply(s, t, data)
        elif inst in (Instruction.WRITE, Instruction.REG_WRITE) and len(p) >= 2:
            for s in addressed:
                old_id, old_baud, level = s.servo_id, s.baud, s.status_return_level
                if inst == Instruction.WRITE:
                    s.write(p[0], p[1:])
                else:
                    s.reg_write(p[0], p[1:])
                if unicast and level >= 1:  # answered with the settings it had when it arrived
                    self._reply(s, t, b"", reply_id=old_id, baud=old_baud)
        elif inst == Instruction.ACTION and not p:
            for s in addressed:
                s.action()
                if unicast and s.status_return_level >= 1:
                    self._reply(s, t, b"")
        elif inst == Instruction.SYNC_READ and len(p) >= 3 and not unicast:
            # Each listed servo answers in turn, each after the previous reply is on the
            # wire. The replies go to the pty in one write, when the last one ends: the
            # SDK waits for the whole stream anyway, and one wake-up instead of 14 keeps
            # the shared test machine's scheduler out of the measured cycle.
            by_id = {s.servo_id: s for s in listeners}
            stream = bytearray()
            for servo_id in p[2:]:
                s = by_id.get(servo_id)
                if s is None:
                    continue
                data = s.read(p[0], p[1])
                if self._fault(FaultKind.DROP, s):
                    continue
                packet = self._maybe_corrupt(s, status(s.servo_id, s.error_byte, data))
                t += s.return_delay_s + len(packet) * 10.0 / s.baud
                stream += packet
            if stream:
                self._write_at(t, bytes(stream))
        elif inst == Instruction.SYNC_WRITE and len(p) >= 2 and not unicast:
            address, length = p[0], p[1]
            by_id = {s.servo_id: s for s in listeners}
            for k in range(2, len(p) - length, length + 1):
                if p[k] in by_id:
                    by_id[p[k]].write(address, p[k + 1:k + 1 + length])

    def _reply(self, s: EmulatedSTS, t: float, data: bytes, reply_id: int | None = None,
               baud: int | None = None) -> float:
        if self._fault(FaultKind.DROP, s):
            return t
        packet = status(s.servo_id if reply_id is None else reply_id, s.error_byte, data)
        return self._send(s, t, packet, baud)
