"""Load an exported ONNX policy and check it against the installed contract.

The ONNX graph (see ``duck.train.export``) takes the raw contract observation
``obs`` [batch, obs_dim] and returns ``action`` (the clipped action, fed back as
the ``last_action`` observation term) and ``joint_offsets_rad`` (offsets from home
for the contract's action joints). Normalisation, the policy mean, clip and scale
are all inside the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from duck.contract import CONTRACT, ContractError, RobotContract
from duck.errors import UserError

# ONNX metadata_props keys written by the exporter.
META_CONTRACT_JSON = "duck.contract_json"
META_FINGERPRINT = "duck.contract_fingerprint"
META_CONTROL_RATE = "duck.control_rate_hz"
META_TRAIN_CONFIG = "duck.train_config"
META_STEPS = "duck.steps"
META_COMMIT = "duck.commit"
META_MIRROR_AVERAGED = "duck.mirror_averaged"  # JSON bool; absent in policies from before it
INPUT_NAME = "obs"
OUTPUT_ACTION = "action"
OUTPUT_OFFSETS = "joint_offsets_rad"


class PolicyError(UserError):
    """The policy file is unusable: unreadable, not ONNX, or made for another contract."""


@dataclass
class Policy:
    """An ONNX policy bound to an onnxruntime session (single thread, CPU)."""

    path: Path
    contract: RobotContract
    metadata: dict[str, str]
    _session: object

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run one observation (obs_dim,) or a batch (n, obs_dim) -> (action, joint_offsets_rad)."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if batch.ndim != 2 or batch.shape[1] != self.contract.obs_dim:
            raise ContractError(f"policy expects observations of size {self.contract.obs_dim}, got {obs.shape}")
        action, offsets = self._session.run([OUTPUT_ACTION, OUTPUT_OFFSETS], {INPUT_NAME: batch})
        return (action[0], offsets[0]) if single else (action, offsets)

    @property
    def steps(self) -> int:
        try:
            return int(self.metadata.get(META_STEPS, "0"))
        except ValueError:
            return 0

    @property
    def mirror_averaged(self) -> bool:
        """Whether the graph averages the policy with its mirror image (exactly equivariant)."""
        return self.metadata.get(META_MIRROR_AVERAGED, "false") == "true"


def load_policy(path: str | Path, contract: RobotContract = CONTRACT, threads: int = 1) -> Policy:
    """Load ``path`` and refuse it unless its embedded contract matches ``contract``."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"policy file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types for bad files
        raise PolicyError(f"{path} is not a loadable ONNX model: {str(exc).splitlines()[0]}") from None
    try:
        metadata = dict(session.get_modelmeta().custom_metadata_map)
    except UnicodeDecodeError as exc:  # a damaged file: metadata bytes that are not text
        raise PolicyError(f"{path}: its metadata is damaged (not UTF-8: {exc.reason})") from None
    check_metadata(metadata, contract, path)
    names_in = [i.name for i in session.get_inputs()]
    names_out = [o.name for o in session.get_outputs()]
    if names_in != [INPUT_NAME] or not {OUTPUT_ACTION, OUTPUT_OFFSETS} <= set(names_out):
        raise PolicyError(f"{path}: expected input {INPUT_NAME!r} and outputs {OUTPUT_ACTION!r}, "
                          f"{OUTPUT_OFFSETS!r}; got inputs {names_in}, outputs {names_out}")
    check_signature(session, contract, path)
    return Policy(path=path, contract=contract, metadata=metadata, _session=session)


def check_signature(session: object, contract: RobotContract, path: Path | str) -> None:
    """Input and output shapes and dtypes against the contract, declared and actually produced:
    a wrong-sized graph is refused here, not at the first cycle after the robot has ramped."""
    expected = {INPUT_NAME: contract.obs_dim, OUTPUT_ACTION: contract.action_dim,
                OUTPUT_OFFSETS: contract.num_leg_actions}
    declared = {a.name: a for a in [*session.get_inputs(), *session.get_outputs()]}
    for name, size in expected.items():
        arg = declared[name]
        shape = list(arg.shape or [])
        if arg.type != "tensor(float)":
            raise PolicyError(f"{path}: {name} is {arg.type}, the contract needs float32")
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != size):
            raise PolicyError(f"{path}: {name} has shape {shape}, the contract needs [batch, {size}]")
    try:
        action, offsets = session.run([OUTPUT_ACTION, OUTPUT_OFFSETS],
                                      {INPUT_NAME: np.zeros((1, contract.obs_dim), dtype=np.float32)})
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types for a graph that cannot run
        raise PolicyError(f"{path}: the graph does not run on a contract observation: "
                          f"{str(exc).splitlines()[0]}") from None
    for name, out in ((OUTPUT_ACTION, action), (OUTPUT_OFFSETS, offsets)):
        if out.dtype != np.float32 or out.shape != (1, expected[name]):
            raise PolicyError(f"{path}: {name} came out {out.dtype} {list(out.shape)}, "
                              f"the contract needs float32 [1, {expected[name]}]")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_metadata(metadata: dict[str, str], contract: RobotContract, path: Path | str) -> None:
    """Raise :class:`PolicyError` naming what differs if the policy's contract is not ``contract``."""
    if META_FINGERPRINT not in metadata or META_CONTRACT_JSON not in metadata:
        raise PolicyError(f"{path} carries no open-duck contract metadata; export it with `duck export`")
    if metadata[META_FINGERPRINT] == contract.fingerprint:
        # The stored fingerprint is trusted only if the embedded contract still hashes to it.
        try:
            recomputed = RobotContract.from_json(metadata[META_CONTRACT_JSON]).fingerprint
        except Exception as exc:  # noqa: BLE001 - malformed JSON or fields: the file is damaged
            raise PolicyError(f"{path}: its embedded contract is unreadable ({_first_line(exc)}): the file was "
                              "edited or damaged; export it again with `duck export`") from None
        if recomputed != metadata[META_FINGERPRINT]:
            raise PolicyError(f"{path}: its embedded contract hashes to {recomputed}, not the fingerprint "
                              f"{metadata[META_FINGERPRINT]} stored with it: the file was edited or damaged; "
                              "export it again with `duck export`")
        return
    try:
        theirs = RobotContract.from_json(metadata[META_CONTRACT_JSON])
        differences = "; ".join(contract.diff(theirs)) or "fields equal but fingerprint differs"
    except Exception as exc:  # noqa: BLE001 - any malformed contract is just "unreadable" here
        differences = f"embedded contract unreadable ({_first_line(exc)})"
    raise PolicyError(
        f"{path} was trained for contract {metadata[META_FINGERPRINT]}, installed contract is "
        f"{contract.fingerprint}: {differences}"
    )
