"""Faults the software servo can inject, and their CLI spelling."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware_bridge.control_table import HardwareError
from firmware_bridge.feetech.control_table import Status

#: Hardware-error bit names of both families (Dynamixel Hardware Error Status, Feetech Status);
#: the shared names (overload, overheating) have the same bit in both.
_BITS = {**{b.name.lower(): int(b) for b in Status}, **{b.name.lower(): int(b) for b in HardwareError}}


class FaultKind(enum.Enum):
    DROP = "drop"  # the servo does not answer (probability per reply)
    CRC = "crc"  # the servo answers with a corrupted CRC
    MISSING = "missing"  # the servo is gone: no answer to anything, ping included
    HWERROR = "hwerror"  # hardware-error bits set: alert bit in every status, torque off
    STUCK = "stuck"  # present values freeze (a dead encoder, a stuck bus buffer)
    SAG = "sag"  # the supply's open-circuit voltage drops to ``value`` V (a drained battery)
    HEAT = "heat"  # the servo's winding heats towards ``value`` degC (a blocked joint)
    LATE = "late"  # the servo's next reply comes ``value`` ms late, once (a scheduling hiccup)


@dataclass(frozen=True)
class Fault:
    """One injected fault. ``servo_id=None`` hits every servo.

    ``probability`` applies to DROP and CRC (per reply). ``bits`` is the
    Hardware Error Status value for HWERROR (default: overload). ``value`` is
    the volts of SAG, the degrees Celsius of HEAT and the milliseconds of LATE.
    """

    kind: FaultKind
    servo_id: int | None = None
    probability: float = 1.0
    bits: int = int(HardwareError.OVERLOAD)
    value: float = 0.0

    def hits(self, servo_id: int) -> bool:
        return self.servo_id is None or self.servo_id == servo_id

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``KIND:ID[:ARG]``: ``drop:12:0.5``, ``crc:10``, ``missing:31``, ``stuck:20``,
        ``hwerror:11:overload+overheating`` (Dynamixel bits: input_voltage, overheating,
        motor_encoder, electrical_shock, overload; Feetech: voltage, sensor, overheating,
        overcurrent, overload), ``sag:all:3.8`` (supply volts), ``heat:12:66``
        (degC), ``late:12:40`` (ms, the next reply only). ``ID`` may be ``all``."""
        parts = text.strip().split(":")
        try:
            kind = FaultKind(parts[0].lower())
        except ValueError:
            raise ValueError(f"unknown fault {parts[0]!r}; kinds: {[k.value for k in FaultKind]}") from None
        if len(parts) < 2:
            raise ValueError(f"fault {text!r} needs a servo id: {kind.value}:ID (or {kind.value}:all)")
        servo_id = None if parts[1].lower() == "all" else _int(parts[1], text)
        arg = parts[2] if len(parts) > 2 else None
        if kind is FaultKind.HWERROR:
            bits = int(HardwareError.OVERLOAD)
            if arg:
                bits = 0
                for name in arg.split("+"):
                    try:
                        bits |= _BITS[name.strip().lower()]
                    except KeyError:
                        raise ValueError(f"unknown hardware error bit {name!r} in {text!r}; bits: "
                                         f"{sorted(_BITS)}") from None
            return cls(kind, servo_id, bits=bits)
        if kind in _VALUE_UNITS:
            if arg is None:
                raise ValueError(f"fault {text!r} needs a value: {kind.value}:ID:{_VALUE_UNITS[kind]}")
            try:
                value = float(arg)
            except ValueError:
                raise ValueError(f"fault value {arg!r} in {text!r} is not a number") from None
            return cls(kind, servo_id, value=value)
        probability = 1.0
        if arg is not None:
            try:
                probability = float(arg)
            except ValueError:
                raise ValueError(f"fault probability {arg!r} in {text!r} is not a number") from None
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"fault probability in {text!r} must be in 0..1")
        return cls(kind, servo_id, probability=probability)


_VALUE_UNITS = {FaultKind.SAG: "VOLTS", FaultKind.HEAT: "DEGC", FaultKind.LATE: "MS"}


def _int(text: str, whole: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"servo id {text!r} in fault {whole!r} is not a number") from None
