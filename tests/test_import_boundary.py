"""The robot's import path stays light: no torch, stable_baselines3, gymnasium or mujoco.

Checked in a fresh interpreter, since this test process has already imported them.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import duck
import duck.runtime
import firmware_bridge

HEAVY = ("torch", "stable_baselines3", "gymnasium", "mujoco")


def _modules(package) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]


def _heavy_after_import(module: str) -> list[str]:
    code = (f"import importlib, json, sys; importlib.import_module({module!r}); "
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


LIGHT = ["duck", "duck.contract", "duck.cli", "duck.config", "duck.transforms", "duck.calibration",
         "firmware_bridge"] + _modules(firmware_bridge) + _modules(duck.runtime) + [
         "duck.commands." + name for name in ("run", "servo", "log", "bom")]


@pytest.mark.parametrize("module", LIGHT)
def test_light_modules_import_no_heavy_dependency(module):
    assert _heavy_after_import(module) == []


def test_the_check_can_fail():
    assert _heavy_after_import("duck.sim") != []


def test_duck_help_is_light_and_lists_commands():
    code = ("import sys, json; from duck.cli import build_parser; p = build_parser(); "
            f"h = p.format_help(); print(json.dumps([sorted(m for m in {HEAVY!r} if m in sys.modules), h]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    heavy, help_text = json.loads(out.stdout)
    assert heavy == []
    for command in ("sim", "train", "export", "eval", "bench", "servo", "run", "bom"):
        assert command in help_text


def test_contract_imports_nothing_of_the_project():
    source = (duck.__path__[0] + "/contract.py")
    text = open(source).read()
    assert "from duck" not in text and "import duck" not in text and "firmware_bridge" not in text


def test_firmware_bridge_never_imports_duck():
    import pathlib

    root = pathlib.Path(firmware_bridge.__path__[0])
    offenders = [str(p) for p in root.rglob("*.py")
                 if any(line.strip().startswith(("import duck", "from duck")) for line in p.read_text().splitlines())]
    assert offenders == []





def _loaded_after(code: str) -> list[str]:
    probe = (f"import json, sys; {code}; "
             "print(json.dumps(sorted(m for m in ('dynamixel_sdk', 'scservo_sdk', 'serial', 'duck') "
             "if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bare_firmware_bridge_imports_neither_vendor_sdk():
    """Both families are known (model table, control tables) without loading an SDK, and
    firmware_bridge never pulls in duck; opening a bus loads exactly its family's SDK."""
    assert _loaded_after("import firmware_bridge; import firmware_bridge.feetech; "
                         "import firmware_bridge.feetech.control_table; import firmware_bridge.families; "
                         "firmware_bridge.ServoSpec(10, 'STS3215-C001')") == []
    assert _loaded_after("from firmware_bridge import FeetechBus") == ["scservo_sdk", "serial"]
    assert _loaded_after("from firmware_bridge import DynamixelBus") == ["dynamixel_sdk", "serial"]
    assert _loaded_after("from firmware_bridge import ServoSpec, make_bus; "
                         "make_bus('/dev/null', 1000000, [ServoSpec(10, 'STS3215')])") == ["scservo_sdk", "serial"]


def test_robot_extra_installs_the_feetech_sdk():
    import pathlib
    import re

    text = (pathlib.Path(duck.__path__[0]).parent / "pyproject.toml").read_text()
    robot = re.search(r"^robot = \[(.*?)^\]", text, re.S | re.M).group(1)
    assert '"ftservo-python-sdk' in robot and '"dynamixel-sdk' in robot
