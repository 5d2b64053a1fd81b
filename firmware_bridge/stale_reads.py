"""The retry and stale-value rules every bus family's ``read_state`` follows.

A failed read is retried up to ``retries`` times, but no retry starts that could
still be waiting at ``deadline`` (a ``time.perf_counter()`` value: the control
loop's budget for the bus). If all attempts fail, the last good state comes back
with ``stale=True`` and ``error`` set, at most ``max_stale_reads`` times in a row;
after that, or with no good state yet, the typed error is raised. Never zeros. A
hardware error is raised at once, with the (valid) state read in the same cycle,
which also counts as the last good state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from firmware_bridge.errors import BusError, BusTimeoutError, CorruptPacketError, ServoHardwareError
from firmware_bridge.spec import BusState


class StaleReads:
    def __init__(self) -> None:
        self.last_state: BusState | None = None
        self.failures = 0

    def read(self, retries: int, max_stale_reads: int, deadline: float | None,
             attempt: Callable[[int, float], BusState], timeout_s: Callable[[int], float]) -> BusState:
        """``attempt(k, t0)`` makes attempt ``k`` (0 first) and returns the state or raises a
        typed error; ``timeout_s(k)`` is how long attempt ``k`` can wait."""
        t0 = time.perf_counter()
        last_exc: BusError | None = None
        for k in range(retries + 1):
            if k > 0 and deadline is not None and time.perf_counter() + timeout_s(k) > deadline:
                break
            try:
                state = attempt(k, t0)
            except (BusTimeoutError, CorruptPacketError) as exc:
                last_exc = exc
                continue
            except ServoHardwareError as exc:
                if exc.state is not None:
                    self.last_state, self.failures = exc.state, 0
                raise
            self.last_state, self.failures = state, 0
            return state
        assert last_exc is not None
        self.failures += 1
        if self.last_state is not None and self.failures <= max_stale_reads:
            return replace(self.last_state, stale=True, read_time_s=time.perf_counter() - t0, error=last_exc)
        raise last_exc
