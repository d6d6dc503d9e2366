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

from a2c_ray.core import A2CConfig, ConfigError, image_parts, obs_dim, obs_layout
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


class NatureCNN(nn.Module):
    """The Nature DQN CNN (Mnih et al. 2015), as Stable-Baselines3's ``NatureCNN``.

    Three convolutions (32 8x8 stride 4, 64 4x4 stride 2, 64 3x3 stride 1, ReLU) and a linear
    layer to ``features`` units (ReLU). Pixels come in as [B, C, H, W] of values 0 to 255,
    any dtype, and are scaled by 1/255 here.
    """

    def __init__(self, shape: tuple[int, int, int], features: int = 512) -> None:
        super().__init__()
        channels, height, width = shape
        self.convs = nn.Sequential(
            nn.Conv2d(channels, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, channels, height, width)).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, features), nn.ReLU())
        self.features = features

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Features [B, features] of images [B, C, H, W] valued 0 to 255."""
        return self.linear(self.convs(pixels.float() / 255.0))


class ObsEncoder(nn.Module):
    """Encoded observations [B, obs_dim] to features: image parts through a NatureCNN each.

    The other parts pass through as they are (as floats). The features are concatenated in the
    order of the observation's parts, as Stable-Baselines3's ``CombinedExtractor``
    concatenates a Dict's extractors in its keys' order.
    """

    def __init__(self, obs_space: spaces.Space) -> None:
        super().__init__()
        images = image_parts(obs_space)
        self.parts = [(where, images.get(name)) for name, where in obs_layout(obs_space).items()]
        cnns = {str(i): NatureCNN(shape) for i, (_, shape) in enumerate(self.parts)
                if shape is not None}
        self.cnns = nn.ModuleDict(cnns)
        self.features = sum(
            self.cnns[str(i)].features if shape is not None else where.stop - where.start
            for i, (where, shape) in enumerate(self.parts))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Features [B, features] of encoded observations [B, obs_dim] (uint8 or float)."""
        out = []
        for i, (where, shape) in enumerate(self.parts):
            x = obs[:, where]
            if shape is None:
                out.append(x.float())
            else:
                out.append(self.cnns[str(i)](x.reshape(-1, *shape)))
        return out[0] if len(out) == 1 else torch.cat(out, dim=-1)


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
    """Actor and critic: the built-in networks, or the two modules of a user's ``network``.

    The built-in MLPs are separate by default or share one body (``shared_network``). Where the
    observation has images, each goes through a NatureCNN first, one shared by actor and critic
    (``shared_encoder``, SB3's A2C default) or one each, and the MLPs read its features
    (``n_layers`` 0: the heads read them directly, as SB3's CnnPolicy). Orthogonal
    initialisation follows the A2C/PPO baselines: gain sqrt(2) in hidden and convolution
    layers, 0.01 for the policy head and 1 for the value head. With ``use_sde`` the policy's
    parameters are the action mean followed by the actor body's output (gSDE's features).
    """

    def __init__(
        self, obs_space: spaces.Space, action_space: spaces.Space, config: A2CConfig
    ) -> None:
        super().__init__()
        self.activation = config.activation
        in_dim = obs_dim(obs_space)
        self.use_sde = config.use_sde
        images = image_parts(obs_space)
        if images and config.normalize_obs and len(images) == len(obs_layout(obs_space)):
            raise ConfigError(
                f"A2CConfig.normalize_obs=True does not apply to image observations "
                f"({obs_space}): expected normalize_obs=false (pixels are scaled by 1/255)")
        self.custom = config.network is not None
        if self.custom:
            self.dist = make_action_dist(action_space, config.log_std_init)
            self.actor, self.critic = load_network(config.network, in_dim, self.dist.n_params,
                                                   obs_space)
            return
        self.actor_encoder = self.critic_encoder = None
        if images:
            self.actor_encoder = ObsEncoder(obs_space)
            self.critic_encoder = (self.actor_encoder if config.shared_encoder
                                   else ObsEncoder(obs_space))
            in_dim = self.actor_encoder.features
        width = config.layer_size if config.n_layers else in_dim
        self.dist = make_action_dist(
            action_space, config.log_std_init,
            width if config.use_sde else None, config.sde_log_std_init,
        )
        self.shared = config.shared_network
        args = (in_dim, config.n_layers, config.layer_size, config.activation)
        self.actor_body = _mlp(*args)
        self.critic_body = None if self.shared else _mlp(*args)
        head_size = self.dist.action_dim if self.use_sde else self.dist.n_params
        self.actor_head = nn.Linear(width, head_size)
        self.critic_head = nn.Linear(width, 1)
        if config.ortho_init:
            hidden = [self.actor_body, self.actor_encoder]
            if not self.shared:
                hidden.append(self.critic_body)
            if self.critic_encoder is not self.actor_encoder:
                hidden.append(self.critic_encoder)
            for part in hidden:
                for m in [] if part is None else part.modules():
                    if isinstance(m, nn.Linear | nn.Conv2d):
                        nn.init.orthogonal_(m.weight, np.sqrt(2))
                        nn.init.zeros_(m.bias)
            nn.init.orthogonal_(self.actor_head.weight, 0.01)
            nn.init.zeros_(self.actor_head.bias)
            nn.init.orthogonal_(self.critic_head.weight, 1.0)
            nn.init.zeros_(self.critic_head.bias)

    @property
    def has_encoder(self) -> bool:
        """Whether observations go through a CNN (they have images) before the MLPs."""
        return not self.custom and self.actor_encoder is not None

    def policy_params(self, obs: torch.Tensor) -> torch.Tensor:
        """Distribution parameters [B, n_params] for encoded observations [B, obs_dim]."""
        if self.custom:
            return self.actor(obs.float())
        x = obs.float() if self.actor_encoder is None else self.actor_encoder(obs)
        latent = self.actor_body(x)
        if self.use_sde:
            return torch.cat([self.actor_head(latent), latent.detach()], dim=-1)
        return self.actor_head(latent)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) [B] for encoded observations [B, obs_dim]."""
        if self.custom:
            return self.critic(obs.float()).squeeze(-1)
        x = obs.float() if self.critic_encoder is None else self.critic_encoder(obs)
        body = self.actor_body if self.shared else self.critic_body
        return self.critic_head(body(x)).squeeze(-1)

    def params_and_value(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``policy_params(obs)`` and ``value(obs)``, sharing what actor and critic share.

        A shared CNN (or shared MLP body) runs once for both, so the joint loss's backward
        pass goes through it once.
        """
        if self.custom or self.critic_encoder is not self.actor_encoder:
            return self.policy_params(obs), self.value(obs)
        x = obs.float() if self.actor_encoder is None else self.actor_encoder(obs)
        latent = self.actor_body(x)
        critic_latent = latent if self.shared else self.critic_body(x)
        params = self.actor_head(latent)
        if self.use_sde:
            params = torch.cat([params, latent.detach()], dim=-1)
        return params, self.critic_head(critic_latent).squeeze(-1)

    def critic_parameters(self) -> list[nn.Parameter]:
        """Parameters that the value loss trains: the critic's encoder, body and head."""
        if self.custom:
            return list(self.critic.parameters())
        body = self.actor_body if self.shared else self.critic_body
        encoder = [] if self.critic_encoder is None else list(self.critic_encoder.parameters())
        return [*encoder, *body.parameters(), *self.critic_head.parameters()]

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
    user's ``network`` cannot be mirrored, and a CNN is faster in torch
    (benchmarks/returns/README.md, "Atari from pixels beside SB3"): their forward pass runs in
    torch (``numpy=False``).
    """

    def __init__(self, model: ActorCritic) -> None:
        self.model = model
        self.numpy = not (model.custom or model.has_encoder)
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
