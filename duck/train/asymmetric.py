"""An asymmetric actor-critic for SB3 PPO: the critic sees privileged sim state, the actor does not.

The VecEnv (``DuckVecEnv(privileged=True)``) appends the critic-only fields after the
contract observation. The actor's feature extractor keeps only that leading contract
block, so the actor (and so the exported ONNX) is exactly a contract policy; the critic
gets everything. The value of a state right after a kick depends on the base velocity,
which the robot cannot measure: without it the critic cannot tell a kicked state from a
calm one, and the advantages PPO learns recovery from are noise.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, MlpExtractor


class LeadingBlock(BaseFeaturesExtractor):
    """The first ``size`` entries of a flat observation."""

    def __init__(self, observation_space: gym.spaces.Box, size: int):
        super().__init__(observation_space, features_dim=size)
        self.size = size

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return observations[..., :self.size]


class SplitMlpExtractor(torch.nn.Module):
    """SB3's MlpExtractor interface with different input widths for actor and critic."""

    def __init__(self, actor_dim: int, critic_dim: int, net_arch: dict[str, list[int]],
                 activation_fn: type[torch.nn.Module], device: torch.device | str):
        super().__init__()
        actor = MlpExtractor(actor_dim, {"pi": net_arch["pi"], "vf": []}, activation_fn, device)
        critic = MlpExtractor(critic_dim, {"pi": [], "vf": net_arch["vf"]}, activation_fn, device)
        self.policy_net, self.value_net = actor.policy_net, critic.value_net
        self.latent_dim_pi, self.latent_dim_vf = actor.latent_dim_pi, critic.latent_dim_vf

    def forward(self, features: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        pi_features, vf_features = features
        return self.forward_actor(pi_features), self.forward_critic(vf_features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)


class AsymmetricActorCriticPolicy(ActorCriticPolicy):
    """``ActorCriticPolicy`` whose actor reads the first ``actor_obs_dim`` observation entries
    and whose critic reads all of them. ``net_arch`` must be ``{"pi": [...], "vf": [...]}``."""

    def __init__(self, *args: Any, actor_obs_dim: int, **kwargs: Any):
        self.actor_obs_dim = actor_obs_dim
        kwargs["share_features_extractor"] = False
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        # Called from _build(), after the base class made two flatten extractors; the actor's
        # is replaced by the leading-block one before the optimizer collects the parameters.
        self.pi_features_extractor = LeadingBlock(self.observation_space, self.actor_obs_dim)
        self.features_extractor = self.pi_features_extractor
        self.mlp_extractor = SplitMlpExtractor(self.actor_obs_dim, self.vf_features_extractor.features_dim,
                                               self.net_arch, self.activation_fn, self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["actor_obs_dim"] = self.actor_obs_dim
        return data
