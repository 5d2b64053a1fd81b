"""Packets built and parsed byte for byte against the worked examples of the ROBOTIS
Protocol 2.0 e-manual (emanual.robotis.com/docs/en/dxl/protocol2/)."""

from __future__ import annotations

import pytest

from firmware_bridge import protocol as p


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


# ---- Ping (Example 1 and 2) -------------------------------------------------------------
def test_ping_example_1():
    assert p.ping(1) == hx("FF FF FD 00 01 03 00 01 19 4E")
    status = hx("FF FF FD 00 01 07 00 55 00 06 04 26 65 5D")  # XM430-W210, model 1030, fw 38
    assert p.build_status(1, 0, bytes([0x06, 0x04, 0x26])) == status
    pkt = p.parse_packet(status)
    assert (pkt.servo_id, pkt.instruction, pkt.error, pkt.data) == (1, 0x55, 0, bytes([6, 4, 0x26]))


def test_ping_example_2_broadcast():
    assert p.ping(p.BROADCAST_ID) == hx("FF FF FD 00 FE 03 00 01 31 42")
    assert p.build_status(2, 0, bytes([6, 4, 0x26])) == hx("FF FF FD 00 02 07 00 55 00 06 04 26 6F 6D")


# ---- Read / Write ------------------------------------------------------------------------
def test_read_example():
    assert p.read(1, 132, 4) == hx("FF FF FD 00 01 07 00 02 84 00 04 00 1D 15")
    status = hx("FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0")  # Present Position = 166
    assert p.build_status(1, 0, p.le(166, 4)) == status
    assert int.from_bytes(p.parse_packet(status).data, "little") == 166


def test_write_example():
    assert p.write(1, 116, p.le(512, 4)) == hx("FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89")
    assert p.build_status(1, 0) == hx("FF FF FD 00 01 04 00 55 00 A1 0C")


def test_reg_write_action_reboot_factory_reset_examples():
    assert p.build_packet(1, p.Instruction.REG_WRITE, p.le(104, 2) + p.le(200, 4)) == \
        hx("FF FF FD 00 01 09 00 04 68 00 C8 00 00 00 AE 8E")
    assert p.build_packet(1, p.Instruction.ACTION) == hx("FF FF FD 00 01 03 00 05 02 CE")
    assert p.build_packet(1, p.Instruction.REBOOT) == hx("FF FF FD 00 01 03 00 08 2F 4E")
    assert p.build_packet(1, p.Instruction.FACTORY_RESET, [0x01]) == hx("FF FF FD 00 01 04 00 06 01 A1 E6")


# ---- Sync Read / Sync Write --------------------------------------------------------------
def test_sync_read_example():
    assert p.sync_read(132, 4, [1, 2]) == hx("FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA")
    assert p.build_status(1, 0, p.le(166, 4)) == hx("FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0")
    assert p.build_status(2, 0, p.le(2079, 4)) == hx("FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE")


def test_sync_write_example():
    packet = p.sync_write(116, 4, [(1, p.le(150, 4)), (2, p.le(170, 4))])
    assert packet == hx("FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87")


# ---- Fast Sync Read (ID 3, 7, 4 XC330-T288, Present Position) -----------------------------
def test_fast_sync_read_example():
    assert p.sync_read(132, 4, [3, 7, 4], fast=True) == hx("FF FF FD 00 FE 0A 00 8A 84 00 04 00 03 07 04 20 F2")
    status = hx(
        "FF FF FD 00 FE 19 00 55"
        "00 03 A6 00 00 00 84 08"  # ID 3: 166, CRC over the packet so far
        "00 07 1F 08 00 00 16 CA"  # ID 7: 2079
        "00 04 FF 03 00 00 D1 9E"  # ID 4: 1023; its CRC is the packet CRC
    )
    assert p.fast_read_status([(0, 3, p.le(166, 4)), (0, 7, p.le(2079, 4)), (0, 4, p.le(1023, 4))]) == status
    pkt = p.parse_packet(status, stuffed=False)
    assert pkt.servo_id == p.BROADCAST_ID and len(pkt.params) == 22  # blocks minus the final CRC


