"""Feetech SCS/STS framing (Dynamixel Protocol 1.0 layout): checksum, packet build and parse.

The bus goes through the real ``scservo_sdk``; this module is the independent
implementation the software servo uses, and that the tests pin to the Feetech
protocol manual's worked examples::

    FF FF | ID | LEN | INST (or ERROR) | PARAM... | CHECKSUM

LEN counts INST + PARAM + CHECKSUM (= params + 2); CHECKSUM = ~(ID + LEN + INST +
PARAM...) & 0xFF. No byte stuffing, no CRC. A status packet carries the servo's
Status bits (:class:`~.control_table.Status`) where an instruction packet has INST.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HEADER = b"\xff\xff"
BROADCAST_ID = 0xFE
MAX_ID = 0xFD  # IDs 0..253 (Feetech memory table, address 5)


class Instruction(enum.IntEnum):
    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REG_WRITE = 0x04
    ACTION = 0x05
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83


def checksum(body: bytes | bytearray | Iterable[int]) -> int:
    """~(sum of ID..last parameter) & 0xFF."""
    return ~sum(body) & 0xFF


def build(servo_id: int, code: int, params: bytes | Iterable[int] = b"") -> bytes:
    """An instruction packet (``code`` = instruction) or status packet (``code`` = error byte)."""
    params = bytes(params)
    body = bytes([servo_id, len(params) + 2, code]) + params
    return HEADER + body + bytes([checksum(body)])


def status(servo_id: int, error: int, data: bytes | Iterable[int] = b"") -> bytes:
    return build(servo_id, error, data)


# ---- instruction builders (host side, for tests and tools) -------------------------------
def ping(servo_id: int) -> bytes:
    return build(servo_id, Instruction.PING)


def read(servo_id: int, address: int, length: int) -> bytes:
    return build(servo_id, Instruction.READ, [address, length])


def write(servo_id: int, address: int, data: bytes) -> bytes:
    return build(servo_id, Instruction.WRITE, bytes([address]) + bytes(data))


def reg_write(servo_id: int, address: int, data: bytes) -> bytes:
    return build(servo_id, Instruction.REG_WRITE, bytes([address]) + bytes(data))


def action(servo_id: int = BROADCAST_ID) -> bytes:
    return build(servo_id, Instruction.ACTION)


def sync_read(address: int, length: int, ids: Sequence[int]) -> bytes:
    return build(BROADCAST_ID, Instruction.SYNC_READ, bytes([address, length]) + bytes(ids))


def sync_write(address: int, length: int, data: Sequence[tuple[int, bytes]]) -> bytes:
    params = bytes([address, length]) + b"".join(bytes([i]) + bytes(d) for i, d in data)
    return build(BROADCAST_ID, Instruction.SYNC_WRITE, params)


# ---- parsing ---------------------------------------------------------------------------
class PacketError(ValueError):
    """Not a valid packet (bad checksum, bad length, no header)."""


@dataclass(frozen=True)
class Packet:
    servo_id: int
    code: int  # instruction, or error byte of a status packet
    params: bytes


def parse(raw: bytes) -> Packet:
    raw = bytes(raw)
    if len(raw) < 6 or raw[:2] != HEADER:
        raise PacketError("no FF FF header")
    if len(raw) != 4 + raw[3]:
        raise PacketError(f"length field says {4 + raw[3]} bytes, got {len(raw)}")
    if checksum(raw[2:-1]) != raw[-1]:
        raise PacketError("checksum mismatch")
    return Packet(raw[2], raw[4], raw[5:-1])


def split_stream(buf: bytearray) -> tuple[list[bytes], bool]:
    """Pop complete packets (checksum not checked) off the front of ``buf``, in place.

    Returns (packets, garbage_dropped). Like the firmware, a header is FF FF
    followed by an ID that is not FF (so FF FF FF ... resynchronises).
    """
    packets: list[bytes] = []
    dropped = False
    while True:
        start = buf.find(HEADER)
        while start >= 0 and start + 2 < len(buf) and buf[start + 2] == 0xFF:
            start += 1
        if start < 0:
            if len(buf) > 1:
                del buf[: len(buf) - 1]  # keep a lone FF: a header may straddle reads
                dropped = True
            return packets, dropped
        if start:
            del buf[:start]
            dropped = True
        if len(buf) < 4:
            return packets, dropped
        length = buf[3]
        if length < 2:
            del buf[:2]
            dropped = True
            continue
        if len(buf) < 4 + length:
            return packets, dropped
        packets.append(bytes(buf[: 4 + length]))
        del buf[: 4 + length]


def bytes_on_wire(n: int, baud: int) -> float:
    """Seconds for ``n`` bytes at 8N1."""
    return n * 10.0 / baud
