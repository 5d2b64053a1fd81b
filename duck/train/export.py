"""``duck export``: a trained run -> one self-contained ONNX file.

The graph holds observation normalisation (VecNormalize's running mean/var and
clip), the deterministic policy mean, and the contract's action clip and scale.
For runs trained with the mirror-symmetry pass the mean is averaged with its mirror
image (``mirror_average``), which makes the shipped policy exactly equivariant.
The runtime feeds raw contract observations and gets back the clipped action and
the joint offsets from home (the action's gait-rate entry is
read from the action, see ``RobotContract.gait_rate``). The contract JSON, its fingerprint, the control rate,
the training config, the step count and the commit ride along in metadata_props.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from duck.config import to_dict
from duck.contract import CONTRACT, RobotContract
from duck.errors import UserError
from duck.runtime import policy as policy_file
from duck.servo_profile import META_SERVO_PROFILE, SERVO_PROFILE
from duck.sim.vec_env import policy_observation
from duck.train.runner import (
    CHECKPOINT_ERRORS,
    git_commit,
    latest_checkpoint,
    load_run_config,
    make_vec_env,
    matching_checkpoint,
)


class ExportedPolicy(torch.nn.Module):
    """normalise -> MLP mean -> clip (-> mean with the mirrored-back mirror action) -> scale,
    as one torch module (the ONNX graph)."""

    def __init__(self, model: PPO, norm: VecNormalize, contract: RobotContract = CONTRACT,
                 mirror_average: bool = False):
        super().__init__()
        # With a privileged critic the normaliser also covers the critic-only block that
        # follows the contract observation; the actor (and this graph) reads only the contract one.
        rms = norm.obs_rms
        mean = policy_observation(rms.mean, contract)
        inv_std = policy_observation(1.0 / np.sqrt(rms.var + norm.epsilon), contract)
        self.register_buffer("obs_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("obs_inv_std", torch.as_tensor(inv_std, dtype=torch.float32))
        self.clip_obs = float(norm.clip_obs) if norm.norm_obs else float("inf")
        self.norm_obs = bool(norm.norm_obs)
        self.latent = model.policy.mlp_extractor.policy_net
        self.action_net = model.policy.action_net
        self.action_clip = float(contract.action_clip)
        self.action_scale = float(contract.action_scale_rad)
        self.leg_actions = contract.leg_action_slice  # the gait-rate entry is no joint offset
        self.mirror_average = mirror_average
        obs_perm, obs_sign = contract.observation_mirror
        action_perm, action_sign = contract.action_mirror
        self.register_buffer("obs_mirror_perm", torch.tensor(np.asarray(obs_perm), dtype=torch.long))
        self.register_buffer("obs_mirror_sign", torch.tensor(np.asarray(obs_sign), dtype=torch.float32))
        self.register_buffer("action_mirror_perm", torch.tensor(np.asarray(action_perm), dtype=torch.long))
        self.register_buffer("action_mirror_sign", torch.tensor(np.asarray(action_sign), dtype=torch.float32))

    def clipped_mean(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        if self.norm_obs:
            x = torch.clamp((obs - self.obs_mean) * self.obs_inv_std, -self.clip_obs, self.clip_obs)
        return torch.clamp(self.action_net(self.latent(x)), -self.action_clip, self.action_clip)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        action = self.clipped_mean(obs)
        if self.mirror_average:
            # What the policy would do in the mirrored world, mirrored back. The symmetry
            # loss only pulls the two together; their mean is equivariant by construction,
            # so turning, sidestepping and drift come out the same both ways (docs/training.md, exp38m).
            mirrored = self.clipped_mean(obs[..., self.obs_mirror_perm] * self.obs_mirror_sign)
            action = 0.5 * (action + mirrored[..., self.action_mirror_perm] * self.action_mirror_sign)
        return action, action[..., self.leg_actions] * self.action_scale


@dataclass
class LoadedRun:
    model: PPO
    norm: VecNormalize
    steps: int
    config_dict: dict
    checkpoint: Path


def load_run(run_dir: Path, checkpoint: Path | None = None) -> LoadedRun:
    """Load a run's (latest or given) checkpoint with its VecNormalize statistics."""
    cfg = load_run_config(run_dir)
    if checkpoint is None:
        found = latest_checkpoint(run_dir)
        if found is None:
            raise UserError(f"{run_dir} has no checkpoints")
        zip_path, norm_path = found
    else:
        zip_path = Path(checkpoint)
        norm_path = zip_path.with_name(zip_path.stem + "_vecnormalize.pkl")
        if not zip_path.is_file() or not norm_path.is_file():
            raise UserError(f"checkpoint {zip_path} or its {norm_path.name} is missing")
    cfg = matching_checkpoint(cfg, zip_path)
    try:
        venv = VecNormalize.load(str(norm_path), make_vec_env(cfg, 1))
        model = PPO.load(str(zip_path), device="cpu")
    except CHECKPOINT_ERRORS as exc:
        raise UserError(f"checkpoint {zip_path.name} cannot be loaded ({type(exc).__name__}: {exc})") from None
    venv.training = False
    return LoadedRun(model=model, norm=venv, steps=int(model.num_timesteps), config_dict=to_dict(cfg),
                     checkpoint=zip_path)


