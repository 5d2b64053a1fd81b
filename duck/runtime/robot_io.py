"""The robot as the control loop sees it: the servo bus (firmware_bridge) plus an IMU.

Joint arrays here are in contract order, in radians from the calibrated zero.
Bus faults are classified into what the safety monitor needs: a hardware error
(servo alert bit: torque off) versus a bad read (timeout, CRC, missing servo:
count stale cycles, hold). :meth:`RobotIO.release` turns torque off in a way
that survives a missing or garbling servo.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from duck.contract import CONTRACT, RobotContract
from duck.errors import UserError
from duck.runtime.imu import Imu, ImuError, ImuSample


def port_failures() -> tuple[type[BaseException], ...]:
    """What a dead or unplugged serial port raises from under the SDK, besides ``BusError``:
    ``termios.error`` (tcflush on a gone tty), ``OSError`` (EIO), pyserial's ``SerialException``
    (an OSError too). All of them are a failed bus transfer: stale, then hold, then torque off."""
    failures: list[type[BaseException]] = [OSError]
    try:
        import termios

        failures.append(termios.error)
    except ImportError:  # not on Linux
        pass
    try:
        from serial import SerialException

        failures.append(SerialException)
    except ImportError:
        pass
    return tuple(failures)


PORT_FAILURES = port_failures()


@dataclass
class JointReading:
    """One servo read for the loop. ``ok`` is False when the values are not fresh."""

    position: np.ndarray | None
    velocity: np.ndarray | None
    ok: bool
    detail: str = ""
    hardware_error: str | None = None
    error_ids: tuple[int, ...] = ()  # servos a failed read names (ServoMissingError), for error counts


def make_bus(port: str, baud: int, calibration: Mapping[int, Any] | None = None,
             contract: RobotContract = CONTRACT, retries: int = 2, **options: Any) -> Any:
    """A firmware_bridge bus over the contract's servos, in contract order (``options``: bus timing).
    The family (Dynamixel, Feetech) follows from the servo models the contract names."""
    from firmware_bridge import ServoSpec
    from firmware_bridge import make_bus as make_family_bus

    servos = [ServoSpec(j.servo_id, j.servo_model) for j in contract.joints]
    return make_family_bus(port, baud, servos, calibration=calibration, retries=retries, **options)


class RobotIO:
    """Bus + IMU, opened and checked together."""

    def __init__(self, bus: Any, imu: Imu | None, contract: RobotContract = CONTRACT) -> None:
        self.bus = bus
        self.imu = imu
        self.contract = contract
        self._bus_open = False
        self._imu_open = False

    # ---- lifecycle ---------------------------------------------------------------
    def open(self) -> list[str]:
        """Open and check bus and IMU; user-fixable problems raise :class:`UserError`. Returns warnings."""
        from firmware_bridge import BusError, PortOpenError, ServoMissingError

        warnings: list[str] = []
        try:
            self.bus.open()
        except PortOpenError as exc:
            raise UserError(str(exc)) from None
        self._bus_open = True
        if getattr(self.bus, "latency_warning", None):
            warnings.append(self.bus.latency_warning)
        try:
            self.bus.ping_all()
            errors = {i: bits for i, bits in self.bus.read_hardware_errors().items() if bits}
        except ServoMissingError as exc:
            raise UserError(f"{exc}; check power, wiring and --baud (`duck servo scan` finds them)") from None
        except (BusError, *PORT_FAILURES) as exc:
            raise UserError(f"servo bus check failed: {type(exc).__name__}: {exc}") from None
        if errors:
            listing = ", ".join(f"{i}: {'+'.join(b)}" for i, b in sorted(errors.items()))
            raise UserError(f"servos report hardware errors ({listing}); fix the cause and power-cycle "
                            "or reboot them (`duck servo monitor` shows details)")
        try:
            self.imu.open()
            self.imu.read()
        except ImuError as exc:
            raise UserError(f"IMU check failed: {exc}") from None
        self._imu_open = True
        return warnings

    def close(self) -> None:
        if self._imu_open:
            self.imu.close()
            self._imu_open = False
        if self._bus_open:
            self.bus.close()
            self._bus_open = False

    # ---- per cycle ---------------------------------------------------------------
    def read_joints(self, deadline: float | None = None) -> JointReading:
        """One bus read; retries stop at ``deadline`` (perf_counter seconds), see
        :meth:`firmware_bridge.DynamixelBus.read_state`."""
        from firmware_bridge import BusError, ServoHardwareError

        try:
            state = self.bus.read_state(deadline)
        except ServoHardwareError as exc:
            return JointReading(None, None, False, str(exc), hardware_error=str(exc))
        except (BusError, *PORT_FAILURES) as exc:
            return JointReading(None, None, False, f"{type(exc).__name__}: {exc}",
                                error_ids=tuple(getattr(exc, "ids", ())))
        if state.stale:
            err = state.error
            detail = f"{type(err).__name__}: {err}" if err is not None else "stale read"
            return JointReading(state.position_rad, state.velocity_rad_s, False, detail,
                                error_ids=tuple(getattr(err, "ids", ())))
        return JointReading(state.position_rad, state.velocity_rad_s, True)

    def read_imu(self) -> ImuSample | None:
        try:
            return self.imu.read()
        except ImuError:
            return None

    def write_targets(self, targets: np.ndarray) -> str | None:
        """Write goal positions; returns an error string instead of raising (the loop keeps going)."""
        from firmware_bridge import BusError

        try:
            self.bus.write_goal_positions(targets)
        except (BusError, ValueError, *PORT_FAILURES) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    # ---- torque ------------------------------------------------------------------
    def check_supply(self, supply_range_v: tuple[float, float]) -> dict[int, float]:
        """Each servo's supply voltage; :class:`UserError` (one line) if any is outside
        ``supply_range_v``, the supply the policy was trained for. Call before torque on."""
        from firmware_bridge import BusError

        try:
            volts = {i: self.bus.read_supply_v(i) for i in self.bus.ids}
        except BusError as exc:
            raise UserError(f"could not read the servos' supply voltage: {exc}") from None
        lo, hi = supply_range_v
        bad = {i: v for i, v in volts.items() if not lo - 1e-6 <= v <= hi + 1e-6}
        if bad:
            listing = ", ".join(f"{i}: {v:.1f} V" for i, v in sorted(bad.items()))
            raise UserError(f"servo supply outside the {lo:.1f}-{hi:.1f} V the policy was trained for ({listing}); "
                            "check the battery/regulator, nothing was energised")
        return volts

    def torque_on(self, low_p_gains: dict[int, int] | None) -> None:
        """Torque on, softened to ``low_p_gains`` (servo id -> P) for the start-up ramp."""
        for servo_id, gain in (low_p_gains or {}).items():
            self.bus.write_p_gain(servo_id, int(gain))
        self.bus.set_torque(True)

    def write_gains(self, gains: dict[int, Any]) -> str | None:
        """Write each servo's Position P, I, D Gain (``FirmwareGains`` per servo id) and read them
        back; an error string instead of raising."""
        from firmware_bridge import BusError

        try:
            for servo_id, g in gains.items():
                wanted = (int(g.p), int(g.i), int(g.d))
                self.bus.write_pid(servo_id, *wanted)
                got = self.bus.read_pid(servo_id)
                if got != wanted:
                    return f"servo {servo_id}: P, I, D read back {got}, not {wanted}"
        except (BusError, *PORT_FAILURES) as exc:
            return str(exc)
        return None

    def release(self, attempts: int = 3) -> tuple[list[int], list[int]]:
        """Torque off every servo, servo by servo, then a broadcast as a backstop.

        ``bus.set_torque(False)`` stops at the first servo that fails, which would
        leave the rest energised; here each servo is tried on its own. Returns
        (servos confirmed off, servos that could not be confirmed).
        """
        from firmware_bridge import BusError

        pending = list(self.bus.ids)
        confirmed: list[int] = []
        for _ in range(attempts):
            for servo_id in list(pending):
                try:
                    if self.bus.torque_off(servo_id):
                        pending.remove(servo_id)
                        confirmed.append(servo_id)
                except (BusError, *PORT_FAILURES):
                    pass
            if not pending:
                break
            time.sleep(0.005)
        if pending:
            self._broadcast_torque_off()
        return sorted(confirmed), sorted(pending)

    def _broadcast_torque_off(self) -> None:
        """Write Torque Enable = 0 to the broadcast id: no replies, so a broken servo cannot block it."""
        try:
            self.bus.broadcast_torque_off()
        except Exception:  # noqa: BLE001 - best effort on the way out; nothing else to do
            pass
