"""Tiny valid policy ONNX files for runtime tests (no torch needed).

``build_policy(path, kind)`` writes a graph with the exporter's interface: input
``obs`` [N, obs_dim] float32, outputs ``action`` [N, action_dim] and
``joint_offsets_rad`` [N, num_leg_actions], and the contract metadata :func:`duck.runtime.policy.load_policy` checks.

kinds: ``zeros`` (stand at home), ``nan`` (every output NaN), ``fast_clock``
(stand at home, gait clock at its fastest), ``mlp`` (a
50->256->256->10 tanh MLP with tiny output weights, for latency numbers).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from duck.contract import CONTRACT, RobotContract
from duck.runtime.policy import (
    INPUT_NAME,
    META_CONTRACT_JSON,
    META_CONTROL_RATE,
    META_FINGERPRINT,
    META_STEPS,
    OUTPUT_ACTION,
    OUTPUT_OFFSETS,
)
from duck.servo_profile import META_SERVO_PROFILE, SERVO_PROFILE


def _init(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def build_policy(path: str | Path, kind: str = "zeros", contract: RobotContract = CONTRACT,
                 hidden: int = 256, seed: int = 0) -> Path:
    """Write a policy ONNX to ``path`` and return it."""
    obs_dim, act_dim = contract.obs_dim, contract.action_dim
    nodes, inits = [], []
    if kind in ("zeros", "nan", "fast_clock"):
        bias = np.full(act_dim, np.nan if kind == "nan" else 0.0)
        if kind == "fast_clock":
            bias[-1] = 1.0  # legs at home, the gait clock at its fastest rate
        inits += [_init("w", np.zeros((obs_dim, act_dim))), _init("b", bias)]
        nodes += [helper.make_node("MatMul", [INPUT_NAME, "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["raw"])]
    elif kind == "mlp":
        rng = np.random.default_rng(seed)
        sizes = [obs_dim, hidden, hidden, act_dim]
        x = INPUT_NAME
        for k in range(3):
            scale = 0.01 if k == 2 else 1.0 / np.sqrt(sizes[k])
            inits += [_init(f"w{k}", rng.normal(0, scale, (sizes[k], sizes[k + 1]))),
                      _init(f"b{k}", np.zeros(sizes[k + 1]))]
            nodes.append(helper.make_node("Gemm", [x, f"w{k}", f"b{k}"], [f"h{k}"]))
            x = f"h{k}"
            if k < 2:
                nodes.append(helper.make_node("Tanh", [x], [f"a{k}"]))
                x = f"a{k}"
        nodes.append(helper.make_node("Identity", [x], ["raw"]))
    else:
        raise ValueError(f"unknown fixture kind {kind!r}")
    inits += [_init("lo", np.float32(-contract.action_clip)), _init("hi", np.float32(contract.action_clip)),
              _init("scale", np.float32(contract.action_scale_rad)),
              # The offsets are the leg entries of the action; the gait-rate entry is no offset.
              numpy_helper.from_array(np.array([contract.leg_action_slice.start]), "legs_start"),
              numpy_helper.from_array(np.array([contract.leg_action_slice.stop]), "legs_end"),
              numpy_helper.from_array(np.array([1]), "legs_axis")]
    nodes += [helper.make_node("Clip", ["raw", "lo", "hi"], [OUTPUT_ACTION]),
              helper.make_node("Slice", [OUTPUT_ACTION, "legs_start", "legs_end", "legs_axis"], ["legs"]),
              helper.make_node("Mul", ["legs", "scale"], [OUTPUT_OFFSETS])]
    graph = helper.make_graph(
        nodes, f"duck_{kind}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", obs_dim])],
        [helper.make_tensor_value_info(OUTPUT_ACTION, TensorProto.FLOAT, ["N", act_dim]),
         helper.make_tensor_value_info(OUTPUT_OFFSETS, TensorProto.FLOAT, ["N", contract.num_leg_actions])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="duck-tests")
    model.ir_version = 8
    helper.set_model_props(model, {
        META_CONTRACT_JSON: contract.to_json(), META_FINGERPRINT: contract.fingerprint,
        META_CONTROL_RATE: str(contract.control_rate_hz), META_STEPS: "0",
        META_SERVO_PROFILE: SERVO_PROFILE.to_json(),
    })
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)
    return path


def other_contract() -> RobotContract:
    """A contract that differs from the installed one (control rate), for mismatch tests."""
    return replace(CONTRACT, control_rate_hz=100.0)


def _shipped_walk_fingerprint() -> str | None:
    from duck.paths import POLICIES_DIR

    model = onnx.load(str(POLICIES_DIR / "walk.onnx"), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}.get(META_FINGERPRINT)


# While policies/walk.onnx predates the installed contract (a model change, retraining under
# way), the tests that run it are expected to fail; strict, so they fail loudly once a retrained
# policy ships and the marker must go.
SHIPPED_WALK_PREDATES_CONTRACT = _shipped_walk_fingerprint() != CONTRACT.fingerprint
stale_shipped_walk = __import__("pytest").mark.xfail(
    SHIPPED_WALK_PREDATES_CONTRACT, strict=True,
    reason="policies/walk.onnx was trained before Walk-v6's model (issue 19): retraining")
