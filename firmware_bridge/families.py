"""Servo families as data: which bus class, control table and software servo a model uses.

The runtime asks for "a bus" over the contract's servos (:func:`make_bus`); the
family follows from the models the contract names, so no caller holds a
per-vendor ``if``. Importing this module loads no vendor SDK: bus and emulator
classes are imported by name only when one is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from firmware_bridge.control_table import MODELS as DYNAMIXEL_MODELS
from firmware_bridge.feetech.control_table import MODEL_FAMILY as FEETECH_MODELS


@dataclass(frozen=True)
class Family:
    name: str
    models: tuple[str, ...]
    bus: str  # "module:Class", imported on demand
    emulator: str
    control_table: str
    provision: str  # module with scan, SetupPlan, limits_to_ticks, setup_servo, monitor_rows
    sdk: str  # the vendor SDK's import name
    bauds: tuple[int, ...]
    max_id: int
    factory_baud: int  # what a new servo uses
    calibration_store: str  # default of `duck servo calibrate --store`: "json" or "eeprom"


def _bauds(module: str) -> tuple[int, ...]:
    return tuple(importlib.import_module(module).STANDARD_BAUDS)


FAMILIES: dict[str, Family] = {
    "dynamixel": Family("dynamixel", tuple(DYNAMIXEL_MODELS), "firmware_bridge.bus:DynamixelBus",
                        "firmware_bridge.emulator.server:SoftwareServo", "firmware_bridge.control_table",
                        "firmware_bridge.provision", "dynamixel_sdk", _bauds("firmware_bridge.control_table"),
                        252, 57_600, "json"),
    "feetech": Family("feetech", tuple(FEETECH_MODELS), "firmware_bridge.feetech.bus:FeetechBus",
                      "firmware_bridge.emulator.feetech_server:FeetechSoftwareServo",
                      "firmware_bridge.feetech.control_table", "firmware_bridge.feetech.provision", "scservo_sdk",
                      _bauds("firmware_bridge.feetech.control_table"), 253, 1_000_000, "eeprom"),
}
FAMILY_OF_MODEL: dict[str, str] = {m: f.name for f in FAMILIES.values() for m in f.models}
MAX_ID = {name: f.max_id for name, f in FAMILIES.items()}


def family_of(model: str) -> str:
    try:
        return FAMILY_OF_MODEL[model]
    except KeyError:
        raise ValueError(f"unknown servo model {model!r}; known: {sorted(FAMILY_OF_MODEL)}") from None


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown servo family {name!r}; known: {sorted(FAMILIES)}") from None


def family_of_servos(servos: Sequence[Any]) -> Family:
    """The one family of ``servos`` (objects with ``model``); ValueError if they mix families."""
    names = {family_of(s.model) for s in servos}
    if len(names) != 1:
        raise ValueError(f"one bus carries one servo family; these servos mix {sorted(names)}")
    return FAMILIES[names.pop()]


def load(ref: str) -> Any:
    """``"module:Attr"`` -> the attribute; ``"module"`` -> the module (imported now)."""
    module, _, attr = ref.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attr) if attr else mod


def make_bus(port: str, baud: int, servos: Sequence[Any], calibration: Mapping[int, Any] | None = None,
             **options: Any) -> Any:
    """The bus class of the servos' family, constructed (not opened)."""
    return load(family_of_servos(servos).bus)(port, baud, servos, calibration=calibration, **options)


def make_software_servo(servos: Sequence[Any], backend: Any = None, **options: Any) -> Any:
    """The family's software servo for ``servos`` (not started)."""
    return load(family_of_servos(servos).emulator)(servos, backend, **options)
