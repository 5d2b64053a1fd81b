"""The servo model (firmware_bridge.servo_model): its law, its parameter sets' provenance and their
agreement with independent sources (datasheets, Rhoban BAM, upstream Open Duck's MJCF)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from firmware_bridge.servo_model import (
    SERVO_MODELS,
    TICKS_PER_RAD,
    TUNABLE,
    FirmwareGains,
    ProfileError,
    ServoBank,
    load_profile,
    mjcf_actuator,
    save_profile,
    servo_params,
    small_error_stiffness,
    torque_limit,
)
from firmware_bridge.servo_model.catalog import XC330_NO_LOAD_RAD_S, XL330_STALL_A, XL330_STALL_NM

XC = servo_params("XC330-M288-T")
XL = servo_params("XL330-M288-T")


@pytest.mark.parametrize("model", sorted(SERVO_MODELS))
def test_every_value_carries_its_source(model):
    p = SERVO_MODELS[model]
    for name in TUNABLE + ("factory_gains", "nominal_supply_v", "rated_supply_v", "max_temperature_c",
                           "pwm_full_scale"):
        assert p.sources.get(name, "").strip(), f"{model}.{name} has no source"


@pytest.mark.parametrize("model", sorted(SERVO_MODELS))
def test_bank_torque_at_small_error_is_the_small_error_stiffness(model):
    p = SERVO_MODELS[model]
    gains = p.factory_gains
    bank = ServoBank([p], [FirmwareGains(p=gains.p, pwm_slope=0)])
    state = bank.state()
    error = 1e-4
    tau, _ = bank.torque(np.array([error]), np.zeros(1), np.zeros(1), p.nominal_supply_v, state, 0.001,
                         coulomb=False)
    assert tau[0] / error == pytest.approx(small_error_stiffness(p, gains), rel=1e-9)


def test_x330_gain_scaling_matches_the_e_manual():
    # KPP = P/128 on the error in ticks, output PWM with 885 = 100 %: a duty of P/128 * ticks / 885.
    k = small_error_stiffness(XC, FirmwareGains(p=1100), 5.0)
    assert k == pytest.approx(0.93 * (1100 / 128) * TICKS_PER_RAD / 885, rel=1e-9)  # FACTS.md: ~5.9
    assert k == pytest.approx(5.89, abs=0.01)
    # BAM's divisor for the XL330 is 256: half the e-manual's figure.
    assert small_error_stiffness(XL, FirmwareGains(p=400), 5.0) == pytest.approx(
        XL.stall_torque_nm(5.0) * (400 / 256) * TICKS_PER_RAD / 885, rel=1e-9)


def test_stiffness_scales_with_supply_and_gain():
    k = small_error_stiffness(XC, FirmwareGains(p=500), 5.0)
    assert small_error_stiffness(XC, FirmwareGains(p=1000), 5.0) == pytest.approx(2 * k)
    assert small_error_stiffness(XC, FirmwareGains(p=500), 4.5) == pytest.approx(0.9 * k)


def test_datasheet_and_bam_agree():
    # XC330 is derived from its datasheet: the numbers come back out.
    assert XC.stall_torque_nm(5.0) == pytest.approx(0.93)
    assert XC.no_load_speed_rad_s(5.0) == pytest.approx(XC330_NO_LOAD_RAD_S, rel=1e-6)
    # XL330 is BAM's identified set: within 6 % of the datasheet's kt and R.
    assert XL.kt_nm_per_a == pytest.approx(XL330_STALL_NM / XL330_STALL_A, rel=0.06)
    assert XL.resistance_ohm == pytest.approx(5.0 / XL330_STALL_A, rel=0.06)
    assert XL.stall_torque_nm(5.0) == pytest.approx(0.52, rel=0.03)


def test_sts3215_matches_upstream_open_duck_v2():
    sts = servo_params("STS3215-7.4V")
    # Upstream: firmware P 32 ~ kp 17.3 (v2 runs a 2S pack at 7.2-7.4 V); sts3215 class forcerange 3.23.
    assert small_error_stiffness(sts, FirmwareGains(p=32), 7.2) == pytest.approx(17.3, rel=0.02)
    assert torque_limit(sts, FirmwareGains(p=32), 7.4) == pytest.approx(3.23, rel=0.02)
    assert mjcf_actuator(sts, FirmwareGains(p=32)).armature == pytest.approx(0.027, rel=0.1)
    sts12 = servo_params("STS3215-12V")
    assert torque_limit(sts12, FirmwareGains(p=32), 12.0) == pytest.approx(8.53, rel=0.04)
    assert small_error_stiffness(sts12, FirmwareGains(p=32), 12.0) == pytest.approx(46.3, rel=0.05)


def test_saturation_and_back_emf():
    bank = ServoBank([XC], [FirmwareGains(p=1100, pwm_slope=0)])
    state = bank.state()
    for omega in (0.0, 3.0):
        tau, current = bank.torque(np.array([1.0]), np.zeros(1), np.array([omega]), 5.0, state, 0.001,
                                   coulomb=False, damping=True)
        expected = XC.kt_nm_per_a / XC.resistance_ohm * (5.0 - XC.kt_nm_per_a * omega) - XC.friction_viscous_nms * omega
        assert tau[0] == pytest.approx(expected)
        assert current[0] == pytest.approx((5.0 - XC.kt_nm_per_a * omega) / XC.resistance_ohm)
    # PWM Limit caps the duty, so the torque.
    half = ServoBank([XC], [FirmwareGains(p=1100, pwm_limit=442, pwm_slope=0)])
    tau, _ = half.torque(np.array([1.0]), np.zeros(1), np.zeros(1), 5.0, half.state(), 0.001, coulomb=False)
    assert tau[0] == pytest.approx(0.93 * 442 / 885)


def test_pwm_slope_takes_about_18_ms_to_full_duty_at_5_v():
    bank = ServoBank([XC], [XC.factory_gains])
    state = bank.state()
    dt, t = 1e-4, 0.0
    while bank.duty(np.array([1.0]), np.zeros(1), np.zeros(1), 5.0, state, dt)[0] < 1.0 - 1e-9:
        t += dt
        assert t < 0.1
    assert t == pytest.approx(0.018, abs=0.001)  # FACTS.md: 140 = 276.8 mV/ms, 5 V / 0.2768 V/ms


def test_batch_shapes_gain_writes_and_per_env_supply():
    n_env = 8
    legs, head = FirmwareGains(p=475, pwm_slope=0), FirmwareGains(p=1700, pwm_slope=0)
    bank = ServoBank([XC] * 10 + [XL] * 3, [legs] * 10 + [head] * 3)
    state = bank.state((n_env,))
    supply = np.linspace(4.5, 5.3, n_env)[:, None]
    err = np.full((n_env, 13), 1e-4)
    tau, current = bank.torque(err, np.zeros((n_env, 13)), np.zeros((n_env, 13)), supply, state, 0.004, coulomb=False)
    assert tau.shape == current.shape == (n_env, 13)
    np.testing.assert_allclose(tau / 1e-4, bank.stiffness(supply), rtol=1e-9)
    bank.set_gains([FirmwareGains(p=950, pwm_slope=0)] * 10 + [FirmwareGains(p=1700, pwm_slope=0)] * 3)
    tau2, _ = bank.torque(err, np.zeros((n_env, 13)), np.zeros((n_env, 13)), supply, bank.state((n_env,)), 0.004,
                          coulomb=False)
    np.testing.assert_allclose(tau2[:, :10], 2 * tau[:, :10])
    np.testing.assert_allclose(tau2[:, 10:], tau[:, 10:])


def test_torque_off_drives_nothing_and_backlash_is_free_play():
    bank = ServoBank([XC], [FirmwareGains(p=1100, pwm_slope=0)])
    tau, current = bank.torque(np.array([0.3]), np.zeros(1), np.zeros(1), 5.0, bank.state(), 0.001,
                               torque_on=False, coulomb=False)
    assert tau[0] == 0.0 and current[0] == 0.0
    loose = ServoBank([XC.with_overrides(backlash_rad=math.radians(1.0))], [FirmwareGains(p=1100, pwm_slope=0)])
    inside, _ = loose.torque(np.array([math.radians(0.4)]), np.zeros(1), np.zeros(1), 5.0, loose.state(), 0.001,
                             coulomb=False)
    outside, _ = loose.torque(np.array([math.radians(0.6)]), np.zeros(1), np.zeros(1), 5.0, loose.state(), 0.001,
                              coulomb=False)
    assert inside[0] == 0.0
    assert outside[0] == pytest.approx(small_error_stiffness(XC, FirmwareGains(p=1100)) * math.radians(0.1))


def test_overrides_and_profile_round_trip(tmp_path):
    hidden = XC.with_overrides(source="test", duty_per_p_rad=XC.duty_per_p_rad * 1.4,
                               friction_coulomb_nm=XC.friction_coulomb_nm * 2, backlash_rad=math.radians(0.5))
    assert hidden.sources["friction_coulomb_nm"] == "test"
    assert small_error_stiffness(hidden, FirmwareGains(p=475)) == pytest.approx(
        1.4 * small_error_stiffness(XC, FirmwareGains(p=475)))
    path = tmp_path / "xc.json"
    save_profile(path, hidden, extra={"fit": {"rmse_before": 0.1, "rmse_after": 0.01}})
    loaded, data = load_profile(path)
    assert loaded == hidden
    assert data["fit"]["rmse_after"] == 0.01
    with pytest.raises(ValueError, match="not tunable"):
        XC.with_overrides(model="x")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "open-duck servo profile", "version": 1, "servo_model": "XC330-M288-T",
                               "params": {"nope": 1}}))
    with pytest.raises(ProfileError, match="not tunable"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "missing.json")
    bad.write_text("{")
    with pytest.raises(ProfileError, match="unreadable"):
        load_profile(bad)


def test_feetech_variant_names_are_the_bam_sets():
    for alias, name in (("STS3215", "STS3215-7.4V"), ("STS3215-C001", "STS3215-7.4V"), ("STS3215-C018", "STS3215-12V")):
        a, p = servo_params(alias), servo_params(name)
        assert a.model == alias and a.to_dict() | {"model": name} == p.to_dict()


def test_unknown_model_and_bad_gains():
    with pytest.raises(ValueError, match="known"):
        servo_params("MX-64")
    with pytest.raises(ValueError, match="non-negative integer"):
        FirmwareGains(p=-1)
