"""Gamepad teleop fed with real evdev.InputEvent sequences (no uinput), plus keyboard and hot-plug."""

from __future__ import annotations

import errno
import io
import queue
import time

import numpy as np
from evdev import InputEvent, ecodes

from duck.contract import CONTRACT
from duck.runtime.teleop import (
    ESTOP,
    PAUSE,
    PLAYSTATION,
    PLAYSTATION_LEGACY,
    START,
    XBOX,
    GamepadState,
    GamepadTeleop,
    KeyboardTeleop,
    apply_deadzone,
    choose_layout,
)

R = CONTRACT.commands
PS_ABS = {c: (0, 255) for c in (ecodes.ABS_X, ecodes.ABS_Y, ecodes.ABS_RX, ecodes.ABS_RY)}


def ev(etype: int, code: int, value: int) -> InputEvent:
    return InputEvent(0, 0, etype, code, value)


def axis(code: int, value: int) -> InputEvent:
    return ev(ecodes.EV_ABS, code, value)


def button(code: int, value: int = 1) -> InputEvent:
    return ev(ecodes.EV_KEY, code, value)


def settle(state: GamepadState, seconds: float = 2.0) -> np.ndarray:
    """Sample past the rate limiter and return the command."""
    for k in range(int(seconds / 0.02) + 1):
        sample = state.sample(k * 0.02)
    return sample.command


def connected(layout=XBOX, absinfo=None, **kw) -> GamepadState:
    state = GamepadState(R, CONTRACT.head_command_range_rad, **kw)
    state.connect(layout, absinfo)
    return state


def test_layout_detection() -> None:
    assert choose_layout("Microsoft X-Box 360 pad", 0x045E, [0, 1, 3, 4]) is XBOX
    assert choose_layout("Sony Interactive Entertainment Wireless Controller", 0x054C, [0, 1, 3, 4]) is PLAYSTATION
    assert choose_layout("DualSense Wireless Controller", 0, [0, 1, 3, 4]) is PLAYSTATION
    assert choose_layout("Sony PLAYSTATION(R)3 Controller", 0x054C, [0, 1, 2, 5]) is PLAYSTATION_LEGACY


def test_xbox_sticks_map_to_command_ranges() -> None:
    state = connected()
    for e in (axis(ecodes.ABS_Y, -32768), axis(ecodes.ABS_X, 32767), axis(ecodes.ABS_RX, -32768),
              ev(ecodes.EV_SYN, 0, 0)):
        state.handle(e)
    # Stick up = forward, stick right = -vy (y is left), right stick left = +yaw.
    assert np.allclose(settle(state), [R.vx_mps.high, R.vy_mps.low, R.yaw_rate_rad_s.high])


def test_ps_layout_uses_absinfo_centre_and_deadzone() -> None:
    state = connected(PLAYSTATION, PS_ABS)
    state.handle(axis(ecodes.ABS_Y, 128 - 10))  # inside the deadzone around 127.5
    state.handle(axis(ecodes.ABS_X, 131))
    assert np.allclose(settle(state), 0.0)
    state.handle(axis(ecodes.ABS_Y, 255))  # full back
    assert np.isclose(settle(state)[0], R.vx_mps.low)


def test_deadzone_rescales_to_full_range() -> None:
    assert apply_deadzone(0.05, 0.1) == 0.0
    assert apply_deadzone(1.0, 0.1) == 1.0
    assert np.isclose(apply_deadzone(-0.55, 0.1), -0.5)


def test_rate_limit_smooths_a_flicked_stick() -> None:
    state = connected()
    state.sample(0.0)
    state.handle(axis(ecodes.ABS_Y, -32768))
    first = state.sample(0.02).command[0]
    assert 0 < first < R.vx_mps.high / 5  # one cycle moves only a little
    assert np.isclose(settle(state)[0], R.vx_mps.high)


