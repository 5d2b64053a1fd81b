"""Parameter sets per servo model, each number with its source.

Datasheet-derived where that is all there is (XC330-M288-T); Rhoban BAM's identified sets where
they exist (XL330-M288-T, Feetech STS3215 7.4 V and 12 V; github.com/Rhoban/bam, arXiv 2410.08650,
files and commits named per value). Identified profiles (``duck sysid fit``) override these.
"""

from __future__ import annotations

import math
from dataclasses import replace

from firmware_bridge.servo_model.params import TICKS_PER_RAD, FirmwareGains, ServoParams

RPM = 2.0 * math.pi / 60.0

# ---- shared firmware facts -----------------------------------------------------------------
# ROBOTIS e-manual, X330 "Position PID Gain": KPP = P/128, KPI = I/65536, KPD = D/16 act on the
# error in ticks and their output is PWM in Goal PWM units, 885 = 100 %. The e-manual gives no time
# base for the I and D terms; we assume the 1 ms firmware tick for both (an assumption `duck sysid`
# can check). PWM Slope: 140 = 276.8 mV/ms, i.e. 1.977 V/s per unit (FACTS.md, X330 e-manual).
X330_PWM_FULL = 885
X330_SLOPE_V_PER_S_PER_UNIT = 276.8 / 140
X330_DUTY_PER_D = TICKS_PER_RAD / (16 * X330_PWM_FULL) * 1e-3
X330_DUTY_PER_I = TICKS_PER_RAD / (65536 * X330_PWM_FULL) * 1e3
_X330_FIRMWARE_SRC = "ROBOTIS e-manual X330 Position PID Gain (KPP=P/128, KPI=I/65536, KPD=D/16, PWM 885=100 %)"
_TIME_BASE_SRC = _X330_FIRMWARE_SRC + "; 1 ms time base assumed (not documented)"

# ---- XC330-M288-T (legs of v1) -----------------------------------------------------------------
# Datasheet at 5.0 V: stall 0.93 N m at 1.8 A, no load 81 rpm (ROBOTIS e-manual XC330-M288-T).
XC330_STALL_NM, XC330_STALL_A, XC330_NO_LOAD_RAD_S, XC330_DATASHEET_V = 0.93, 1.8, 81 * RPM, 5.0
_xc_kt = XC330_STALL_NM / XC330_STALL_A  # at stall all of the supply is across the winding
_xc_r = XC330_DATASHEET_V / XC330_STALL_A
# No BAM set for the XC330: split the friction the datasheet's no-load speed implies,
# kt/R (V - kt w0) = fc + fv w0 (0.115 N m at 81 rpm), with the Coulomb part scaled from BAM's
# XL330 friction_base by stall torque (same 288.35:1 gearbox family).
_xc_no_load_friction = _xc_kt / _xc_r * (XC330_DATASHEET_V - _xc_kt * XC330_NO_LOAD_RAD_S)
_xc_fc = 0.01821167858833861 * XC330_STALL_NM / 0.52
_xc_fv = (_xc_no_load_friction - _xc_fc) / XC330_NO_LOAD_RAD_S

XC330_M288_T = ServoParams(
    model="XC330-M288-T",
    kt_nm_per_a=_xc_kt,
    resistance_ohm=_xc_r,
    armature_kgm2=0.0019898151031250474,
    friction_coulomb_nm=_xc_fc,
    friction_viscous_nms=_xc_fv,
    duty_per_p_rad=TICKS_PER_RAD / (128 * X330_PWM_FULL),
    duty_per_i_rad_s=X330_DUTY_PER_I,
    duty_per_d_rad_s=X330_DUTY_PER_D,
    pwm_full_scale=X330_PWM_FULL,
    max_duty=1.0,
    pwm_slope_v_per_s_per_unit=X330_SLOPE_V_PER_S_PER_UNIT,
    factory_gains=FirmwareGains(p=1100, i=0, d=500, pwm_limit=885, pwm_slope=140),
    nominal_supply_v=5.0,
    rated_supply_v=(3.7, 6.0),
    max_temperature_c=70.0,
    sources={
        "kt_nm_per_a": "ROBOTIS XC330-M288-T datasheet: stall 0.93 N m / 1.8 A at 5 V",
        "resistance_ohm": "ROBOTIS XC330-M288-T datasheet: 5 V / 1.8 A stall current",
        "armature_kgm2": "Rhoban BAM bam/params/xl330/m1.json (11bb7ec): same 288.35:1 gear ratio, no XC330 set",
        "friction_coulomb_nm": "BAM xl330 m1 friction_base 0.0182 N m x (0.93 / 0.52 stall torque)",
        "friction_viscous_nms": "rest of the friction the datasheet no-load speed 81 rpm at 5 V implies",
        "duty_per_p_rad": _X330_FIRMWARE_SRC + "; BAM's XC330 class uses the same error gain 0.005755",
        "duty_per_i_rad_s": _TIME_BASE_SRC,
        "duty_per_d_rad_s": _TIME_BASE_SRC,
        "pwm_full_scale": "ROBOTIS e-manual X330 PWM Limit (36): 885 = 100 %",
        "max_duty": "BAM XC330 class max_pwm 1.0",
        "pwm_slope_v_per_s_per_unit": "ROBOTIS e-manual X330 PWM Slope (62): 140 = 276.8 mV/ms",
        "factory_gains": "ROBOTIS e-manual XC330-M288-T factory RAM: P 1100, I 0, D 500, PWM Limit 885, Slope 140",
        "nominal_supply_v": "Open Duck Mini v1 wiring: a 5 V UBEC feeds the U2D2 power hub",
        "rated_supply_v": "ROBOTIS XC330-M288-T datasheet: 3.7-6.0 V",
        "max_temperature_c": "ROBOTIS e-manual X330 Temperature Limit (31) factory 70 C",
        "friction_load": "no data: 0",
        "backlash_rad": "not in the datasheet: 0 by default, randomized in training",
    },
)

