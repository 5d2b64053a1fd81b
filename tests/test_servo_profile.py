"""The robot's servo profile: covers every servo of the contract, stays inside the servos' ratings and
the registers' ranges, and round-trips through the JSON the ONNX carries."""

from __future__ import annotations

import pytest

from duck.contract import CONTRACT
from duck.servo_profile import (
    META_SERVO_PROFILE,
    SERVO_PROFILE,
    RobotServoProfile,
    ServoProfileError,
    policy_servo_profile,
)
from firmware_bridge.servo_model import servo_params


def test_profile_covers_the_contract_within_ratings_and_register_ranges():
    lo, hi = SERVO_PROFILE.supply_range_v
    for model in {j.servo_model for j in CONTRACT.joints}:
        gains, params = SERVO_PROFILE.gains_for(model), servo_params(model)
        assert 0 <= gains.p <= 16383 and 0 <= gains.i <= 16383 and 0 <= gains.d <= 16383  # e-manual ranges
        rated_lo, rated_hi = params.rated_supply_v
        assert rated_lo <= lo <= SERVO_PROFILE.nominal_supply_v <= hi <= rated_hi
        assert params.nominal_supply_v == SERVO_PROFILE.nominal_supply_v


def test_json_round_trip_and_policy_metadata():
    text = SERVO_PROFILE.to_json()
    assert RobotServoProfile.from_json(text) == SERVO_PROFILE
    profile, note = policy_servo_profile({META_SERVO_PROFILE: text})
    assert profile == SERVO_PROFILE and note is None
    profile, note = policy_servo_profile({})
    assert profile == SERVO_PROFILE and "carries no servo profile" in note
    with pytest.raises(ServoProfileError, match="unknown servo profile keys"):
        RobotServoProfile.from_dict({**SERVO_PROFILE.to_dict(), "extra": 1})
    with pytest.raises(ServoProfileError, match="not valid JSON"):
        RobotServoProfile.from_json("{")
    with pytest.raises(ServoProfileError, match="no gains"):
        SERVO_PROFILE.gains_for("MX-64")
    with pytest.raises(ServoProfileError, match="nominal"):
        RobotServoProfile(supply_range_v=(5.5, 6.0))
