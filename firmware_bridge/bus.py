"""The hot-path Dynamixel bus, on the real ``dynamixel_sdk`` (Protocol 2.0).

Per control cycle the runtime calls :meth:`DynamixelBus.write_goal_positions`
(one Sync Write) and :meth:`DynamixelBus.read_state` (one Fast Sync Read of
Present Current..Present Position, 10 bytes per servo; Sync Read if Fast Sync
Read fails). Everything crossing this class's boundary is SI units in the
order of ``servos``. Setup and interactive work lives in :mod:`.provision`.

Failures are typed (:mod:`.errors`) and bounded: each operation makes at most
``1 + retries`` attempts, and each attempt waits at most the packet timeout,
computed from the bytes on the wire plus the USB latency timer (not the SDK's
hard-coded 16 ms), see :class:`_PortHandler`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence

import dynamixel_sdk as sdk
import numpy as np

from firmware_bridge.control_table import (
    MODEL_BY_NUMBER,
    RAD_S_PER_VELOCITY_UNIT,
    STATE_BLOCK_SIZE,
    STATE_BLOCK_START,
    Reg,
    decode_hardware_error,
    model_info,
    to_signed,
    to_unsigned,
    voltage_to_v,
)
from firmware_bridge.deadline_port import DeadlinePort
from firmware_bridge.errors import (
    BusError,
    BusTimeoutError,
    CorruptPacketError,
    PortOpenError,
    ServoHardwareError,
    ServoMissingError,
    ServoStatusError,
)
from firmware_bridge.latency import check_latency_timer
from firmware_bridge.protocol import ALERT_BIT, error_name
from firmware_bridge.spec import BusState, ServoCalibration, ServoSpec
from firmware_bridge.stale_reads import StaleReads

log = logging.getLogger(__name__)

# Extra wait on top of wire time and USB latency: OS scheduling on a Pi Zero.
DEFAULT_SLACK_MS = 0.5
# Bytes of a status packet with no data: header 4, id 1, len 2, inst 1, err 1, crc 2.
STATUS_OVERHEAD = 11
# Present Input Voltage (144, 2 bytes) + Present Temperature (146, 1 byte).
HEALTH_BLOCK_SIZE = Reg.PRESENT_TEMPERATURE.address + 1 - Reg.PRESENT_INPUT_VOLTAGE.address


class _PortHandler(DeadlinePort, sdk.PortHandler):
    """dynamixel_sdk's PortHandler with the packet deadline of :class:`DeadlinePort`."""


