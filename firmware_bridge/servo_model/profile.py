"""Servo profiles on disk: a servo model's parameters, overridden by identified values.

A profile JSON is ``{"format": "open-duck servo profile", "version": 1, "servo_model": NAME,
"params": {tunable name: value, ...}, "sources": {name: text}, ...extra keys kept as they are}``.
Only the tunable physical values (``params.TUNABLE``) are stored; the rest comes from the catalog,
so a profile stays valid when a catalog default is corrected.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from firmware_bridge.servo_model.catalog import servo_params
from firmware_bridge.servo_model.params import TUNABLE, ServoParams

PROFILE_FORMAT = "open-duck servo profile"
PROFILE_VERSION = 1


class ProfileError(ValueError):
    """A servo profile file that cannot be used (one line, for the CLI)."""


def profile_dict(params: ServoParams, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": PROFILE_FORMAT, "version": PROFILE_VERSION, "servo_model": params.model,
        "params": {k: getattr(params, k) for k in TUNABLE},
        "sources": {k: params.sources.get(k, "") for k in TUNABLE},
    }
    for key, value in (extra or {}).items():
        if key in out:
            raise ValueError(f"extra profile key {key!r} would overwrite a reserved one")
        out[key] = value
    return out


def params_from_profile(data: dict[str, Any], origin: str = "profile") -> ServoParams:
    if data.get("format") != PROFILE_FORMAT:
        raise ProfileError(f"{origin}: not an open-duck servo profile (format {data.get('format')!r})")
    if data.get("version") != PROFILE_VERSION:
        raise ProfileError(f"{origin}: servo profile version {data.get('version')!r}, expected {PROFILE_VERSION}")
    try:
        base = servo_params(str(data["servo_model"]))
        values = {k: float(v) for k, v in dict(data.get("params", {})).items()}
        sources = dict(data.get("sources", {}))
        params = base.with_overrides(source=f"identified ({origin})", **values)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{origin}: {exc}") from None
    merged = dict(params.sources)
    merged.update({k: v for k, v in sources.items() if v and k in values})
    object.__setattr__(params, "sources", merged)
    return params


def save_profile(path: str | Path, params: ServoParams, extra: dict[str, Any] | None = None) -> None:
    """Write atomically (a previous file survives a failed write)."""
    path = Path(path)
    text = json.dumps(profile_dict(params, extra), indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_profile(path: str | Path) -> tuple[ServoParams, dict[str, Any]]:
    """(parameters, the whole JSON) of a profile file; :class:`ProfileError` if unusable."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"servo profile not found: {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfileError(f"servo profile {path} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"servo profile {path}: expected a JSON object")
    return params_from_profile(data, str(path)), data
