"""A PortHandler deadline shared by both servo families (see :class:`DeadlinePort`)."""

from __future__ import annotations

import select


class DeadlinePort:
    """Mixin for a vendor SDK's PortHandler: the packet timeout uses the real latency timer.

    Both vendor SDKs (dynamixel_sdk, scservo_sdk) share the PortHandler shape. The
    Dynamixel SDK computes ``tx_time * n + 2 * LATENCY_TIMER + 2 ms`` with
    ``LATENCY_TIMER = 16`` hard-coded, so a missing servo costs 34 ms. We
    override the method (rather than patching the module attribute, which
    would change every PortHandler in the process) and let the bus announce
    the exact reply size before each transaction.
    """

    def __init__(self, port_name: str, latency_ms: float, slack_ms: float) -> None:
        super().__init__(port_name)  # the SDK's PortHandler, next in the MRO
        self.latency_ms = latency_ms
        self.slack_ms = slack_ms
        self._expected_bytes: int | None = None
        self._extra_ms = 0.0

    def expect(self, n_bytes: int, extra_ms: float = 0.0) -> None:
        """Bytes on the wire (instruction + replies) of the next transaction, and how
        long the wire is still busy with earlier bytes (a Sync Write just queued)."""
        self._expected_bytes = n_bytes
        self._extra_ms = extra_ms

    def timeout_ms(self, n_bytes: int) -> float:
        return self.tx_time_per_byte * n_bytes + 2.0 * self.latency_ms + self.slack_ms

    def readPort(self, length):  # noqa: N802 (SDK name)
        # The SDK polls a timeout=0 port in a busy loop, burning a whole core while
        # it waits for a reply (a Pi Zero has four, shared with the policy). Block
        # in select() instead, until bytes arrive or the packet deadline passes.
        data = self.ser.read(length)
        if not data and self.packet_timeout > 0:
            remaining_ms = self.packet_timeout - self.getTimeSinceStart()
            if remaining_ms > 0:
                select.select([self.ser.fileno()], [], [], min(remaining_ms, 5.0) / 1000.0)
                data = self.ser.read(length)
        return data

    def setPacketTimeout(self, packet_length):  # noqa: N802 (SDK name)
        n = self._expected_bytes if self._expected_bytes is not None else packet_length
        extra, self._expected_bytes, self._extra_ms = self._extra_ms, None, 0.0
        self.packet_start_time = self.getCurrentTime()
        self.packet_timeout = self.timeout_ms(n) + extra