def test_buttons_start_pause_estop() -> None:
    state = connected()
    state.handle(button(ecodes.BTN_START))
    state.handle(button(ecodes.BTN_START, 0))  # release: no second event
    assert state.sample(0.0).events == (START,)
    state.handle(axis(ecodes.ABS_Y, -32768))
    state.handle(button(ecodes.BTN_SELECT))
    sample = state.sample(0.02)
    assert sample.events == (PAUSE,) and state.paused
    assert np.allclose(settle(state), 0.0)  # paused: zero command even with the stick held
    state.handle(button(ecodes.BTN_EAST, 2))  # autorepeat is not a press
    assert not state.estop
    state.handle(button(ecodes.BTN_EAST))
    sample = state.sample(3.0)
    assert sample.estop and ESTOP in sample.events
    state.handle(button(ecodes.BTN_START))
    assert state.sample(3.1).estop  # latched


def test_head_on_second_stick_with_modifier() -> None:
    state = connected()
    state.handle(button(ecodes.BTN_TL))
    state.handle(axis(ecodes.ABS_RX, -32768))  # left: head yaw +, and no yaw-rate command
    state.handle(axis(ecodes.ABS_RY, -32768))  # up: head pitch +
    for k in range(60):
        sample = state.sample(k * 0.02)
    h = CONTRACT.head_command_range_rad.high
    assert np.allclose(sample.head, [0.0, h, h]) and sample.command[2] == 0.0


class FakePad:
    """evdev-like device whose event stream can be unplugged (ENODEV)."""

    name = "Xbox Wireless Controller"

    class info:  # noqa: N801
        vendor = 0x045E

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()

    def capabilities(self):
        return {}

    def read_loop(self):
        while True:
            e = self.events.get()
            if e is None:
                raise OSError(errno.ENODEV, "No such device")
            yield e

    def close(self) -> None:
        pass


def wait_for(cond, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def test_hot_plug_unplug_zeroes_and_reconnects() -> None:
    pads = [FakePad(), None, FakePad()]
    order = iter(pads)

    def finder():
        try:
            return next(order)
        except StopIteration:
            return None

    teleop = GamepadTeleop(GamepadState(R, CONTRACT.head_command_range_rad), finder=finder, rescan_s=0.01)
    teleop.start()
    try:
        assert teleop.wait_connected(2.0)
        pads[0].events.put(axis(ecodes.ABS_Y, -32768))
        assert wait_for(lambda: teleop.sample(0.0).command is not None and teleop.state._axes)
        assert np.isclose(settle_teleop(teleop, 0.0)[0], R.vx_mps.high)
        pads[0].events.put(None)  # unplug
        assert wait_for(lambda: not teleop.state.connected)
        t_lost = teleop.state._lost_at
        s = teleop.sample(t_lost + 0.5)
        assert not s.connected and np.isclose(s.lost_for_s, 0.5)
        assert np.allclose(settle_teleop(teleop, t_lost + 0.5), 0.0)  # zero command while lost
        assert wait_for(lambda: teleop.state.connected)  # re-plugged pad picked up
        assert teleop.sample(100.0).lost_for_s == 0.0
    finally:
        teleop.close()


def settle_teleop(teleop: GamepadTeleop, t0: float) -> np.ndarray:
    for k in range(100):
        sample = teleop.sample(t0 + k * 0.02)
    return sample.command


def test_keyboard_fallback() -> None:
    kb = KeyboardTeleop(R, steps=3, stream=io.StringIO("ww a q g x"))
    for ch in "wwaqg":
        kb.press(ch)
    sample = kb.sample(0.0)
    assert np.allclose(sample.command, [2 * R.vx_mps.high / 3, R.vy_mps.high / 3, R.yaw_rate_rad_s.high / 3])
    assert sample.events == (START,)
    kb.press("x")
    sample = kb.sample(0.1)
    assert sample.estop and np.allclose(sample.command, 0.0)
