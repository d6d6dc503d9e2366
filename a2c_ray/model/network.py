"""The actor-critic network and its numpy mirror for sampling."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from a2c_ray.core import A2CConfig, ConfigError, obs_dim
from a2c_ray.model.distributions import make_action_dist

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


def _takes_space(factory: Callable[..., Any]) -> bool:
    """Whether a factory takes the keyword ``obs_space`` (by name, or as ``**kwargs``)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature Python can read
        return False
    return any(p.name == "obs_space" and p.kind is not p.POSITIONAL_ONLY
               or p.kind is p.VAR_KEYWORD for p in params)


def load_network(path: str, obs_size: int, n_params: int,
                 obs_space: spaces.Space | None = None) -> tuple[nn.Module, nn.Module]:
    """Call the factory ``package.module:function`` named by ``A2CConfig.network``.

    It is called as ``function(obs_dim, n_params)``, and with ``obs_space=`` the env's
    observation space too where it takes that keyword (to split a Dict's encoded parts:
    ``core.spaces.obs_layout``). Checks that it returns ``(actor, critic)``, two modules that
    map a float32 batch [B, obs_size] to [B, n_params] and [B, 1].

    Raises:
        ConfigError: one line naming the field and what was found instead.
    """
    where = f"A2CConfig.network={path!r}"
    module_name, _, name = path.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), name)
    except Exception as err:  # noqa: BLE001  (an import runs arbitrary code)
        raise ConfigError(f"{where} cannot be imported: {_one_line(err)}") from None
    extra = {"obs_space": obs_space} if obs_space is not None and _takes_space(factory) else {}
    call = f"{name}(obs_dim={obs_size}, n_params={n_params}{', obs_space=...' if extra else ''})"
    try:
        made = factory(obs_size, n_params, **extra)
    except Exception as err:  # noqa: BLE001
        raise ConfigError(f"{where}: {call} raised {_one_line(err)}") from None
    if not (isinstance(made, tuple | list) and len(made) == 2
            and all(isinstance(m, nn.Module) for m in made)):
        found = (f"({', '.join(type(m).__name__ for m in made)})"
                 if isinstance(made, tuple | list) else type(made).__name__)
        raise ConfigError(f"{where}: {call} returned {found}: expected (actor, critic), two "
                          "torch.nn.Module")
    actor, critic = made
    batch = torch.zeros(2, obs_size)
    try:
        with torch.no_grad():
            shapes = [tuple(actor(batch).shape), tuple(critic(batch).shape)]
    except Exception as err:  # noqa: BLE001
        raise ConfigError(f"{where}: a forward pass on a [2, {obs_size}] batch raised "
                          f"{_one_line(err)}") from None
    if shapes != [(2, n_params), (2, 1)]:
        found = ", ".join(f"{role} {list(shape)}" for role, shape in
                          zip(("actor", "critic"), shapes, strict=True))
        raise ConfigError(f"{where} maps a [2, {obs_size}] batch to {found}: expected actor "
                          f"[2, {n_params}], critic [2, 1]")
    return actor, critic


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


class ActorCritic(nn.Module):
    """Actor and critic: the built-in MLPs, or the two modules of a user's ``network``.

    The MLPs are separate by default or share one body (``shared_network``). Their orthogonal
    initialisation follows the A2C/PPO baselines: gain sqrt(2) in hidden layers, 0.01 for the
    policy head and 1 for the value head. With ``use_sde`` the policy's parameters are the
    action mean followed by the actor body's output (gSDE's features).
    """

    def __init__(
        self, obs_space: spaces.Space, action_space: spaces.Space, config: A2CConfig
    ) -> None:
        super().__init__()
        self.activation = config.activation
        in_dim = obs_dim(obs_space)
        self.use_sde = config.use_sde
        self.dist = make_action_dist(
            action_space, config.log_std_init,
            config.layer_size if config.use_sde else None, config.sde_log_std_init,
        )
        self.custom = config.network is not None
        if self.custom:
            self.actor, self.critic = load_network(config.network, in_dim, self.dist.n_params,
                                                   obs_space)
            return
        self.shared = config.shared_network
        args = (in_dim, config.n_layers, config.layer_size, config.activation)
        self.actor_body = _mlp(*args)
        self.critic_body = None if self.shared else _mlp(*args)
        head_size = self.dist.action_dim if self.use_sde else self.dist.n_params
        self.actor_head = nn.Linear(config.layer_size, head_size)
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
        if self.custom:
            return self.actor(obs)
        latent = self.actor_body(obs)
        if self.use_sde:
            return torch.cat([self.actor_head(latent), latent.detach()], dim=-1)
        return self.actor_head(latent)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) [B] for observations [B, obs_dim]."""
        if self.custom:
            return self.critic(obs).squeeze(-1)
        body = self.actor_body if self.shared else self.critic_body
        return self.critic_head(body(obs)).squeeze(-1)

    def critic_parameters(self) -> list[nn.Parameter]:
        """Parameters that the value loss trains: the critic body (or shared body) and head."""
        if self.custom:
            return list(self.critic.parameters())
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
    model's current weights; the learner still computes every log-probability in torch. A
    user's ``network`` cannot be mirrored: its forward pass runs in torch (``numpy=False``).
    """

    def __init__(self, model: ActorCritic) -> None:
        self.model = model
        self.numpy = not model.custom
        self.activation = _NUMPY_ACTIVATIONS[model.activation]
        self.refresh()

    def refresh(self) -> None:
        """Take the model's current weights."""
        self.sample = self.model.dist.numpy_sampler()
        if not self.numpy:
            return
        linears = [m for m in self.model.actor_body if isinstance(m, nn.Linear)]
        linears.append(self.model.actor_head)
        self.layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                       for m in linears]

    def params(self, obs: np.ndarray) -> np.ndarray:
        """Distribution parameters [N, n_params] for encoded observations [N, obs_dim]."""
        if not self.numpy:
            with torch.no_grad():
                return self.model.policy_params(torch.from_numpy(obs)).numpy()
        h = obs
        for w, b in self.layers[:-1]:
            h = self.activation(h @ w + b)
        w, b = self.layers[-1]
        out = h @ w + b
        return np.concatenate([out, h], axis=-1) if self.model.use_sde else out

    def act(
        self, obs: np.ndarray, rng: np.random.Generator, noise: np.ndarray | None = None
    ) -> np.ndarray:
        """Sampled actions (internal form) for encoded observations [N, obs_dim].

        With gSDE, ``noise`` holds each env's noise matrix [N, latent_dim, action_dim] and the
        draw is ``mean + features @ noise`` (``rng`` is not used).
        """
        params = self.params(obs)
        return self.sample(params, noise) if self.model.use_sde else self.sample(params, rng)


def check_model(config: A2CConfig, obs_space: spaces.Space, action_space: spaces.Space) -> None:
    """Build the model once, so that a bad ``network`` or ``use_sde`` fails before a run starts.

    Raises:
        ConfigError: one line naming the field.
    """
    ActorCritic(obs_space, action_space, config)
