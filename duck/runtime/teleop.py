"""Teleoperation: evdev gamepads (Xbox and PlayStation layouts), keyboard fallback, fixed command.

Mapping (both layouts):

* left stick: forward/back -> ``vx``, left/right -> ``vy``;
* right stick left/right -> yaw rate; while the left shoulder button is held the
  right stick steers the head instead (x -> head yaw, y -> head pitch);
* Start/Options: go (hand over to the policy) or resume; Back/Share: pause
  (zero command, the policy keeps balancing); B/Circle or the Xbox/PS button: e-stop.

Stick values pass a deadzone, then scale into the command ranges embedded in the
policy, then a rate limiter (a step from 0 to full speed takes ~0.3 s) so a
flicked stick does not hand the policy a command step it never saw in training.

:class:`GamepadState` is the pure state machine (tests feed it real
``evdev.InputEvent`` objects); :class:`GamepadTeleop` runs it on a device in a
thread and handles hot-plug: unplugging zeroes the command and reports
``connected=False`` with the time since loss; a re-plugged pad is picked up again.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from duck.contract import CommandRanges, Range

# evdev ecodes values, copied as plain ints so this module imports without evdev
# (macOS dev boxes, the keyboard fallback). Values are from linux/input-event-codes.h.
EV_KEY, EV_ABS = 0x01, 0x03
ABS_X, ABS_Y, ABS_Z, ABS_RX, ABS_RY, ABS_RZ = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
BTN_SOUTH, BTN_EAST, BTN_TL = 0x130, 0x131, 0x136
BTN_SELECT, BTN_START, BTN_MODE = 0x13A, 0x13B, 0x13C

START, PAUSE, ESTOP = "start", "pause", "estop"


@dataclass(frozen=True)
class Layout:
    """Which evdev codes mean what on one family of pads."""

    name: str
    axis_vx: int  # stick up = negative raw value on every Linux pad driver
    axis_vy: int
    axis_right_x: int
    axis_right_y: int
    head_modifier: int
    buttons: dict[int, str]


_BUTTONS = {BTN_START: START, BTN_SELECT: PAUSE, BTN_EAST: ESTOP, BTN_MODE: ESTOP}
XBOX = Layout("xbox", ABS_Y, ABS_X, ABS_RX, ABS_RY, BTN_TL, _BUTTONS)
# hid-playstation / hid-sony (kernel >= 4.10): right stick on RX/RY, Circle = BTN_EAST.
PLAYSTATION = Layout("ps", ABS_Y, ABS_X, ABS_RX, ABS_RY, BTN_TL, _BUTTONS)
# Generic HID mapping of older PS pads: right stick on Z/RZ.
PLAYSTATION_LEGACY = Layout("ps-legacy", ABS_Y, ABS_X, ABS_Z, ABS_RZ, BTN_TL, _BUTTONS)

SONY_VENDOR, MICROSOFT_VENDOR = 0x054C, 0x045E


def choose_layout(name: str, vendor: int, abs_codes: Iterable[int]) -> Layout:
    """Pick the layout from the USB vendor or the device name, and its right-stick axes."""
    lowered = name.lower()
    is_ps = vendor == SONY_VENDOR or any(k in lowered for k in ("sony", "playstation", "dualsense", "dualshock"))
    if not is_ps:
        return XBOX
    return PLAYSTATION if ABS_RX in set(abs_codes) else PLAYSTATION_LEGACY


@dataclass
class TeleopSample:
    """What the control loop gets from teleop each cycle."""

    command: np.ndarray  # vx, vy, yaw rate (already clipped to the ranges)
    head: np.ndarray  # neck_pitch, head_pitch, head_yaw offsets (rad)
    connected: bool
    lost_for_s: float  # 0 while connected
    events: tuple[str, ...] = ()  # button presses since the last sample
    estop: bool = False  # latched


class Teleop(Protocol):
    def start(self) -> None: ...

    def sample(self, now: float) -> TeleopSample: ...

    def close(self) -> None: ...


def apply_deadzone(value: float, deadzone: float) -> float:
    """Zero inside the deadzone, rescaled outside so full deflection still gives 1."""
    mag = abs(value)
    if mag <= deadzone:
        return 0.0
    return float(np.sign(value) * min(1.0, (mag - deadzone) / (1.0 - deadzone)))


def _scale(unit: float, r: Range) -> float:
    """[-1, 1] -> [low, high] with 0 -> 0 (ranges need not be symmetric)."""
    return unit * (r.high if unit >= 0 else -r.low)


@dataclass
class RateLimiter:
    """Moves a vector toward a target by at most ``rate * dt`` per element."""

    rate: np.ndarray
    value: np.ndarray

    def step(self, target: np.ndarray, dt: float) -> np.ndarray:
        delta = np.clip(target - self.value, -self.rate * dt, self.rate * dt)
        self.value = self.value + delta
        return self.value.copy()


@dataclass
class GamepadState:
    """Pure gamepad state machine: feed events with :meth:`handle`, read with :meth:`sample`."""

    ranges: CommandRanges
    head_range: Range
    deadzone: float = 0.12
    # Full range in ~0.3 s for velocities, ~0.5 s for the head.
    command_rate: np.ndarray = field(default_factory=lambda: np.array([0.5, 0.35, 1.7]))
    head_rate: float = 2.0
    command_override: np.ndarray | None = None
    layout: Layout = XBOX
    connected: bool = False
    paused: bool = False
    estop: bool = False
    _axes: dict[int, float] = field(default_factory=dict)
    _absinfo: dict[int, tuple[int, int]] = field(default_factory=dict)
    _modifier: bool = False
    _events: list[str] = field(default_factory=list)
    _lost_at: float | None = None
    _last_t: float | None = None
    _cmd: RateLimiter | None = None
    _head: RateLimiter | None = None
    _head_target: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        self._cmd = RateLimiter(np.asarray(self.command_rate, dtype=float), np.zeros(3))
        self._head = RateLimiter(np.full(3, self.head_rate), np.zeros(3))

    # -- connection -----------------------------------------------------------------
    def connect(self, layout: Layout, absinfo: dict[int, tuple[int, int]] | None = None) -> None:
        """A pad appeared. ``absinfo`` maps axis code -> (min, max); default is Xbox's int16."""
        self.layout = layout
        self._absinfo = dict(absinfo or {})
        self._axes.clear()
        self._modifier = False
        self.connected = True
        self._lost_at = None

    def disconnect(self, now: float) -> None:
        if self.connected:
            self.connected = False
            self._lost_at = now
            self._axes.clear()
            self._modifier = False

    # -- input ----------------------------------------------------------------------
    def handle(self, event: Any) -> None:
        """Apply one ``evdev.InputEvent`` (SYN and unknown codes are ignored)."""
        if event.type == EV_ABS:
            lo, hi = self._absinfo.get(event.code, (-32768, 32767))
            centre, half = (lo + hi) / 2.0, max((hi - lo) / 2.0, 1e-9)
            self._axes[event.code] = float(np.clip((event.value - centre) / half, -1.0, 1.0))
        elif event.type == EV_KEY:
            if event.code == self.layout.head_modifier:
                self._modifier = event.value != 0
            elif event.value == 1:  # press only; 0 = release, 2 = autorepeat
                action = self.layout.buttons.get(event.code)
                if action is not None:
                    self._press(action)

    def _press(self, action: str) -> None:
        self._events.append(action)
        if action == ESTOP:
            self.estop = True  # latched: only a restart clears an e-stop
        elif action == PAUSE:
            self.paused = True
        elif action == START:
            self.paused = False

    def _axis(self, code: int) -> float:
        return apply_deadzone(self._axes.get(code, 0.0), self.deadzone)

    # -- output ---------------------------------------------------------------------
    def sample(self, now: float) -> TeleopSample:
        dt = 0.0 if self._last_t is None else max(0.0, now - self._last_t)
        self._last_t = now
        lay = self.layout
        target = np.zeros(3)
        head_target = self._head_target
        if self.connected and not self.paused and not self.estop:
            if self.command_override is not None:
                target = np.asarray(self.command_override, dtype=float)
            else:
                right_x = -self._axis(lay.axis_right_x)  # stick left = turn left = +yaw
                target = np.array([
                    _scale(-self._axis(lay.axis_vx), self.ranges.vx_mps),
                    _scale(-self._axis(lay.axis_vy), self.ranges.vy_mps),
                    0.0 if self._modifier else _scale(right_x, self.ranges.yaw_rate_rad_s),
                ])
            if self._modifier:
                # Head keeps its pose when the modifier is released (the target persists).
                head_target = np.array([0.0, _scale(-self._axis(lay.axis_right_y), self.head_range),
                                        _scale(-self._axis(lay.axis_right_x), self.head_range)])
        elif not self.connected:
            head_target = np.zeros(3)  # lost pad: head back to centre with the legs
        self._head_target = head_target
        low, high = self.ranges.as_arrays()
        command = np.clip(self._cmd.step(np.clip(target, low, high), dt), low, high)
        head = self._head.step(head_target, dt)
        events, self._events = tuple(self._events), []
        lost = 0.0 if self.connected or self._lost_at is None else now - self._lost_at
        return TeleopSample(command, head, self.connected, lost, events, self.estop)