def test_fast_bulk_read_status_example():
    # The e-manual's Fast Bulk Read *instruction* CRC (20 F2) is copied from the Fast Sync
    # Read example and does not match its bytes; the status packet is consistent.
    status = hx("FF FF FD 00 FE 14 00 55 00 03 A6 00 00 00 67 A4 00 07 A5 01 24 74 00 04 1F D9 C1")
    assert p.fast_read_status([(0, 3, p.le(166, 4)), (0, 7, p.le(421, 2)), (0, 4, p.le(31, 1))]) == status


# ---- Bulk Read / Bulk Write --------------------------------------------------------------
def test_bulk_read_example():
    assert p.bulk_read([(1, 144, 2), (2, 146, 1)]) == \
        hx("FF FF FD 00 FE 0D 00 92 01 90 00 02 00 02 92 00 01 00 1A 05")
    assert p.build_status(1, 0, p.le(119, 2)) == hx("FF FF FD 00 01 06 00 55 00 77 00 C3 69")
    assert p.build_status(2, 0, p.le(36, 1)) == hx("FF FF FD 00 02 05 00 55 00 24 8B A9")


def test_bulk_write_example():
    assert p.bulk_write([(1, 32, p.le(160, 2)), (2, 31, p.le(80, 1))]) == \
        hx("FF FF FD 00 FE 10 00 93 01 20 00 02 00 A0 00 02 1F 00 01 00 50 B7 68")


# ---- Byte stuffing -----------------------------------------------------------------------
def test_stuffed_packet():
    # Write FF FF FD 00 to Goal Position(116): the data contains the header pattern, so
    # a 0xFD is inserted after it, LEN grows by one and the CRC covers the stuffed bytes.
    packet = p.write(1, 116, hx("FF FF FD 00"))
    assert packet == hx("FF FF FD 00 01 0A 00 03 74 00 FF FF FD FD 00") + packet[-2:]
    crc = p.crc16(packet[:-2])
    assert packet[-2:] == bytes([crc & 0xFF, crc >> 8])
    # The SDK's own stuffing + CRC (independent implementation) agrees byte for byte.
    import dynamixel_sdk as sdk

    ph = sdk.PacketHandler(2.0)
    raw = [0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x09, 0x00, 0x03, 0x74, 0x00, 0xFF, 0xFF, 0xFD, 0x00, 0, 0]
    stuffed = ph.addStuffing(raw)
    sdk_crc = ph.updateCRC(0, stuffed, len(stuffed) - 2)
    assert bytes(stuffed[:-2]) + bytes([sdk_crc & 0xFF, sdk_crc >> 8]) == packet
    parsed = p.parse_packet(packet)
    assert parsed.instruction == p.Instruction.WRITE and parsed.params == hx("74 00 FF FF FD 00")


def test_unstuff_roundtrip_and_stream_split():
    body = bytes([0x03, 0xFF, 0xFF, 0xFD, 0xFF, 0xFF, 0xFD, 0xFD, 0x01])
    assert p.unstuff(p.stuff(body)) == body
    buf = bytearray(b"\x00\x12" + p.ping(1) + p.read(2, 132, 4) + p.ping(3)[:5])
    packets, dropped = p.split_stream(buf)
    assert packets == [p.ping(1), p.read(2, 132, 4)] and dropped
    assert bytes(buf) == p.ping(3)[:5]


def test_parse_rejects_bad_crc_and_length():
    bad = bytearray(p.ping(1))
    bad[-1] ^= 0xFF
    with pytest.raises(p.PacketError, match="CRC"):
        p.parse_packet(bytes(bad))
    with pytest.raises(p.PacketError, match="length"):
        p.parse_packet(p.read(1, 132, 4)[:-1])