# ---- XL330-M288-T (head of v1) --------------------------------------------------------------------
# BAM's identified m1 set (bam/params/xl330/m1.json, commit 11bb7ec). Cross-check with the datasheet
# (0.52 N m at 1.47 A, 5 V): kt 0.354 vs 0.370, R 3.40 vs 3.50 (tests/test_servo_model.py).
XL330_STALL_NM, XL330_STALL_A, XL330_NO_LOAD_RAD_S = 0.52, 1.47, 103 * RPM
_BAM_XL330 = "Rhoban BAM bam/params/xl330/m1.json (commit 11bb7ec), identified"
XL330_M288_T = ServoParams(
    model="XL330-M288-T",
    kt_nm_per_a=0.37005152119117146,
    resistance_ohm=3.498349797205021,
    armature_kgm2=0.0019898151031250474,
    friction_coulomb_nm=0.01821167858833861,
    friction_viscous_nms=0.005902005392322235,
    # BAM's XL330Actuator: error gain (4096/2pi) / (256 * 885), "KP divisor 256 empirically observed
    # for XL330 (manual mentions 128)". Half the e-manual's stiffness; `duck sysid` can settle it.
    duty_per_p_rad=TICKS_PER_RAD / (256 * X330_PWM_FULL),
    duty_per_i_rad_s=X330_DUTY_PER_I,
    duty_per_d_rad_s=X330_DUTY_PER_D,
    pwm_full_scale=X330_PWM_FULL,
    max_duty=1.0,
    pwm_slope_v_per_s_per_unit=X330_SLOPE_V_PER_S_PER_UNIT,
    factory_gains=FirmwareGains(p=400, i=0, d=0, pwm_limit=885, pwm_slope=140),
    nominal_supply_v=5.0,
    rated_supply_v=(3.7, 6.0),
    max_temperature_c=70.0,
    sources={
        "kt_nm_per_a": _BAM_XL330, "resistance_ohm": _BAM_XL330, "armature_kgm2": _BAM_XL330,
        "friction_coulomb_nm": _BAM_XL330 + " (friction_base)",
        "friction_viscous_nms": _BAM_XL330 + " (friction_viscous)",
        "duty_per_p_rad": "BAM XL330Actuator error gain: 4096/2pi / (256 x 885), divisor 256 observed (e-manual: 128)",
        "duty_per_i_rad_s": _TIME_BASE_SRC, "duty_per_d_rad_s": _TIME_BASE_SRC,
        "pwm_full_scale": "ROBOTIS e-manual X330 PWM Limit (36): 885 = 100 %",
        "max_duty": "BAM XL330Actuator max_pwm 1.0",
        "pwm_slope_v_per_s_per_unit": "ROBOTIS e-manual X330 PWM Slope (62): 140 = 276.8 mV/ms",
        "factory_gains": "ROBOTIS e-manual XL330-M288-T factory RAM: P 400, I 0, D 0, PWM Limit 885, Slope 140",
        "nominal_supply_v": "Open Duck Mini v1 wiring: a 5 V UBEC feeds the U2D2 power hub",
        "rated_supply_v": "ROBOTIS XL330-M288-T datasheet: 3.7-6.0 V",
        "max_temperature_c": "ROBOTIS e-manual X330 Temperature Limit (31) factory 70 C",
        "friction_load": "BAM m1 model has none: 0", "backlash_rad": "not in the datasheet: 0 by default",
    },
)