# ---- devices ------------------------------------------------------------------------

def is_gamepad(device: Any) -> bool:
    """A device with two stick axes and a gamepad south button."""
    caps = device.capabilities()
    abs_codes = {c[0] if isinstance(c, tuple) else c for c in caps.get(EV_ABS, [])}
    return {ABS_X, ABS_Y} <= abs_codes and BTN_SOUTH in set(caps.get(EV_KEY, []))


def find_gamepad() -> Any | None:
    """First evdev gamepad in /dev/input, or None (also when evdev is unavailable)."""
    try:
        import evdev
    except ImportError:
        return None
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue
        if is_gamepad(device):
            return device
        device.close()
    return None


def device_layout(device: Any) -> tuple[Layout, dict[int, tuple[int, int]]]:
    """Layout and axis ranges (min, max) of an evdev device."""
    abs_caps = device.capabilities().get(EV_ABS, [])
    absinfo = {}
    for item in abs_caps:
        if isinstance(item, tuple):
            code, info = item
            absinfo[code] = (info.min, info.max)
    return choose_layout(device.name, getattr(device.info, "vendor", 0), absinfo), absinfo


class GamepadTeleop:
    """A :class:`GamepadState` fed from an evdev device in a daemon thread, with hot-plug."""

    def __init__(self, state: GamepadState, finder: Callable[[], Any | None] = find_gamepad,
                 rescan_s: float = 0.5, clock: Callable[[], float] = time.perf_counter) -> None:
        self.state = state
        self._finder = finder
        self._rescan_s = rescan_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.device_name: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gamepad", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.state.connected:
                return True
            time.sleep(0.01)
        return self.state.connected

    def _run(self) -> None:
        while not self._stop.is_set():
            device = self._finder()
            if device is None:
                self._stop.wait(self._rescan_s)
                continue
            layout, absinfo = device_layout(device)
            with self._lock:
                self.state.connect(layout, absinfo)
            self.device_name = device.name
            try:
                for event in device.read_loop():
                    with self._lock:
                        self.state.handle(event)
                    if self._stop.is_set():
                        break
                else:
                    raise OSError(errno.ENODEV, "event stream ended")
            except OSError:
                # ENODEV on unplug (USB or Bluetooth drop): report loss, then rescan.
                with self._lock:
                    self.state.disconnect(self._clock())
                try:
                    device.close()
                except OSError:
                    pass

    def sample(self, now: float) -> TeleopSample:
        with self._lock:
            return self.state.sample(now)

    def close(self) -> None:
        self._stop.set()


