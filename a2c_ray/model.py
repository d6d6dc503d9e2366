"""Layer 2, model (torch): the actor-critic network and its numpy mirror for sampling."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from a2c_ray.config import A2CConfig
from a2c_ray.distributions import make_action_dist
from a2c_ray.spaces import obs_dim

# GELU is the tanh approximation, which the numpy sampling path computes the same way.
_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU,
    "gelu": lambda: nn.GELU(approximate="tanh"),
}
_NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3))),
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
        self.activation = config.activation
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


class NumpyActor:
    """The actor's forward pass and action sampling in numpy, for rollout workers.

    At env batch sizes (8 to 64 rows) a small MLP costs several times less in numpy than in
    torch per call, and the sampler calls it once per env step. ``refresh`` copies the
    model's current weights; the learner still computes every log-probability in torch.
    """

    def __init__(self, model: ActorCritic) -> None:
        self.model = model
        self.activation = _NUMPY_ACTIVATIONS[model.activation]
        self.refresh()

    def refresh(self) -> None:
        """Take the model's current weights."""
        linears = [m for m in self.model.actor_body if isinstance(m, nn.Linear)]
        linears.append(self.model.actor_head)
        self.layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                       for m in linears]
        self.sample = self.model.dist.numpy_sampler()

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Sampled actions (internal form) for encoded observations [N, obs_dim]."""
        h = obs
        for w, b in self.layers[:-1]:
            h = self.activation(h @ w + b)
        w, b = self.layers[-1]
        return self.sample(h @ w + b, rng)