def trained_with_symmetry(run: LoadedRun) -> bool:
    """Whether the run's PPO had the mirror-symmetry pass (the default for mirror averaging)."""
    return float(run.config_dict.get("ppo", {}).get("symmetry_coef", 0.0)) > 0.0


def torch_reference(run: LoadedRun, obs: np.ndarray, contract: RobotContract = CONTRACT,
                    mirror_average: bool = False) -> np.ndarray:
    """The SB3 path: VecNormalize + deterministic predict (optionally averaged with its
    mirror image), then the contract's post-processing."""
    def predict(o: np.ndarray) -> np.ndarray:
        return run.model.predict(run.norm.normalize_obs(o.astype(np.float32)), deterministic=True)[0]

    action = predict(obs)
    if mirror_average:
        # The run's whole observation (a privileged critic's block included) mirrors as its env says.
        perm, sign = run.norm.venv.observation_mirror
        action = 0.5 * (action + contract.mirror_action(predict(obs[..., perm] * sign)))
    return contract.action_to_offsets(action)


def export(run: LoadedRun, out: Path, contract: RobotContract = CONTRACT, mirror_average: bool | None = None) -> Path:
    """Write the ONNX policy; ``mirror_average=None`` averages with the mirror image when the
    run was trained with the symmetry pass."""
    import onnx

    if mirror_average is None:
        mirror_average = trained_with_symmetry(run)
    module = ExportedPolicy(run.model, run.norm, contract, mirror_average).eval()
    dummy = torch.zeros(1, contract.obs_dim)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module, (dummy,), str(out), input_names=[policy_file.INPUT_NAME],
            output_names=[policy_file.OUTPUT_ACTION, policy_file.OUTPUT_OFFSETS],
            dynamic_axes={policy_file.INPUT_NAME: {0: "batch"}, policy_file.OUTPUT_ACTION: {0: "batch"},
                          policy_file.OUTPUT_OFFSETS: {0: "batch"}},
            opset_version=17, dynamo=False)
    graph = onnx.load(str(out))
    meta = {
        policy_file.META_CONTRACT_JSON: contract.to_json(),
        policy_file.META_FINGERPRINT: contract.fingerprint,
        policy_file.META_CONTROL_RATE: str(contract.control_rate_hz),
        policy_file.META_TRAIN_CONFIG: json.dumps(run.config_dict, sort_keys=True),
        policy_file.META_STEPS: str(run.steps),
        policy_file.META_COMMIT: git_commit(),
        policy_file.META_MIRROR_AVERAGED: json.dumps(bool(mirror_average)),
        META_SERVO_PROFILE: SERVO_PROFILE.to_json(),  # the firmware gains and supply range it trained for
    }
    del graph.metadata_props[:]
    for key, value in meta.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    graph.doc_string = f"open-duck walking policy, {run.steps} steps, from {run.checkpoint.name}"
    onnx.save(graph, str(out))
    return out


def parity_observations(run: LoadedRun, n_random: int = 4000, n_recorded: int = 2000, seed: int = 0) -> np.ndarray:
    """Random observations around the normaliser's statistics plus observations recorded from the policy."""
    from duck.config import from_dict
    from duck.train.config import TrainConfig

    rng = np.random.default_rng(seed)
    std = np.sqrt(run.norm.obs_rms.var)
    random_obs = run.norm.obs_rms.mean + std * rng.normal(size=(n_random, len(std))) * 3.0
    cfg = from_dict(TrainConfig, run.config_dict)
    venv = make_vec_env(cfg, 16, seed=seed)
    obs = venv.reset()
    recorded = []
    while len(recorded) * 16 < n_recorded:
        recorded.append(obs.copy())
        action, _ = run.model.predict(run.norm.normalize_obs(obs), deterministic=True)
        obs, *_ = venv.step(action)
    venv.close()
    return np.concatenate([random_obs.astype(np.float32), np.concatenate(recorded).astype(np.float32)])


def parity_check(run: LoadedRun, onnx_path: Path, contract: RobotContract = CONTRACT) -> dict[str, float]:
    """Max |ONNX - torch| over random and recorded observations (the acceptance bound is 1e-5)."""
    loaded = policy_file.load_policy(onnx_path, contract)
    obs = parity_observations(run)
    _, offsets = loaded(policy_observation(obs, contract))
    reference = torch_reference(run, obs, contract, loaded.mirror_averaged)
    return {"observations": int(len(obs)), "max_abs_error": float(np.max(np.abs(offsets - reference)))}