class FixedTeleop:
    """A constant command (``--command``) and no buttons; never lost."""

    def __init__(self, command: Any) -> None:
        from duck.runtime.guards import check_command

        self._command = check_command(command)

    def start(self) -> None:
        pass

    def sample(self, now: float) -> TeleopSample:
        return TeleopSample(self._command.copy(), np.zeros(3), True, 0.0)

    def close(self) -> None:
        pass


KEY_HELP = "keys: w/s vx, a/d vy, q/e yaw, space zero, g go, p pause, x e-stop"


class KeyboardTeleop:
    """Terminal fallback: each key press steps the command (terminals report no key-up)."""

    STEPS = {"w": (0, 1), "s": (0, -1), "a": (1, 1), "d": (1, -1), "q": (2, 1), "e": (2, -1)}

    def __init__(self, ranges: CommandRanges, steps: int = 3, stream: Any = None) -> None:
        self.ranges = ranges
        self._stream = stream if stream is not None else sys.stdin
        low, high = ranges.as_arrays()
        self._low, self._high = low, high
        self._step = np.maximum(np.abs(low), np.abs(high)) / steps
        self._command = np.zeros(3)
        self._events: list[str] = []
        self._estop = False
        self._lock = threading.Lock()
        self._saved: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            import termios
            import tty

            fd = self._stream.fileno()
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except (ImportError, OSError, ValueError, AttributeError):
            self._saved = None  # not a terminal (tests, pipes): read lines as they come
        self._thread = threading.Thread(target=self._run, name="keyboard", daemon=True)
        self._thread.start()

    def _chars(self) -> Iterator[str]:
        while True:
            ch = self._stream.read(1)
            if not ch:
                return
            yield ch

    def _run(self) -> None:
        for ch in self._chars():
            self.press(ch)

    def press(self, ch: str) -> None:
        with self._lock:
            key = ch.lower()
            if key in self.STEPS:
                i, sign = self.STEPS[key]
                self._command[i] = np.clip(self._command[i] + sign * self._step[i], self._low[i], self._high[i])
            elif key == " ":
                self._command[:] = 0.0
            elif key in ("g", "\n"):
                self._events.append(START)
            elif key == "p":
                self._command[:] = 0.0
                self._events.append(PAUSE)
            elif key in ("x", "\x1b"):
                self._estop = True
                self._events.append(ESTOP)

    def sample(self, now: float) -> TeleopSample:
        with self._lock:
            events, self._events = tuple(self._events), []
            command = np.zeros(3) if self._estop else self._command.copy()
            return TeleopSample(command, np.zeros(3), True, 0.0, events, self._estop)

    def close(self) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self._stream.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None
