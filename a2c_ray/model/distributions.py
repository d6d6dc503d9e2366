"""The one factory from action space to action distribution.

Box actions get a diagonal Gaussian (or gSDE's state-dependent one), Discrete a categorical,
MultiDiscrete independent categoricals and MultiBinary independent Bernoullis. Every
distribution works on flat parameter vectors produced by the actor's last layer and on actions
in an internal form (flat float32 for Box, zero-based int64 indices otherwise); ``to_env``
turns internal actions into what ``env.step`` expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from a2c_ray.core import SUPPORTED_ACTIONS, ConfigError, SpaceError


class ActionDist(nn.Module):
    """A distribution over a batch of actions, parameterised by flat vectors [B, n_params]."""

    n_params: int
    action_shape: tuple[int, ...]  # internal action shape per env
    action_dtype: np.dtype

    def sample(self, params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Draw one action per row."""
        raise NotImplementedError

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        """The deterministic action: the mean for Box, the most likely value otherwise."""
        raise NotImplementedError

    def log_prob(self, params: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Log-probability [B] of actions [B, ...] (summed over action components)."""
        raise NotImplementedError

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        """Entropy [B] (summed over action components)."""
        raise NotImplementedError

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        """Internal actions [N, ...] to the form env.step takes."""
        raise NotImplementedError

    def numpy_sampler(self) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
        """A numpy version of ``sample`` with the current parameters frozen in.

        Rollout workers sample through it: at env batch sizes numpy is several times faster
        than torch per call. Its draws follow the same distribution as ``sample``.
        """
        raise NotImplementedError


class DiagGaussian(ActionDist):
    """Gaussian with a learned state-independent log-std; actions clipped only in to_env."""

    def __init__(self, space: spaces.Box, log_std_init: float) -> None:
        super().__init__()
        self.space_shape = space.shape
        self.n_params = int(np.prod(space.shape))
        self.action_shape = (self.n_params,)
        self.action_dtype = np.dtype(np.float32)
        self.log_std = nn.Parameter(torch.full((self.n_params,), float(log_std_init)))
        self.low = np.asarray(space.low, dtype=np.float32).reshape(-1)
        self.high = np.asarray(space.high, dtype=np.float32).reshape(-1)

    def sample(self, params, generator):  # noqa: D102
        noise = torch.randn(params.shape, generator=generator, dtype=params.dtype)
        return params + self.log_std.exp() * noise

    def mode(self, params):  # noqa: D102
        return params

    def log_prob(self, params, actions):  # noqa: D102
        z = (actions - params) / self.log_std.exp()
        per_dim = -0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)
        return per_dim.sum(-1)

    def entropy(self, params):  # noqa: D102
        per_dim = 0.5 + 0.5 * math.log(2 * math.pi) + self.log_std
        return per_dim.sum().expand(params.shape[0])

    def to_env(self, actions):  # noqa: D102
        clipped = np.clip(actions, self.low, self.high)
        return clipped.reshape((actions.shape[0], *self.space_shape))

    def numpy_sampler(self):  # noqa: D102
        std = self.log_std.detach().exp().numpy().copy()

        def sample(params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return params + std * rng.standard_normal(params.shape, dtype=np.float32)

        return sample


class StateDependentNoise(ActionDist):
    """gSDE (Raffin et al. 2021): Gaussian exploration whose noise is a function of the state.

    The actor's parameters are the action mean and its last hidden features ``z`` (detached,
    as in SB3's default ``learn_features=False``), ``[B, action_dim + latent_dim]``. Noise is
    ``z @ E`` with a matrix ``E`` [latent_dim, action_dim] of entries ``N(0, sigma_ij^2)``,
    ``sigma = exp(log_std)``; each env holds its own ``E`` for many steps (``numpy_noise``).
    Over ``E`` the action is Gaussian with variance ``(z^2) @ (sigma^2)`` (plus 1e-6), which
    gives ``log_prob`` and ``entropy`` (SB3's ``StateDependentNoiseDistribution`` with
    ``full_std=True``, ``use_expln=False``, no squashing). ``sample`` draws a fresh ``E`` per row.
    """

    EPS = 1e-6  # SB3's variance floor

    def __init__(self, space: spaces.Box, latent_dim: int, log_std_init: float) -> None:
        super().__init__()
        self.space_shape = space.shape
        self.action_dim = int(np.prod(space.shape))
        self.latent_dim = latent_dim
        self.n_params = self.action_dim + latent_dim
        self.action_shape = (self.action_dim,)
        self.action_dtype = np.dtype(np.float32)
        self.log_std = nn.Parameter(torch.full((latent_dim, self.action_dim), float(log_std_init)))
        self.low = np.asarray(space.low, dtype=np.float32).reshape(-1)
        self.high = np.asarray(space.high, dtype=np.float32).reshape(-1)

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean [B, action_dim], hidden features [B, latent_dim])."""
        return params[:, : self.action_dim], params[:, self.action_dim :]

    def _std(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, latent = self.split(params)
        variance = latent.pow(2) @ self.log_std.exp().pow(2)  # [B, action_dim]
        return mean, torch.sqrt(variance + self.EPS)

    def sample(self, params, generator):  # noqa: D102
        mean, std = self._std(params)
        return mean + std * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)

    def mode(self, params):  # noqa: D102
        return self.split(params)[0]

    def log_prob(self, params, actions):  # noqa: D102
        mean, std = self._std(params)
        z = (actions - mean) / std
        per_dim = -0.5 * z.pow(2) - std.log() - 0.5 * math.log(2 * math.pi)
        return per_dim.sum(-1)

    def entropy(self, params):  # noqa: D102
        _, std = self._std(params)
        return (0.5 + 0.5 * math.log(2 * math.pi) + std.log()).sum(-1)

    def to_env(self, actions):  # noqa: D102
        clipped = np.clip(actions, self.low, self.high)
        return clipped.reshape((actions.shape[0], *self.space_shape))

    def numpy_noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Fresh noise matrices ``E`` [n, latent_dim, action_dim], one per env."""
        std = self.log_std.detach().exp().numpy()
        shape = (n, self.latent_dim, self.action_dim)
        return std * rng.standard_normal(shape, dtype=np.float32)

    def numpy_sampler(self):  # noqa: D102
        """Actions from parameters and each row's own noise matrix: ``mean + z @ E``."""
        a = self.action_dim

        def sample(params: np.ndarray, noise: np.ndarray) -> np.ndarray:
            latent = params[:, a:]
            return params[:, :a] + np.einsum("bl,bla->ba", latent, noise)

        return sample


class Categorical(ActionDist):
    """One categorical over space.n values, from logits."""

    def __init__(self, space: spaces.Discrete) -> None:
        super().__init__()
        self.n_params = int(space.n)
        self.start = int(space.start)
        self.action_shape = ()
        self.action_dtype = np.dtype(np.int64)

    def sample(self, params, generator):  # noqa: D102
        probs = torch.softmax(params, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    def mode(self, params):  # noqa: D102
        return params.argmax(-1)

    def log_prob(self, params, actions):  # noqa: D102
        logp = torch.log_softmax(params, dim=-1)
        return logp.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self, params):  # noqa: D102
        logp = torch.log_softmax(params, dim=-1)
        return -(logp.exp() * logp).sum(-1)

    def to_env(self, actions):  # noqa: D102
        return actions + self.start

    def numpy_sampler(self):  # noqa: D102
        return _sample_categorical


class MultiCategorical(ActionDist):
    """Independent categoricals, one per entry of MultiDiscrete.nvec."""

    def __init__(self, space: spaces.MultiDiscrete) -> None:
        super().__init__()
        self.nvec = [int(n) for n in np.asarray(space.nvec).reshape(-1)]
        self.space_shape = space.shape
        self.start = np.asarray(space.start, dtype=np.int64).reshape(-1)
        self.n_params = sum(self.nvec)
        self.action_shape = (len(self.nvec),)
        self.action_dtype = np.dtype(np.int64)
        self._cat = Categorical(spaces.Discrete(2))

    def _split(self, params):
        return torch.split(params, self.nvec, dim=-1)

    def sample(self, params, generator):  # noqa: D102
        return torch.stack([self._cat.sample(p, generator) for p in self._split(params)], -1)

    def mode(self, params):  # noqa: D102
        return torch.stack([p.argmax(-1) for p in self._split(params)], -1)

    def log_prob(self, params, actions):  # noqa: D102
        parts = [self._cat.log_prob(p, actions[..., i]) for i, p in enumerate(self._split(params))]
        return torch.stack(parts, -1).sum(-1)

    def entropy(self, params):  # noqa: D102
        return torch.stack([self._cat.entropy(p) for p in self._split(params)], -1).sum(-1)

    def to_env(self, actions):  # noqa: D102
        return (actions + self.start).reshape((actions.shape[0], *self.space_shape))

    def numpy_sampler(self):  # noqa: D102
        splits = np.cumsum(self.nvec)[:-1]

        def sample(params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            parts = np.split(params, splits, axis=-1)
            return np.stack([_sample_categorical(p, rng) for p in parts], -1)

        return sample


class Bernoulli(ActionDist):
    """Independent Bernoullis, one per entry of MultiBinary, from logits."""

    def __init__(self, space: spaces.MultiBinary) -> None:
        super().__init__()
        self.space_shape = space.shape
        self.n_params = int(np.prod(space.shape))
        self.action_shape = (self.n_params,)
        self.action_dtype = np.dtype(np.int64)

    def sample(self, params, generator):  # noqa: D102
        u = torch.rand(params.shape, generator=generator, dtype=params.dtype)
        return (u < torch.sigmoid(params)).long()

    def mode(self, params):  # noqa: D102
        return (params > 0).long()

    def log_prob(self, params, actions):  # noqa: D102
        a = actions.to(params.dtype)
        # log sigmoid(x) for a=1, log sigmoid(-x) for a=0
        return -nn.functional.binary_cross_entropy_with_logits(
            params, a, reduction="none"
        ).sum(-1)

    def entropy(self, params):  # noqa: D102
        p = torch.sigmoid(params)
        return nn.functional.binary_cross_entropy_with_logits(params, p, reduction="none").sum(-1)

    def to_env(self, actions):  # noqa: D102
        return actions.astype(np.int8).reshape((actions.shape[0], *self.space_shape))

    def numpy_sampler(self):  # noqa: D102
        def sample(params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            u = rng.random(params.shape, dtype=np.float32)
            return (u * (1.0 + np.exp(-params)) < 1.0).astype(np.int64)  # u < sigmoid(x)

        return sample


def _sample_categorical(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF draw from softmax(logits) [B, n]; returns indices [B]."""
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    cdf = np.cumsum(probs, -1)
    u = rng.random((logits.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(-1), logits.shape[-1] - 1).astype(np.int64)


def make_action_dist(
    space: spaces.Space, log_std_init: float = 0.0, sde_latent_dim: int | None = None,
    sde_log_std_init: float = -2.0,
) -> ActionDist:
    """The one place that maps an action space to its distribution.

    Handles every type in ``a2c_ray.core.spaces.ACTION_SPACES`` (tests/test_spaces.py checks it).
    ``sde_latent_dim`` asks for gSDE over features of that size (Box spaces only).
    """
    if sde_latent_dim is not None:
        if not isinstance(space, spaces.Box):
            raise ConfigError(f"A2CConfig.use_sde=True needs a Box action space, not {space}: "
                              "expected use_sde=false")
        return StateDependentNoise(space, sde_latent_dim, sde_log_std_init)
    if isinstance(space, spaces.Box):
        return DiagGaussian(space, log_std_init)
    if isinstance(space, spaces.Discrete):
        return Categorical(space)
    if isinstance(space, spaces.MultiDiscrete):
        return MultiCategorical(space)
    if isinstance(space, spaces.MultiBinary):
        return Bernoulli(space)
    raise SpaceError(
        f"action space {space} is not supported: expected one of {SUPPORTED_ACTIONS}"
    )