class DynamixelBus:
    """All servos on one serial port. See the module docstring."""

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
        fast_sync_read: bool = True,
        max_stale_reads: int = 2,
    ) -> None:
        if not servos:
            raise ValueError("a bus needs at least one servo")
        ids = [s.servo_id for s in servos]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate servo ids in {ids}")
        self.port_name = port
        self.baud = int(baud)
        self.servos = tuple(servos)
        self.ids = tuple(ids)
        calibration = dict(calibration or {})
        unknown = set(calibration) - set(ids)
        if unknown:
            raise ValueError(f"calibration for servo ids not on the bus: {sorted(unknown)}")
        self.calibration = {i: calibration.get(i, ServoCalibration()) for i in ids}
        self._zero = np.array([self.calibration[i].zero_ticks for i in ids], dtype=np.float64)
        self._dir = np.array([self.calibration[i].direction for i in ids], dtype=np.float64)
        self._amp = np.array([model_info(s.model).amp_per_current_unit for s in servos])
        self.retries = int(retries)
        self.max_stale_reads = int(max_stale_reads)
        self._latency_override = latency_ms
        self._slack_ms = slack_ms
        self.use_fast_sync_read = fast_sync_read
        self._fast_strikes = 0
        self._fast_ever_worked = False
        self._port: _PortHandler | None = None
        self._ph = None
        self._reads = StaleReads()
        self._wire_free_at = 0.0  # perf_counter time when our last written bytes leave the wire
        self.latency_warning: str | None = None

    # ---- lifecycle ------------------------------------------------------------------
    def open(self) -> DynamixelBus:
        check = check_latency_timer(self.port_name)
        self.latency_warning = check.warning()
        if self.latency_warning:
            log.warning(self.latency_warning)
        # Use the adapter's real latency timer when we can read it; 1 ms otherwise.
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
        self._ph = sdk.PacketHandler(2.0)
        self._sync_write = sdk.GroupSyncWrite(port, self._ph, Reg.GOAL_POSITION.address, 4)
        for i in self.ids:
            self._sync_write.addParam(i, [0, 0, 0, 0])
        self._sync_read = sdk.GroupSyncRead(port, self._ph, STATE_BLOCK_START, STATE_BLOCK_SIZE)
        for i in self.ids:
            self._sync_read.addParam(i)
        return self

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(Exception):
                self._port.closePort()
        self._port = None

    def __enter__(self) -> DynamixelBus:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> _PortHandler:
        if self._port is None:
            raise BusError("bus is not open; call open() or use it as a context manager")
        return self._port

    # ---- timing budget ---------------------------------------------------------------
    def read_wire_bytes(self, fast: bool) -> int:
        """Bytes on the wire for one state read (instruction + all replies)."""
        n = len(self.ids)
        instruction = 14 + n
        if fast:
            return instruction + 8 + n * (4 + STATE_BLOCK_SIZE)
        return instruction + n * (STATUS_OVERHEAD + STATE_BLOCK_SIZE)

    def write_wire_bytes(self) -> int:
        return 14 + len(self.ids) * 5

    def read_timeout_s(self, fast: bool | None = None) -> float:
        """How long one read attempt waits before it declares the reply missing."""
        fast = self.use_fast_sync_read if fast is None else fast
        return self.port.timeout_ms(self.read_wire_bytes(fast)) / 1000.0

    def read_budget_s(self) -> float:
        """Worst case for :meth:`read_state`: the first attempt plus every retry."""
        return self.read_timeout_s() + self.retries * self.read_timeout_s(fast=False)

    # ---- hot path --------------------------------------------------------------------
    def write_goal_positions(self, positions_rad: np.ndarray) -> None:
        """One Sync Write of Goal Position for all servos (no reply on the wire)."""
        pos = np.asarray(positions_rad, dtype=np.float64)
        if pos.shape != (len(self.ids),):
            raise ValueError(f"expected {len(self.ids)} positions, got shape {pos.shape}")
        if not np.all(np.isfinite(pos)):
            raise ValueError(f"goal positions must be finite, got {pos}")
        ticks = np.clip(np.rint(self._zero + self._dir * pos / _RAD_PER_TICK), 0, 4095).astype(np.int64)
        for servo_id, t in zip(self.ids, ticks):
            t = int(t)
            self._sync_write.changeParam(servo_id, [t & 0xFF, (t >> 8) & 0xFF, 0, 0])
        result = self._sync_write.txPacket()
        if result != sdk.COMM_SUCCESS:
            raise BusError(f"sync write failed: {self._ph.getTxRxResult(result)}")
        # write() returns once the bytes are queued; they take this long on the wire,
        # and the next read's replies come after them.
        self._wire_free_at = time.perf_counter() + self.write_wire_bytes() * 10.0 / self.baud

    def read_state(self, deadline: float | None = None) -> BusState:
        """Position, velocity and current of every servo.

        Retries (plain Sync Read, which names the servo that failed), the loop's
        ``deadline`` and stale values follow :class:`~firmware_bridge.stale_reads.StaleReads`.
        """
        return self._reads.read(self.retries, self.max_stale_reads, deadline, self._read_attempt,
                                lambda k: self.read_timeout_s(self.use_fast_sync_read and k == 0))

    def _read_attempt(self, attempt: int, t0: float) -> BusState:
        """Attempt ``attempt`` of :meth:`read_state`: Fast Sync Read first, plain Sync Read after."""
        fast = self.use_fast_sync_read and attempt == 0
        raw = self._read_block(fast)
        if fast:
            self._fast_ever_worked = True
        elif attempt > 0 and self.use_fast_sync_read and not self._fast_ever_worked:
            # Fast never worked but plain does: firmware older than v46. After 3
            # such cycles stop trying. (Once fast has worked, a failure is the wire.)
            self._fast_strikes += 1
            if self._fast_strikes >= 3:
                log.warning("Fast Sync Read keeps failing where Sync Read works; using Sync Read")
                self.use_fast_sync_read = False
        state = self._to_state(raw, time.perf_counter() - t0)
        alerts = [i for i, (err, _) in raw.items() if err & ALERT_BIT]
        if alerts:
            raise ServoHardwareError(self._decode_alerts(alerts), state=state)
        return state

    def _read_block(self, fast: bool) -> dict[int, tuple[int, bytes]]:
        """One attempt: id -> (error byte, STATE_BLOCK bytes). Raises typed errors."""
        port, ph, n = self.port, self._ph, len(self.ids)
        port.expect(self.read_wire_bytes(fast), max(0.0, self._wire_free_at - time.perf_counter()) * 1e3)
        if fast:
            result = self._sync_read.fastSyncReadTxPacket()
            if result != sdk.COMM_SUCCESS:
                raise BusError(f"fast sync read tx failed: {ph.getTxRxResult(result)}")
            block = STATE_BLOCK_SIZE + 4
            data, result, _ = ph.fastSyncReadRx(port, sdk.BROADCAST_ID, block * n)
            if result == sdk.COMM_RX_TIMEOUT:
                raise ServoMissingError([self.ids[0]], "no reply to Fast Sync Read")
            if result != sdk.COMM_SUCCESS or len(data) != block * n:
                raise CorruptPacketError(f"fast sync read: {ph.getTxRxResult(result)}")
            out = {}
            for k in range(n):
                chunk = data[k * block:(k + 1) * block]
                out[chunk[1]] = (chunk[0], bytes(chunk[2:2 + STATE_BLOCK_SIZE]))
            if list(out) != list(self.ids):
                raise CorruptPacketError(f"fast sync read answered ids {list(out)}, expected {list(self.ids)}")
            return out
        result = self._sync_read.txPacket()
        if result != sdk.COMM_SUCCESS:
            raise BusError(f"sync read tx failed: {ph.getTxRxResult(result)}")
        out = {}
        for servo_id in self.ids:
            data, result, error = ph.readRx(port, servo_id, STATE_BLOCK_SIZE)
            if result == sdk.COMM_RX_TIMEOUT:
                raise ServoMissingError([servo_id], "no reply to Sync Read")
            if result != sdk.COMM_SUCCESS:
                raise CorruptPacketError(f"sync read, servo {servo_id}: {ph.getTxRxResult(result)}")
            out[servo_id] = (error, bytes(data))
        return out

    def _to_state(self, raw: dict[int, tuple[int, bytes]], read_time: float) -> BusState:
        cur = np.empty(len(self.ids))
        vel = np.empty(len(self.ids))
        pos = np.empty(len(self.ids))
        for k, servo_id in enumerate(self.ids):
            b = raw[servo_id][1]
            cur[k] = int.from_bytes(b[0:2], "little", signed=True)
            vel[k] = int.from_bytes(b[2:6], "little", signed=True)
            pos[k] = int.from_bytes(b[6:10], "little", signed=True)
        return BusState(
            position_rad=self._dir * (pos - self._zero) * _RAD_PER_TICK,
            velocity_rad_s=self._dir * vel * RAD_S_PER_VELOCITY_UNIT,
            current_a=self._dir * cur * self._amp,
            stale=False,
            read_time_s=read_time,
            timestamp_s=time.monotonic(),
        )

    def _decode_alerts(self, ids: Sequence[int]) -> dict[int, list[str]]:
        out = {}
        for i in ids:
            try:
                out[i] = decode_hardware_error(self.read_register(i, Reg.HARDWARE_ERROR_STATUS, check_alert=False))
            except BusError:
                out[i] = ["unreadable"]
        return out

    # ---- torque, gains, recovery (not per-cycle, but used by the runtime) ----------------
    def set_torque(self, enabled: bool) -> None:
        for i in self.ids:
            self.write_register(i, Reg.TORQUE_ENABLE, 1 if enabled else 0)

    @contextlib.contextmanager
    def torque_enabled(self) -> Iterator[DynamixelBus]:
        """Torque on for the block; off again however the block ends."""
        self.set_torque(True)
        try:
            yield self
        finally:
            with contextlib.suppress(BusError):
                self.set_torque(False)

    def set_position_p_gain(self, gain: int) -> None:
        for i in self.ids:
            self.write_register(i, Reg.POSITION_P_GAIN, int(gain))

    # Family-neutral names the runtime uses, so it never needs this family's register table.
    def read_p_gain(self, servo_id: int) -> int:
        return self.read_register(servo_id, Reg.POSITION_P_GAIN)

    def write_p_gain(self, servo_id: int, gain: int) -> None:
        self.write_register(servo_id, Reg.POSITION_P_GAIN, int(gain))

    def write_pid(self, servo_id: int, p: int, i: int, d: int) -> None:
        for reg, value in ((Reg.POSITION_P_GAIN, p), (Reg.POSITION_I_GAIN, i), (Reg.POSITION_D_GAIN, d)):
            self.write_register(servo_id, reg, int(value))

    def read_pid(self, servo_id: int) -> tuple[int, int, int]:
        return tuple(self.read_register(servo_id, r)  # type: ignore[return-value]
                     for r in (Reg.POSITION_P_GAIN, Reg.POSITION_I_GAIN, Reg.POSITION_D_GAIN))

    def read_supply_v(self, servo_id: int) -> float:
        # No alert check: past its Max Voltage Limit an X330 raises the input-voltage alert (and the
        # XL330's Shutdown drops torque), but the reading is valid and is what the user needs to see.
        return voltage_to_v(self.read_register(servo_id, Reg.PRESENT_INPUT_VOLTAGE, check_alert=False))

    def torque_off(self, servo_id: int) -> bool:
        """Torque off one servo, ignoring its alert bit; True once read back as off."""
        self.write_register(servo_id, Reg.TORQUE_ENABLE, 0, check_alert=False)
        return self.read_register(servo_id, Reg.TORQUE_ENABLE, check_alert=False) == 0

    def broadcast_torque_off(self) -> None:
        """Torque Enable = 0 to the broadcast id: no replies, so a broken servo cannot block it."""
        self._ph.write1ByteTxOnly(self.port, sdk.BROADCAST_ID, Reg.TORQUE_ENABLE.address, 0)

    def read_hardware_errors(self) -> dict[int, list[str]]:
        return {i: decode_hardware_error(self.read_register(i, Reg.HARDWARE_ERROR_STATUS, check_alert=False))
                for i in self.ids}

    def reboot(self, servo_id: int) -> None:
        self._txrx(servo_id, lambda: (None, *self._ph.reboot(self.port, servo_id)), check_alert=False)

    def ping(self, servo_id: int) -> int:
        """Model number of ``servo_id``; ServoMissingError if it does not answer."""
        return self._txrx(servo_id, lambda: self._ph.ping(self.port, servo_id), check_alert=False)

    def ping_all(self) -> dict[int, int]:
        """id -> model number for every servo; raises naming all missing or wrong-model ids."""
        found, missing = {}, []
        for i in self.ids:
            try:
                found[i] = self.ping(i)
            except BusTimeoutError:
                missing.append(i)
        if missing:
            raise ServoMissingError(missing, f"on {self.port_name} at {self.baud} baud")
        wrong = [f"servo {s.servo_id} is {_model_name(found[s.servo_id])}, expected {s.model}"
                 for s in self.servos if found[s.servo_id] != model_info(s.model).model_number]
        if wrong:
            raise BusError("; ".join(wrong))
        return found

    # ---- single registers ------------------------------------------------------------
    def read_register(self, servo_id: int, reg: Reg, check_alert: bool = True) -> int:
        size = reg.size

        def call():
            data, result, error = self._ph.readTxRx(self.port, servo_id, reg.address, size)
            if result == sdk.COMM_SUCCESS and len(data) != size:
                # A late reply to an earlier, shorter read: the SDK's read{2,4}ByteTxRx would
                # index past its end (IndexError). It is not this register's value; retry.
                return None, sdk.COMM_RX_CORRUPT, error
            return int.from_bytes(bytes(data), "little"), result, error

        value = self._txrx(servo_id, call, check_alert)
        return to_signed(value, size) if reg.signed else value

    def write_register(self, servo_id: int, reg: Reg, value: int, check_alert: bool = True) -> None:
        ph, size = self._ph, reg.size
        fn = {1: ph.write1ByteTxRx, 2: ph.write2ByteTxRx, 4: ph.write4ByteTxRx}[size]
        raw = to_unsigned(int(value), size)
        self._txrx(servo_id, lambda: (None, *fn(self.port, servo_id, reg.address, raw)), check_alert)

    def read_block(self, servo_id: int, start: Reg, length: int) -> tuple[bytes, bool]:
        """``length`` raw bytes from ``start`` on, in one Read instruction retried like any
        request, and whether the servo's alert bit was set (for setup-time tools)."""
        alert = False

        def call():
            nonlocal alert
            data, result, error = self._ph.readTxRx(self.port, servo_id, start.address, length)
            alert = result == sdk.COMM_SUCCESS and bool(error & ALERT_BIT)
            return bytes(data), result, error

        return self._txrx(servo_id, call, check_alert=False), alert

    def read_once(self, servo_id: int, start: Reg, length: int) -> tuple[bytes, int]:
        """One Read of ``length`` bytes from ``start``, no retry: (data, status error byte).

        For slow background polling inside a control cycle (health), where a miss is
        counted rather than waited for. Raises the typed error of the failed attempt.
        """
        port = self.port
        port.expect(self.read_once_wire_bytes(length), max(0.0, self._wire_free_at - time.perf_counter()) * 1e3)
        data, result, error = self._ph.readTxRx(port, servo_id, start.address, length)
        if result == sdk.COMM_RX_TIMEOUT:
            raise ServoMissingError([servo_id], "no reply to a health read")
        if result != sdk.COMM_SUCCESS:
            raise CorruptPacketError(f"servo {servo_id}: {self._ph.getTxRxResult(result)}")
        if error & ~ALERT_BIT:
            raise ServoStatusError(servo_id, error_name(error))
        return bytes(data), error

    def read_health_once(self, servo_id: int) -> tuple[float, float]:
        """(supply V, temperature degC) of one servo: Present Input Voltage(144) and Present
        Temperature(146) in one 3-byte Read, no retry (the runtime's health round-robin)."""
        data, _error = self.read_once(servo_id, Reg.PRESENT_INPUT_VOLTAGE, HEALTH_BLOCK_SIZE)
        return voltage_to_v(int.from_bytes(data[0:2], "little")), float(data[2])

    def health_read_timeout_s(self) -> float:
        return self.read_once_timeout_s(HEALTH_BLOCK_SIZE)

    @staticmethod
    def read_once_wire_bytes(length: int) -> int:
        return 14 + STATUS_OVERHEAD + length

    def read_once_timeout_s(self, length: int) -> float:
        """How long :meth:`read_once` waits at most (plus any bytes still on the wire)."""
        return self.port.timeout_ms(self.read_once_wire_bytes(length)) / 1000.0

    def _txrx(self, servo_id: int, call, check_alert: bool):
        """Run one SDK request/response with bounded retries; map results to typed errors."""
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
            if error & ~ALERT_BIT:
                raise ServoStatusError(servo_id, error_name(error))
            if check_alert and error & ALERT_BIT:
                raise ServoHardwareError(self._decode_alerts([servo_id]))
            return value
        assert last is not None
        raise last


_RAD_PER_TICK = 2.0 * np.pi / 4096


def _model_name(number: int) -> str:
    info = MODEL_BY_NUMBER.get(number)
    return info.name if info else f"model number {number}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