# ---- Feetech STS3215 (v2) -----------------------------------------------------------------------
# BAM's STS3215Actuator: duty = 0.166 * P * error(rad) (oscilloscope), max duty 0.97.
# Cross-checks with upstream Open_Duck_Playground's MJCF (FACTS.md): P 32 at 7.2-7.4 V gives
# kp 17.3-17.8 N m/rad (upstream: "P 32 ~ kp 17.3", class kp 17.11); 12 V stall 8.54 N m
# (upstream 12 V forcerange 8.53).
STS3215_ERROR_GAIN = 0.166
STS3215_MAX_DUTY = 0.97
_STS_FW = "Rhoban BAM STS3215Actuator (bam/feetech.py): duty = 0.166 x P x error, oscilloscope"
_STS_COMMON = {
    "duty_per_i_rad_s": "Feetech's I law is not documented: 0 (upstream writes I 0)",
    "duty_per_d_rad_s": "Feetech's D law is not documented: 0 (upstream writes D 0)",
    "pwm_full_scale": "Feetech STS3215 Torque Limit (48): 1000 = 100 %",
    "max_duty": "BAM STS3215Actuator max_pwm 0.97 (oscilloscope)",
    "pwm_slope_v_per_s_per_unit": "STS3215 has no PWM Slope register",
    "factory_gains": "Open_Duck_Mini_Runtime v2 writes P 32, I 0, D 0 (FACTS.md); P 32 is the STS3215 default",
    "max_temperature_c": "Feetech STS3215 Max Temperature Limit (13) factory 70 C",
    "friction_load": "BAM m1 model has none: 0 (m6 has load-dependent friction)",
    "backlash_rad": "0 by default; upstream's backlash variant uses +-0.5 deg",
}
_BAM_7V4 = "Rhoban BAM params/feetech_sts3215_7_4V/m1.json (commit 2d26b69), identified"
STS3215_7V4 = ServoParams(
    model="STS3215-7.4V",
    kt_nm_per_a=1.21164135295077,
    resistance_ohm=2.6761663274455603,
    armature_kgm2=0.02840336348682085,
    friction_coulomb_nm=0.05239296084748866,
    friction_viscous_nms=0.05908515565091076,
    duty_per_p_rad=STS3215_ERROR_GAIN,
    duty_per_i_rad_s=0.0,
    duty_per_d_rad_s=0.0,
    pwm_full_scale=1000,
    max_duty=STS3215_MAX_DUTY,
    pwm_slope_v_per_s_per_unit=None,
    factory_gains=FirmwareGains(p=32, i=0, d=0),
    nominal_supply_v=7.4,
    rated_supply_v=(6.0, 8.4),
    max_temperature_c=70.0,
    sources={
        "kt_nm_per_a": _BAM_7V4, "resistance_ohm": _BAM_7V4, "armature_kgm2": _BAM_7V4,
        "friction_coulomb_nm": _BAM_7V4 + " (friction_base)", "friction_viscous_nms": _BAM_7V4 + " (friction_viscous)",
        "duty_per_p_rad": _STS_FW,
        "nominal_supply_v": "Feetech STS3215 C001 (1:345), the 7.4 V variant v2 uses",
        "rated_supply_v": "v2 runs it on a 2S pack, 8.4 V full (FACTS.md); below 6 V the BAM set is untested",
        **_STS_COMMON,
    },
)
_BAM_12V = "Rhoban BAM params/feetech_sts3215_12V/m1.json (commit c08dcca), identified"
STS3215_12V = ServoParams(
    model="STS3215-12V",
    kt_nm_per_a=1.443985897804671,
    resistance_ohm=2.0295624974250366,
    armature_kgm2=0.03245999409626578,
    friction_coulomb_nm=0.1958711784097532,
    friction_viscous_nms=0.03047350651248057,
    duty_per_p_rad=STS3215_ERROR_GAIN * 0.9754522802666795,  # x the set's identified error_gain_ratio
    duty_per_i_rad_s=0.0,
    duty_per_d_rad_s=0.0,
    pwm_full_scale=1000,
    max_duty=STS3215_MAX_DUTY,
    pwm_slope_v_per_s_per_unit=None,
    factory_gains=FirmwareGains(p=32, i=0, d=0),
    nominal_supply_v=12.0,
    rated_supply_v=(9.0, 12.6),
    max_temperature_c=70.0,
    sources={
        "kt_nm_per_a": _BAM_12V, "resistance_ohm": _BAM_12V, "armature_kgm2": _BAM_12V,
        "friction_coulomb_nm": _BAM_12V + " (friction_base)", "friction_viscous_nms": _BAM_12V + " (friction_viscous)",
        "duty_per_p_rad": _STS_FW + " x error_gain_ratio 0.9755 (" + _BAM_12V + ")",
        "nominal_supply_v": "Feetech STS3215 12 V variant",
        "rated_supply_v": "3S pack range 9-12.6 V",
        **_STS_COMMON,
    },
)

SERVO_MODELS: dict[str, ServoParams] = {p.model: p for p in (XC330_M288_T, XL330_M288_T, STS3215_7V4, STS3215_12V)}
# Feetech's own names for the 1:345 variants BAM identified (the bus code, issue 22, uses them):
# C001 is the 7.4 V servo of v2, C018 the 12 V one. The faster C044/C046 have other gearboxes: no set.
for _alias, _params in (("STS3215", STS3215_7V4), ("STS3215-C001", STS3215_7V4), ("STS3215-C018", STS3215_12V)):
    SERVO_MODELS[_alias] = replace(_params, model=_alias)


def servo_params(model: str) -> ServoParams:
    """The default parameter set of a servo model (its name as in the contract / control table)."""
    try:
        return SERVO_MODELS[model]
    except KeyError:
        raise ValueError(f"no servo model {model!r}; known: {sorted(SERVO_MODELS)}") from None
