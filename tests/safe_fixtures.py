"""Helpers for the bad-input tests: the CLI in-process, tampered policy files, file snapshots."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from duck.cli import main
from duck.contract import CONTRACT
from duck.runtime.policy import INPUT_NAME, META_CONTRACT_JSON, META_FINGERPRINT, OUTPUT_ACTION, OUTPUT_OFFSETS


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``duck ARGV`` in this process: (exit code, stdout, stderr). argparse's exit counts as a return."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> str:
    """Exit 2, exactly one line on stderr, no traceback, and the line names what was wrong."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` -> sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def set_metadata(src: Path, dst: Path, **changes: str) -> Path:
    """Copy an ONNX policy with some metadata_props values replaced (a tampered file)."""
    model = onnx.load(str(src))
    for entry in model.metadata_props:
        if entry.key in changes:
            entry.value = changes[entry.key]
    onnx.save(model, str(dst))
    return dst


def widened_contract_json(vx_high: float = 4.0) -> str:
    """The installed contract's JSON with a wider forward command range (an edited file)."""
    data = json.loads(CONTRACT.to_json())
    data["commands"]["vx_mps"]["high"] = vx_high
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def policy_with_sizes(path: Path, obs_dim: int, action_dim: int, offsets_dim: int) -> Path:
    """A zero policy with the exporter's names and the installed contract's metadata, but the
    given input/output sizes (a graph exported for another observation layout)."""
    inits = [numpy_helper.from_array(np.zeros((obs_dim, action_dim), np.float32), "wa"),
             numpy_helper.from_array(np.zeros((obs_dim, offsets_dim), np.float32), "wo")]
    nodes = [helper.make_node("MatMul", [INPUT_NAME, "wa"], [OUTPUT_ACTION]),
             helper.make_node("MatMul", [INPUT_NAME, "wo"], [OUTPUT_OFFSETS])]
    graph = helper.make_graph(
        nodes, "wrong_sizes", [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", obs_dim])],
        [helper.make_tensor_value_info(OUTPUT_ACTION, TensorProto.FLOAT, ["N", action_dim]),
         helper.make_tensor_value_info(OUTPUT_OFFSETS, TensorProto.FLOAT, ["N", offsets_dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {META_CONTRACT_JSON: CONTRACT.to_json(), META_FINGERPRINT: CONTRACT.fingerprint})
    onnx.save(model, str(path))
    return path
