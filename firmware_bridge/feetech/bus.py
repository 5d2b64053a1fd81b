"""The hot-path Feetech bus, on the real ``scservo_sdk`` (PyPI ``ftservo-python-sdk``).

Per control cycle the runtime calls :meth:`FeetechBus.write_goal_positions`
(one Sync Write of Goal Position, 2 bytes per servo) and :meth:`FeetechBus.read_state`
(one Sync Read of Present Position, Speed and Load, 6 bytes per servo). Same
surface, same typed errors and same retry/deadline rules as
:class:`firmware_bridge.DynamixelBus`, so the runtime does not know which one it has.

What the SDK lacks, built here on top of it (never patched):

- its packet timeout is ``tx_time * (n + 3) + 50 ms`` (``LATENCY_TIMER = 50``):
  :class:`~firmware_bridge.deadline_port.DeadlinePort` replaces it with wire time +
  2 x the adapter's latency timer, as for Dynamixel;
- its Sync Read reports a missing servo and a damaged reply alike
  (``COMM_RX_CORRUPT``): :meth:`_read_block` looks for each servo's header in the
  raw reply to tell them apart (ServoMissingError vs CorruptPacketError);
- the sign-magnitude registers are decoded in :mod:`.control_table`;
- it takes any status packet with the right ID as the reply, so a late answer to an
  earlier request can stand in for a read (and crash its ``ping``): reads check the data
  length and retry (CorruptPacketError), and ping is a checked read of Model Number.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import scservo_sdk as sdk

from firmware_bridge.deadline_port import DeadlinePort
from firmware_bridge.errors import (
    BusError,
    BusTimeoutError,
    CorruptPacketError,
    PortOpenError,
    ServoHardwareError,
    ServoMissingError,
)
from firmware_bridge.feetech.control_table import (
    LOAD_PER_UNIT,
    MODEL_NAMES,
    RAD_PER_TICK,
    RAD_S_PER_SPEED_UNIT,
    STATE_BLOCK_SIZE,
    STATE_BLOCK_START,
    TICKS_PER_REV,
    VOLT_PER_UNIT,
    Reg,
    decode_status,
    model_number,
)
from firmware_bridge.latency import check_latency_timer
from firmware_bridge.spec import BusState, ServoCalibration, ServoSpec
from firmware_bridge.stale_reads import StaleReads

log = logging.getLogger(__name__)

DEFAULT_SLACK_MS = 0.5
STATUS_OVERHEAD = 6  # FF FF ID LEN ERR CHK


class _PortHandler(DeadlinePort, sdk.PortHandler):
    """scservo_sdk's PortHandler with the packet deadline of :class:`DeadlinePort`."""


