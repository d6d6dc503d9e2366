"""Supported spaces and encoded observations (numpy and gymnasium's spaces; no torch).

Supported observation spaces: Box of any shape (flattened), Discrete (one-hot).
Supported action spaces: Box, Discrete, MultiDiscrete and MultiBinary; their distributions
are in ``a2c_ray.model.distributions``. A CLI checks an env's spaces here before loading torch.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

SUPPORTED_OBS = "Box, Discrete"
SUPPORTED_ACTIONS = "Box, Discrete, MultiDiscrete, MultiBinary"
ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


class SpaceError(ValueError):
    """The environment's observation or action space is not supported."""


# --- observations -------------------------------------------------------------------------

def obs_dim(space: spaces.Space) -> int:
    """Length of the flat float vector an observation is encoded into."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    raise SpaceError(
        f"observation space {space} is not supported: expected one of {SUPPORTED_OBS}"
    )


def encode_obs(space: spaces.Space, obs: np.ndarray) -> np.ndarray:
    """Encode a batch of observations [N, ...] as float32 [N, obs_dim(space)]."""
    if isinstance(space, spaces.Discrete):
        idx = np.asarray(obs, dtype=np.int64).reshape(-1) - int(space.start)
        out = np.zeros((idx.shape[0], int(space.n)), dtype=np.float32)
        out[np.arange(idx.shape[0]), idx] = 1.0
        return out
    obs = np.asarray(obs, dtype=np.float32)
    return obs.reshape(obs.shape[0], -1)


def check_spaces(obs_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise SpaceError unless both spaces are supported."""
    obs_dim(obs_space)
    if not isinstance(action_space, ACTION_SPACES):
        raise SpaceError(
            f"action space {action_space} is not supported: expected one of {SUPPORTED_ACTIONS}"
        )
