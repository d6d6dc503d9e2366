"""The actor-critic network: MLP bodies, an action distribution head and a value head."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from a2c_ray.config import A2CConfig
from a2c_ray.spaces import make_action_dist, obs_dim

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU,
}


def _mlp(in_dim: int, n_layers: int, width: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers += [nn.Linear(in_dim if i == 0 else width, width), _ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Actor and critic MLPs, separate by default or sharing one body.

    Orthogonal initialisation follows the A2C/PPO baselines: gain sqrt(2) in hidden
    layers, 0.01 for the policy head and 1 for the value head.
    """

    def __init__(
        self, obs_space: spaces.Space, action_space: spaces.Space, config: A2CConfig
    ) -> None:
        super().__init__()
        in_dim = obs_dim(obs_space)
        self.dist = make_action_dist(action_space, config.log_std_init)
        self.shared = config.shared_network
        args = (in_dim, config.n_layers, config.layer_size, config.activation)
        self.actor_body = _mlp(*args)
        self.critic_body = None if self.shared else _mlp(*args)
        self.actor_head = nn.Linear(config.layer_size, self.dist.n_params)
        self.critic_head = nn.Linear(config.layer_size, 1)
        if config.ortho_init:
            bodies = [self.actor_body] + ([] if self.shared else [self.critic_body])
            for body in bodies:
                for m in body:
                    if isinstance(m, nn.Linear):
                        nn.init.orthogonal_(m.weight, np.sqrt(2))
                        nn.init.zeros_(m.bias)
            nn.init.orthogonal_(self.actor_head.weight, 0.01)
            nn.init.zeros_(self.actor_head.bias)
            nn.init.orthogonal_(self.critic_head.weight, 1.0)
            nn.init.zeros_(self.critic_head.bias)

    def policy_params(self, obs: torch.Tensor) -> torch.Tensor:
        """Distribution parameters [B, n_params] for observations [B, obs_dim]."""
        return self.actor_head(self.actor_body(obs))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) [B] for observations [B, obs_dim]."""
        body = self.actor_body if self.shared else self.critic_body
        return self.critic_head(body(obs)).squeeze(-1)

    def critic_parameters(self) -> list[nn.Parameter]:
        """Parameters that the value loss trains: the critic body (or shared body) and head."""
        body = self.actor_body if self.shared else self.critic_body
        return [*body.parameters(), *self.critic_head.parameters()]

    @torch.no_grad()
    def act(
        self, obs: np.ndarray, generator: torch.Generator | None, deterministic: bool = False
    ) -> np.ndarray:
        """Actions (internal form) for a batch of encoded observations [N, obs_dim]."""
        params = self.policy_params(torch.from_numpy(obs))
        actions = self.dist.mode(params) if deterministic else self.dist.sample(params, generator)
        return actions.numpy()
