"""Dynamixel Protocol 2.0 framing: CRC-16, byte stuffing, packet build and parse.

The bus itself goes through the real ``dynamixel_sdk``; this module is the
independent implementation used by the software servo (emulator) and by the
tests that pin packets to the e-manual's worked examples byte for byte.

Packet layout (e-manual, Protocol 2.0)::

    FF FF FD 00 | ID | LEN_L LEN_H | INST | PARAM... | CRC_L CRC_H

LEN counts INST + PARAM + CRC. Status packets use INST 0x55 with the error
byte as their first parameter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HEADER = b"\xff\xff\xfd\x00"
BROADCAST_ID = 0xFE
MAX_ID = 0xFC
ALERT_BIT = 0x80


class Instruction(enum.IntEnum):
    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REG_WRITE = 0x04
    ACTION = 0x05
    FACTORY_RESET = 0x06
    REBOOT = 0x08
    CLEAR = 0x10
    STATUS = 0x55
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83
    FAST_SYNC_READ = 0x8A
    BULK_READ = 0x92
    BULK_WRITE = 0x93
    FAST_BULK_READ = 0x9A


class ErrorNumber(enum.IntEnum):
    """Status packet error field, bits 0-6 (bit 7 is the hardware alert)."""

    NONE = 0
    RESULT_FAIL = 1
    INSTRUCTION = 2
    CRC = 3
    DATA_RANGE = 4
    DATA_LENGTH = 5
    DATA_LIMIT = 6
    ACCESS = 7


def error_name(error: int) -> str:
    number = error & ~ALERT_BIT
    try:
        return ErrorNumber(number).name.lower()
    except ValueError:
        return f"unknown_error_{number}"


def _crc_table() -> list[int]:
    # CRC-16 with polynomial x^16 + x^15 + x^2 + 1 (0x8005), MSB first, init 0:
    # the algorithm the e-manual's CRC page specifies. Built here, not copied.
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes | bytearray | Sequence[int], crc: int = 0) -> int:
    for byte in data:
        crc = ((crc << 8) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def stuff(body: bytes) -> bytes:
    """Insert 0xFD after every FF FF FD in INST+PARAMS (so it cannot look like a header)."""
    out = bytearray()
    for b in body:
        out.append(b)
        if b == 0xFD and len(out) >= 3 and out[-3] == 0xFF and out[-2] == 0xFF:
            # Only count FF FF that are data, not the previous stuffed FD.
            out.append(0xFD)
    return bytes(out)


def unstuff(body: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        out.append(body[i])
        if body[i] == 0xFD and i + 1 < len(body) and body[i + 1] == 0xFD and len(out) >= 3 \
                and out[-3] == 0xFF and out[-2] == 0xFF:
            i += 1  # drop the stuffed FD
        i += 1
    return bytes(out)


def build_packet(servo_id: int, instruction: int, params: bytes | Iterable[int] = b"") -> bytes:
    """Instruction (or status) packet with stuffing, length and CRC."""
    body = stuff(bytes([instruction]) + bytes(params))
    length = len(body) + 2
    head = HEADER + bytes([servo_id, length & 0xFF, length >> 8])
    packet = head + body
    crc = crc16(packet)
    return packet + bytes([crc & 0xFF, crc >> 8])


def build_status(servo_id: int, error: int, params: bytes | Iterable[int] = b"") -> bytes:
    return build_packet(servo_id, Instruction.STATUS, bytes([error]) + bytes(params))


def le(value: int, size: int) -> bytes:
    return int(value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


# ---- instruction builders (host side) ---------------------------------------------------
def ping(servo_id: int) -> bytes:
    return build_packet(servo_id, Instruction.PING)


def read(servo_id: int, address: int, length: int) -> bytes:
    return build_packet(servo_id, Instruction.READ, le(address, 2) + le(length, 2))


def write(servo_id: int, address: int, data: bytes) -> bytes:
    return build_packet(servo_id, Instruction.WRITE, le(address, 2) + bytes(data))


def sync_read(address: int, length: int, ids: Sequence[int], fast: bool = False) -> bytes:
    inst = Instruction.FAST_SYNC_READ if fast else Instruction.SYNC_READ
    return build_packet(BROADCAST_ID, inst, le(address, 2) + le(length, 2) + bytes(ids))


def sync_write(address: int, length: int, data: Sequence[tuple[int, bytes]]) -> bytes:
    params = le(address, 2) + le(length, 2) + b"".join(bytes([i]) + bytes(d) for i, d in data)
    return build_packet(BROADCAST_ID, Instruction.SYNC_WRITE, params)


def bulk_read(items: Sequence[tuple[int, int, int]], fast: bool = False) -> bytes:
    """items: (id, address, length)."""
    inst = Instruction.FAST_BULK_READ if fast else Instruction.BULK_READ
    return build_packet(BROADCAST_ID, inst, b"".join(bytes([i]) + le(a, 2) + le(n, 2) for i, a, n in items))


def bulk_write(items: Sequence[tuple[int, int, bytes]]) -> bytes:
    params = b"".join(bytes([i]) + le(a, 2) + le(len(d), 2) + bytes(d) for i, a, d in items)
    return build_packet(BROADCAST_ID, Instruction.BULK_WRITE, params)


def fast_read_status(parts: Sequence[tuple[int, int, bytes]]) -> bytes:
    """The single status packet of a Fast Sync/Bulk Read: parts are (error, id, data).

    Each servo appends ``error, id, data, crc`` where its CRC covers the packet
    from the header up to its own data; the last servo's CRC therefore is the
    packet CRC. Fast status packets are not byte-stuffed (e-manual).
    """
    length = 1 + sum(4 + len(d) for _, _, d in parts)  # INST + (error, id, data, crc) blocks
    packet = bytearray(HEADER + bytes([BROADCAST_ID, length & 0xFF, length >> 8, Instruction.STATUS]))
    for error, servo_id, data in parts:
        packet += bytes([error, servo_id]) + bytes(data)
        crc = crc16(packet)
        packet += bytes([crc & 0xFF, crc >> 8])
    return bytes(packet)


# ---- parsing ---------------------------------------------------------------------------
class PacketError(ValueError):
    """A byte string that is not a valid packet (bad CRC, bad length, no header)."""


@dataclass(frozen=True)
class Packet:
    servo_id: int
    instruction: int
    params: bytes  # unstuffed; for status packets params[0] is the error byte

    @property
    def error(self) -> int:
        return self.params[0]

    @property
    def data(self) -> bytes:
        return self.params[1:]


def parse_packet(raw: bytes, stuffed: bool = True) -> Packet:
    """Parse exactly one packet; raise :class:`PacketError` if it is not valid."""
    raw = bytes(raw)
    if len(raw) < 10 or raw[:4] != HEADER:
        raise PacketError("no Protocol 2.0 header")
    length = raw[5] | (raw[6] << 8)
    if len(raw) != 7 + length:
        raise PacketError(f"length field says {7 + length} bytes, got {len(raw)}")
    crc = raw[-2] | (raw[-1] << 8)
    if crc16(raw[:-2]) != crc:
        raise PacketError("CRC mismatch")
    body = raw[7:-2]
    if stuffed:
        body = unstuff(body)
    return Packet(raw[4], body[0], body[1:])


def split_stream(buf: bytearray) -> tuple[list[bytes], bool]:
    """Pop complete packets off the front of ``buf`` (in place).

    Returns (packets, garbage_dropped). Bytes before a header are dropped; a
    stuffed ``FF FF FD FD`` is not a header. Packets are returned raw (CRC not
    checked) so the caller can answer a CRC error.
    """
    packets = []
    dropped = False
    while True:
        start = _find_header(buf)
        if start < 0:
            keep = 3 if len(buf) >= 3 else len(buf)  # a header may straddle reads
            if len(buf) > keep:
                del buf[: len(buf) - keep]
                dropped = True
            return packets, dropped
        if start:
            del buf[:start]
            dropped = True
        if len(buf) < 7:
            return packets, dropped
        length = buf[5] | (buf[6] << 8)
        if length < 3 or length > 1024:
            del buf[:3]
            dropped = True
            continue
        if len(buf) < 7 + length:
            return packets, dropped
        packets.append(bytes(buf[: 7 + length]))
        del buf[: 7 + length]


def _find_header(buf: bytearray) -> int:
    i = buf.find(HEADER)
    while i >= 0:
        return i
    return -1


def packet_bytes_on_wire(n: int, baud: int) -> float:
    """Seconds to send ``n`` bytes (8N1: 10 bits per byte)."""
    return n * 10.0 / baud
