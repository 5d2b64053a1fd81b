"""Reading back what setup wrote, for both servo families (their setup-time tools, not the bus cycle)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from firmware_bridge.errors import BusError

#: How long a status packet that came after its request timed out may still be on its way.
SETTLE_S = 0.1
_PASSES = 3  # a pass with a late reply in it is read again; a real difference stays


def read_back(bus: Any, servo_id: int, wanted: Sequence[tuple[Any, int]]) -> dict[Any, int]:
    """Each register of ``wanted`` as the servo holds it, read again if any differs.

    ``bus`` is a DynamixelBus or FeetechBus (``read_register``, ``port.clearPort``). Neither
    family's status packet names the register. A reply that came after its request timed out
    (and was retried) is taken as the answer to the next read, and every later read then gets
    its predecessor's value: on a loaded machine setup once read the P gain as the max position
    limit and the ID as the I gain. So on a difference, read again (up to two more passes), each
    register alone: late replies are let land and dropped before every read, so none can answer
    another register's request even when the machine stays loaded for the whole pass (a CI run
    once saw a shifted reply in each of three back-to-back passes). A write that really did not
    land still differs.
    """
    got = {reg: bus.read_register(servo_id, reg, check_alert=False) for reg, _ in wanted}
    for _ in range(_PASSES - 1):
        if all(got[reg] == v for reg, v in wanted):
            break
        got = {reg: _read_settled(bus, servo_id, reg) for reg, _ in wanted}
    return got


def _read_settled(bus: Any, servo_id: int, reg: Any) -> int:
    """One register, after any late reply still on its way has landed and been dropped."""
    time.sleep(SETTLE_S)
    bus.port.clearPort()
    return bus.read_register(servo_id, reg, check_alert=False)


def check_read_back(servo_id: int, wanted: Sequence[tuple[Any, int]], got: dict[Any, int]) -> None:
    """BusError naming every register that does not hold what was written."""
    bad = [f"{reg.name}={got[reg]} (wanted {v})" for reg, v in wanted if got[reg] != v]
    if bad:
        raise BusError(f"servo {servo_id}: read-back mismatch: {', '.join(bad)}")