class FeetechBus:
    """All Feetech servos on one serial port. See the module docstring."""

    family = "feetech"

    def __init__(
        self,
        port: str,
        baud: int,
        servos: Sequence[ServoSpec],
        calibration: Mapping[int, ServoCalibration] | None = None,
        retries: int = 2,
        *,
        latency_ms: float | None = None,
        slack_ms: float = DEFAULT_SLACK_MS,
        max_stale_reads: int = 2,
    ) -> None:
        if not servos:
            raise ValueError("a bus needs at least one servo")
        ids = [s.servo_id for s in servos]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate servo ids in {ids}")
        for s in servos:
            model_number(s.model)  # ValueError for a model this family does not know
        calibration = dict(calibration or {})
        unknown = set(calibration) - set(ids)
        if unknown:
            raise ValueError(f"calibration for servo ids not on the bus: {sorted(unknown)}")
        self.port_name = port
        self.baud = int(baud)
        self.servos = tuple(servos)
        self.ids = tuple(ids)
        self.calibration = {i: calibration.get(i, ServoCalibration()) for i in ids}
        self._zero = np.array([self.calibration[i].zero_ticks for i in ids], dtype=np.float64)
        self._dir = np.array([self.calibration[i].direction for i in ids], dtype=np.float64)
        self.retries = int(retries)
        self.max_stale_reads = int(max_stale_reads)
        self._latency_override = latency_ms
        self._slack_ms = slack_ms
        self._port: _PortHandler | None = None
        self._ph = None
        self._reads = StaleReads()
        self._wire_free_at = 0.0
        self.latency_warning: str | None = None

    # ---- lifecycle ------------------------------------------------------------------
    def open(self) -> FeetechBus:
        check = check_latency_timer(self.port_name)
        self.latency_warning = check.warning()
        if self.latency_warning:
            log.warning(self.latency_warning)
        latency = self._latency_override
        if latency is None:
            latency = float(check.latency_ms) if check.latency_ms is not None else 1.0
        port = _PortHandler(self.port_name, latency, self._slack_ms)
        try:
            port.baudrate = self.baud
            ok = port.openPort()
        except Exception as exc:  # pyserial raises SerialException / OSError
            raise PortOpenError(f"cannot open {self.port_name}: {_one_line(exc)}") from None
        if not ok:
            raise PortOpenError(f"cannot open {self.port_name} at {self.baud} baud (unsupported baud)")
        self._port = port
        self._ph = sdk.protocol_packet_handler(port, 0)  # 0: STS/SMS little-endian
        self._sync_write = sdk.GroupSyncWrite(self._ph, Reg.GOAL_POSITION.address, 2)
        for i in self.ids:
            self._sync_write.addParam(i, [0, 0])
        self._sync_read = sdk.GroupSyncRead(self._ph, STATE_BLOCK_START, STATE_BLOCK_SIZE)
        for i in self.ids:
            self._sync_read.addParam(i)
        return self

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(Exception):
                self._port.closePort()
        self._port = None

    def __enter__(self) -> FeetechBus:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> _PortHandler:
        if self._port is None:
            raise BusError("bus is not open; call open() or use it as a context manager")
        return self._port

    # ---- timing budget ---------------------------------------------------------------
    def read_wire_bytes(self, fast: bool = False) -> int:
        """Bytes on the wire for one state read: the Sync Read and every reply."""
        n = len(self.ids)
        return (8 + n) + n * (STATUS_OVERHEAD + STATE_BLOCK_SIZE)

    def write_wire_bytes(self) -> int:
        return 8 + len(self.ids) * 3

    def read_timeout_s(self, fast: bool | None = None) -> float:
        return self.port.timeout_ms(self.read_wire_bytes()) / 1000.0

    def read_budget_s(self) -> float:
        return (1 + self.retries) * self.read_timeout_s()

    # ---- hot path --------------------------------------------------------------------
    def write_goal_positions(self, positions_rad: np.ndarray) -> None:
        """One Sync Write of Goal Position for all servos (no reply on the wire)."""
        pos = np.asarray(positions_rad, dtype=np.float64)
        if pos.shape != (len(self.ids),):
            raise ValueError(f"expected {len(self.ids)} positions, got shape {pos.shape}")
        if not np.all(np.isfinite(pos)):
            raise ValueError(f"goal positions must be finite, got {pos}")
        ticks = np.clip(np.rint(self._zero + self._dir * pos / RAD_PER_TICK), 0, TICKS_PER_REV - 1)
        for servo_id, t in zip(self.ids, ticks.astype(np.int64)):
            self._sync_write.changeParam(servo_id, [int(t) & 0xFF, int(t) >> 8])
        result = self._sync_write.txPacket()
        if result != sdk.COMM_SUCCESS:
            raise BusError(f"sync write failed: {self._ph.getTxRxResult(result)}")
        self._wire_free_at = time.perf_counter() + self.write_wire_bytes() * 10.0 / self.baud

    def read_state(self, deadline: float | None = None) -> BusState:
        """Position, velocity and load of every servo; retries, stale values and the
        deadline as :class:`~firmware_bridge.stale_reads.StaleReads`. ``current_a`` is NaN
        (the cycle reads load, the fraction of stall torque, into ``load``)."""
        return self._reads.read(self.retries, self.max_stale_reads, deadline, self._read_attempt,
                                lambda k: self.read_timeout_s())

    def _read_attempt(self, attempt: int, t0: float) -> BusState:
        raw = self._read_block()
        state = self._to_state(raw, time.perf_counter() - t0)
        faults = {i: decode_status(err) for i, (err, _) in raw.items() if err}
        if faults:  # the error byte *is* the Status register: no second read needed
            raise ServoHardwareError(faults, state=state)
        return state

    def _read_block(self) -> dict[int, tuple[int, bytes]]:
        """One Sync Read: id -> (status byte, 6 state bytes). Raises typed errors."""
        port, ph, n = self.port, self._ph, len(self.ids)
        port.expect(self.read_wire_bytes(), max(0.0, self._wire_free_at - time.perf_counter()) * 1e3)
        result = self._sync_read.txPacket()
        if result != sdk.COMM_SUCCESS:
            raise BusError(f"sync read tx failed: {ph.getTxRxResult(result)}")
        # The group's rxPacket() keeps the raw reply to itself; read it here, then let the
        # group parse each servo out of it (its readRx), as rxPacket would.
        result, stream = ph.syncReadRx(STATE_BLOCK_SIZE, n)
        if result == sdk.COMM_RX_TIMEOUT:
            raise ServoMissingError(list(self.ids), "no reply to Sync Read")
        out: dict[int, tuple[int, bytes]] = {}
        missing, corrupt = [], []
        # The SDK's readRx scans the stream from its start for each servo (quadratic in the
        # servo count: 0.27 ms of Python per 14-servo cycle here). When every reply is there,
        # hand it each servo's own 12 bytes; it still checks header, length and checksum.
        size = STATUS_OVERHEAD + STATE_BLOCK_SIZE
        aligned = len(stream) == n * size
        for k, servo_id in enumerate(self.ids):
            data, res = self._sync_read.readRx(stream[k * size:(k + 1) * size] if aligned else stream,
                                               servo_id, STATE_BLOCK_SIZE)
            if res != sdk.COMM_SUCCESS and aligned:  # not in its slot: look through the whole reply
                data, res = self._sync_read.readRx(stream, servo_id, STATE_BLOCK_SIZE)
            if res == sdk.COMM_SUCCESS:
                out[servo_id] = (data[0], bytes(data[1:]))
            elif _has_header(stream, servo_id):
                corrupt.append(servo_id)
            else:
                missing.append(servo_id)
        if missing:
            raise ServoMissingError(missing, "no reply to Sync Read")
        if corrupt:
            raise CorruptPacketError(f"sync read: corrupt status packet from servo(s) {corrupt}")
        return out

    def _to_state(self, raw: dict[int, tuple[int, bytes]], read_time: float) -> BusState:
        pos = np.empty(len(self.ids))
        vel = np.empty(len(self.ids))
        load = np.empty(len(self.ids))
        for k, servo_id in enumerate(self.ids):
            b = raw[servo_id][1]
            pos[k] = Reg.PRESENT_POSITION.decode(int.from_bytes(b[0:2], "little"))
            vel[k] = Reg.PRESENT_SPEED.decode(int.from_bytes(b[2:4], "little"))
            load[k] = Reg.PRESENT_LOAD.decode(int.from_bytes(b[4:6], "little"))
        return BusState(
            position_rad=self._dir * (pos - self._zero) * RAD_PER_TICK,
            velocity_rad_s=self._dir * vel * RAD_S_PER_SPEED_UNIT,
            current_a=np.full(len(self.ids), np.nan),
            stale=False,
            read_time_s=read_time,
            timestamp_s=time.monotonic(),
            load=self._dir * load * LOAD_PER_UNIT,
        )

    # ---- torque, gains, recovery ----------------------------------------------------
    def set_torque(self, enabled: bool) -> None:
        """Torque on or off for all servos. On: Goal Position is first set to Present
        Position, because an STS drives to whatever Goal holds (an X330 holds in place)."""
        for i in self.ids:
            if enabled:
                self.write_register(i, Reg.GOAL_POSITION, self.read_register(i, Reg.PRESENT_POSITION))
            self.write_register(i, Reg.TORQUE_ENABLE, 1 if enabled else 0)

    @contextlib.contextmanager
    def torque_enabled(self) -> Iterator[FeetechBus]:
        self.set_torque(True)
        try:
            yield self
        finally:
            with contextlib.suppress(BusError):
                self.set_torque(False)

    def read_p_gain(self, servo_id: int) -> int:
        return self.read_register(servo_id, Reg.P_COEFFICIENT)

    def write_p_gain(self, servo_id: int, gain: int) -> None:
        """P Coefficient lives in EEPROM, but with Lock at its power-up 1 the write changes
        the running value without saving it: right for the runtime's soft start."""
        self.write_register(servo_id, Reg.P_COEFFICIENT, max(0, min(254, int(gain))))

    def write_pid(self, servo_id: int, p: int, i: int, d: int) -> None:
        """P/I/D Coefficients (EEPROM, Lock 1: live, not saved; setup saves them)."""
        for reg, value in ((Reg.P_COEFFICIENT, p), (Reg.I_COEFFICIENT, i), (Reg.D_COEFFICIENT, d)):
            self.write_register(servo_id, reg, int(value))

    def read_pid(self, servo_id: int) -> tuple[int, int, int]:
        return tuple(self.read_register(servo_id, r)  # type: ignore[return-value]
                     for r in (Reg.P_COEFFICIENT, Reg.I_COEFFICIENT, Reg.D_COEFFICIENT))

    def read_supply_v(self, servo_id: int) -> float:
        return self.read_register(servo_id, Reg.PRESENT_VOLTAGE) * VOLT_PER_UNIT

    def set_position_p_gain(self, gain: int) -> None:
        for i in self.ids:
            self.write_p_gain(i, gain)

    def torque_off(self, servo_id: int) -> bool:
        self.write_register(servo_id, Reg.TORQUE_ENABLE, 0, check_alert=False)
        return self.read_register(servo_id, Reg.TORQUE_ENABLE, check_alert=False) == 0

    def broadcast_torque_off(self) -> None:
        self._ph.write1ByteTxOnly(sdk.BROADCAST_ID, Reg.TORQUE_ENABLE.address, 0)

    def read_hardware_errors(self) -> dict[int, list[str]]:
        return {i: decode_status(self.read_register(i, Reg.STATUS, check_alert=False)) for i in self.ids}

    def reboot(self, servo_id: int) -> None:
        """STS firmware has no REBOOT instruction (scservo_sdk has none either): its Status
        bits clear when the fault does, and re-enabling torque is the recovery."""
        raise BusError(f"servo {servo_id}: Feetech STS firmware has no reboot instruction; its error bits "
                       "clear when the fault does. Power-cycle the servo to reload its EEPROM")

    def ping(self, servo_id: int) -> int:
        """Model number of ``servo_id``; ServoMissingError if it does not answer.

        A read of Model Number rather than the SDK's ``ping`` (PING + the same read): the SDK
        indexes the read's data without checking its length, and a late status packet of an
        earlier request (same ID, no data) crashes it with an IndexError."""
        return int.from_bytes(self.read_raw(servo_id, Reg.MODEL_NUMBER.address, 2), "little")

    def ping_all(self) -> dict[int, int]:
        found, missing = {}, []
        for i in self.ids:
            try:
                found[i] = self.ping(i)
            except BusTimeoutError:
                missing.append(i)
        if missing:
            raise ServoMissingError(missing, f"on {self.port_name} at {self.baud} baud")
        wrong = [f"servo {s.servo_id} is {MODEL_NAMES.get(found[s.servo_id], found[s.servo_id])}, "
                 f"expected {s.model}" for s in self.servos if found[s.servo_id] != model_number(s.model)]
        if wrong:
            raise BusError("; ".join(wrong))
        return found

    # ---- single registers ------------------------------------------------------------
    def read_register(self, servo_id: int, reg: Reg, check_alert: bool = True) -> int:
        """Decoded value (sign-magnitude registers come back signed)."""
        data = self.read_raw(servo_id, reg.address, reg.size, check_alert)
        return reg.decode(int.from_bytes(data, "little"))

    def write_register(self, servo_id: int, reg: Reg, value: int, check_alert: bool = True) -> None:
        raw = reg.encode(value)
        self._txrx(servo_id, lambda: (None, *self._ph.writeTxRx(servo_id, reg.address, reg.size,
                                                                 list(raw.to_bytes(reg.size, "little")))),
                   check_alert)

    def read_raw(self, servo_id: int, address: int, length: int, check_alert: bool = False) -> bytes:
        def call():
            data, result, error = self._ph.readTxRx(servo_id, address, length)
            if result == sdk.COMM_SUCCESS and len(data) != length:
                # The SDK takes any status packet with the right ID as the reply: a late answer
                # to an earlier request (a retried write, say) carries the wrong data length.
                result = sdk.COMM_RX_CORRUPT
            return bytes(data), result, error

        return self._txrx(servo_id, call, check_alert)

    def _txrx(self, servo_id: int, call, check_alert: bool):
        """One SDK request/response with bounded retries; results mapped to typed errors."""
        last: BusError | None = None
        for _ in range(self.retries + 1):
            value, result, error = call()
            if result == sdk.COMM_RX_TIMEOUT:
                last = ServoMissingError([servo_id], f"on {self.port_name} at {self.baud} baud")
                continue
            if result == sdk.COMM_RX_CORRUPT:
                last = CorruptPacketError(f"servo {servo_id}: corrupt status packet")
                continue
            if result != sdk.COMM_SUCCESS:
                raise BusError(f"servo {servo_id}: {self._ph.getTxRxResult(result)}")
            if check_alert and error:
                raise ServoHardwareError({servo_id: decode_status(error)})
            return value
        assert last is not None
        raise last


def _has_header(stream: Sequence[int], servo_id: int) -> bool:
    return bytes([0xFF, 0xFF, servo_id]) in bytes(stream)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

