"""One validation layer for the numbers a user types: CLI options, YAML configs, ``--set``.

Every number is checked finite and in range before anything runs, and numbers
that must be integers are integers (``True`` is not 1, ``2.5`` is not 2). The
same checks back three doors:

* argparse: :func:`arg_float`, :func:`arg_int`, :func:`arg_floats`, :func:`arg_size`
  build ``type=`` callables, so a bad option fails at parse time (exit 2, one line);
* configs: :func:`duck.config.check_range` and the config coercion call
  :func:`check_number`;
* the runtime's own guards (:mod:`duck.runtime.guards`) as defence in depth.

Standard library only: ``duck --help`` and the robot's runtime import it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from duck.errors import UserError


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    def fmt(v: float) -> str:
        return str(v) if isinstance(v, int) else f"{v:g}"

    lo = "-inf" if low is None else fmt(low)
    hi = "inf" if high is None else fmt(high)
    return f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"


def number_problem(value: Any, low: float | None = None, high: float | None = None, *, integer: bool = False,
                   low_open: bool = False, high_open: bool = False) -> str | None:
    """What is wrong with ``value`` as such a number (a short phrase), or None when it is fine."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected {'an integer' if integer else 'a number'}, got {value!r}"
    if integer and not isinstance(value, int):
        return f"expected an integer, got {value!r}"
    if not isinstance(value, int) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if ((low is not None and (value < low or (low_open and value == low)))
            or (high is not None and (value > high or (high_open and value == high)))):
        return f"{value!r} out of range {_bounds(low, high, low_open, high_open)}"
    return None


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                 integer: bool = False, low_open: bool = False, high_open: bool = False,
                 error: type[Exception] = UserError) -> Any:
    """Return ``value`` if it is a finite number (an int if ``integer``) inside the bounds,
    else raise ``error`` naming ``name``."""
    problem = number_problem(value, low, high, integer=integer, low_open=low_open, high_open=high_open)
    if problem is not None:
        raise error(f"{name}: {problem}")
    return value


def parse_float(text: str) -> float:
    """A finite float from text: ``nan``, ``inf`` and overflowing literals (``1e999``) are refused."""
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        raise ValueError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {text!r}")
    return value


def parse_int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def arg_float(low: float | None = None, high: float | None = None, *, low_open: bool = False,
              high_open: bool = False) -> Callable[[str], float]:
    """argparse ``type=``: a finite float inside the bounds (``low_open``: strictly above ``low``)."""
    def convert(text: str) -> float:
        try:
            value = parse_float(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        problem = number_problem(value, low, high, low_open=low_open, high_open=high_open)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    convert.__name__ = "number"  # argparse names the type in some messages
    return convert


def arg_int(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """argparse ``type=``: an integer inside [low, high]."""
    def convert(text: str) -> int:
        try:
            value = parse_int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        problem = number_problem(value, low, high, integer=True)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    convert.__name__ = "integer"
    return convert


def arg_choice_int(choices: tuple[int, ...] | list[int], what: str) -> Callable[[str], int]:
    """argparse ``type=``: an integer from a fixed set (e.g. the bauds a servo supports)."""
    def convert(text: str) -> int:
        try:
            value = parse_int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value not in choices:
            raise argparse.ArgumentTypeError(f"{value} is not a {what}; use one of {sorted(choices)}")
        return value

    convert.__name__ = "integer"
    return convert


def arg_floats(n: int, names: str) -> Callable[[str], tuple[float, ...]]:
    """argparse ``type=``: ``n`` comma-separated finite floats, e.g. ``vx,vy,yaw``."""
    def convert(text: str) -> tuple[float, ...]:
        parts = str(text).split(",")
        if len(parts) != n:
            raise argparse.ArgumentTypeError(f"expected {n} numbers {names}, got {text!r}")
        try:
            return tuple(parse_float(p) for p in parts)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{names} {text!r}: {exc}") from None

    convert.__name__ = "numbers"
    return convert


def arg_size(low: int = 16, high: int = 4096) -> Callable[[str], tuple[int, int]]:
    """argparse ``type=``: ``WxH`` in pixels, each side inside [low, high]."""
    def convert(text: str) -> tuple[int, int]:
        parts = str(text).lower().split("x")
        try:
            if len(parts) != 2:
                raise ValueError
            width, height = (parse_int(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected WxH, e.g. 640x480, got {text!r}") from None
        for side, value in (("width", width), ("height", height)):
            if not low <= value <= high:
                raise argparse.ArgumentTypeError(f"{side} {value} out of range [{low}, {high}] pixels")
        return width, height

    convert.__name__ = "size"
    return convert
