"""Strict, typed configuration: frozen dataclasses, YAML files and ``--set`` overrides.

* An unknown key is an error that names the key (``reward.trackng: unknown key``).
* Values are type-checked against the dataclass annotations; ranges are checked by
  each config's ``validate`` method.
* Nothing is ever ``eval``-ed: override values are parsed with a safe YAML loader.

Used by the env (``duck.sim.config``), ``duck train`` and ``duck eval``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from duck.errors import UserError
from duck.validation import check_number, number_problem

T = TypeVar("T")


class ConfigError(UserError):
    """A bad config key, type or value. The message names the key."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` to annotation ``tp``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is float:
        # Finite everywhere: no config number means anything as NaN or inf.
        return float(check_number(key, value, error=ConfigError))
    if tp is int:
        return check_number(key, value, integer=True, error=ConfigError)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{key}: must be one of {list(typing.get_args(tp))}, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported config type {_type_name(tp)}")


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, strictly. Missing keys keep their defaults."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in names:
            raise ConfigError(f"{prefix}{key}: unknown key (valid: {', '.join(sorted(names))})")
    kwargs = {key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in data.items()}
    obj = cls(**kwargs)
    validate_tree(obj, prefix)
    return obj


def validate_tree(obj: Any, prefix: str = "") -> None:
    """Run ``validate()`` on a config and its nested configs; prefix errors with the path."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            validate_tree(value, f"{prefix}{f.name}.")
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ConfigError as exc:
            raise ConfigError(f"{prefix}{exc}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-data form (tuples become lists) suitable for YAML/JSON."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return plain(obj)


@functools.lru_cache(maxsize=1)
def _yaml_loader():
    """A safe YAML loader with YAML 1.2 booleans: only true/false. Under PyYAML's YAML 1.1
    rules ``push_curriculum=off`` would arrive as the boolean False."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    # YAML 1.2 floats: ``3e-4`` and ``1E5`` are numbers (YAML 1.1 wanted a dot and a signed
    # exponent, so they arrived as strings). ``.inf``/``.nan`` still parse, and are refused
    # as non-finite by the coercion, with the key named.
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
        for first, resolvers in Loader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[0-9][0-9_]*[eE][-+]?[0-9]+)|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))
    return Loader


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"reward.alive=0.5"`` -> (["reward", "alive"], 0.5). Values are YAML scalars/lists."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.load(raw, Loader=_yaml_loader()) if raw.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"{key}: cannot parse value {raw!r}") from None
    return key.split("."), value


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {path[-1]: value}
    for part in reversed(path[:-1]):
        out = {part: out}
    return out


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path, allow_empty: bool = True) -> dict[str, Any]:
    """A YAML config file as a mapping; any problem is a one-line :class:`ConfigError`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
        loaded = yaml.load(text, Loader=_yaml_loader())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if loaded is None:
        if not allow_empty:
            raise ConfigError(f"{path} is empty; it should list the run's whole config (was it truncated?)")
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    if not loaded and not allow_empty:
        raise ConfigError(f"{path} is empty; it should list the run's whole config (was it truncated?)")
    return loaded


def load(cls: type[T], yaml_path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
         allow_empty: bool = True) -> T:
    """Defaults <- YAML file <- ``key=value`` overrides, strictly validated. ``allow_empty=False``
    (a run's saved config on resume): an empty file is an error, not "all defaults"."""
    data = to_dict(cls())
    if yaml_path is not None:
        path = Path(yaml_path)
        loaded = read_yaml(path, allow_empty)
        _reject_unknown(cls, loaded)
        data = _merge(data, loaded)
    for text in overrides:
        path_parts, value = parse_override(text)
        _reject_unknown(cls, _nest(path_parts, value))
        data = _merge(data, _nest(path_parts, value))
    return from_dict(cls, data)


def _reject_unknown(cls: Any, data: dict[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if key not in hints:
            names = sorted(f.name for f in dataclasses.fields(cls))
            raise ConfigError(f"{prefix}{key}: unknown key (valid: {', '.join(names)})")
        if dataclasses.is_dataclass(hints[key]):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{key}: expected a mapping, got {value!r}")
            _reject_unknown(hints[key], value, f"{prefix}{key}.")


def check_range(name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise ConfigError if ``value`` is not finite or lies outside [low, high]."""
    problem = number_problem(value, low, high)
    if problem is not None:
        raise ConfigError(f"{name}: {problem}")


def check_interval(name: str, interval: tuple[float, float], low: float | None = None, high: float | None = None):
    """A (min, max) pair: ordered and inside [low, high]."""
    lo, hi = interval
    if lo > hi:
        raise ConfigError(f"{name}: min {lo} > max {hi}")
    check_range(name, lo, low, high)
    check_range(name, hi, low, high)
