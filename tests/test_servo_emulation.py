"""The software servo runs the servo model in register units: Position P/I/D Gain writes through the
real dynamixel-sdk change the emulated stiffness as on a real servo, and the emulated servo's step
response at the profile's gains matches the training env's (issue 20: RMSE <= 10 % of the step)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from duck.contract import CONTRACT
from duck.paths import REPO_ROOT
from duck.servo_profile import SERVO_PROFILE
from duck.sim.servo_backend import MujocoServoBackend, load_servo_overrides
from firmware_bridge import DynamixelBus, ServoSpec
from firmware_bridge.control_table import Reg, voltage_to_v
from firmware_bridge.emulator import SoftwareServo
from firmware_bridge.servo_model import FirmwareGains, save_profile, servo_params, small_error_stiffness

BAUD = 1_000_000
SPECS = [ServoSpec(j.servo_id, j.servo_model) for j in CONTRACT.joints]


def _ab():
    spec = importlib.util.spec_from_file_location("servo_model_ab", REPO_ROOT / "benchmarks" / "servo_model_ab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gain_writes_over_the_sdk_set_the_emulated_stiffness_and_supply_is_reported(tmp_path):
    backend = MujocoServoBackend(supply_v=4.6)
    with SoftwareServo(SPECS, backend, baud=BAUD) as emu, DynamixelBus(emu.path, BAUD, SPECS) as bus:
        xc = servo_params("XC330-M288-T")
        # Power-up: factory gains, as on a real servo.
        assert backend.stiffness(12) == pytest.approx(small_error_stiffness(xc, xc.factory_gains, 4.6))
        for gain in (475, 950):
            bus.write_register(12, Reg.POSITION_P_GAIN, gain)
            assert backend.stiffness(12) == pytest.approx(small_error_stiffness(xc, FirmwareGains(p=gain), 4.6))
        bus.write_register(12, Reg.POSITION_D_GAIN, 40)
        assert backend.gains[CONTRACT.servo_ids.index(12)].d == 40
        assert voltage_to_v(bus.read_register(12, Reg.PRESENT_INPUT_VOLTAGE)) == pytest.approx(4.6)


def test_servo_profile_json_overrides_the_emulated_servo(tmp_path):
    xc = servo_params("XC330-M288-T")
    hidden = xc.with_overrides(source="test", duty_per_p_rad=xc.duty_per_p_rad * 1.4,
                               friction_coulomb_nm=xc.friction_coulomb_nm * 2, backlash_rad=math.radians(0.5))
    path = tmp_path / "hidden.json"
    save_profile(path, hidden)
    backend = MujocoServoBackend(overrides=load_servo_overrides([str(path)]), supply_v=4.5)
    k = CONTRACT.servo_ids.index(12)
    backend.set_p_gain(12, 475)
    assert backend.stiffness(12) == pytest.approx(1.4 * 0.9 * small_error_stiffness(xc, FirmwareGains(p=475)))
    assert backend.model.dof_frictionloss[backend._dofs[k]] == pytest.approx(2 * xc.friction_coulomb_nm)
    assert backend.params[k].backlash_rad == pytest.approx(math.radians(0.5))


@pytest.mark.parametrize("joint", [j.name for j in CONTRACT.joints if j.group == "right_leg"])
def test_emulated_step_response_matches_the_training_env(joint):
    ab = _ab()
    t = np.arange(0.0, 0.6, ab.DT)
    size = 0.2
    goal = ab.goal_step(t, size)
    emulated, trained = ab.run_b(joint, goal), ab.run_a(joint, goal)
    assert np.abs(trained[-1] - size) < 0.1 * size  # it did step
    rmse = float(np.sqrt(np.mean((emulated - trained) ** 2)))
    assert rmse <= 0.10 * size, f"{joint}: RMSE {rmse:.4f} rad = {100 * rmse / size:.1f} % of the step"
    assert SERVO_PROFILE.gains_for("XC330-M288-T").p == 475
