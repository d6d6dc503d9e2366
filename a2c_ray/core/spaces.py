"""Supported spaces and encoded observations (numpy and gymnasium's spaces; no torch).

Every supported observation is encoded into one flat float32 vector:

* Box: flattened, whatever its shape and dtype (an image is not yet told apart);
* Discrete: one-hot; MultiDiscrete: one one-hot per dimension, concatenated; MultiBinary:
  flattened as 0/1;
* Dict and Tuple of the above (nested too): each part encoded and concatenated, a Dict's in
  the order of its space's keys. gymnasium's ``spaces.Dict`` sorts the keys of a plain dict,
  so that is sorted key order unless the env built its space from an ordered list of pairs;
  Stable-Baselines3's ``CombinedExtractor`` concatenates a Dict's parts in the same order.

Supported action spaces: Box, Discrete, MultiDiscrete and MultiBinary; their distributions
are in ``a2c_ray.model.distributions``. A CLI checks an env's spaces here before loading torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

SUPPORTED_OBS = "Box, Discrete, MultiDiscrete, MultiBinary, or a Dict or Tuple of them"
SUPPORTED_ACTIONS = "Box, Discrete, MultiDiscrete, MultiBinary"
ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


class SpaceError(ValueError):
    """The environment's observation or action space is not supported."""


# --- observations -------------------------------------------------------------------------

def _parts(space: spaces.Dict | spaces.Tuple) -> list[tuple[Any, spaces.Space]]:
    """A Dict's (key, space) pairs in its order, or a Tuple's (index, space) pairs."""
    if isinstance(space, spaces.Dict):
        return list(space.spaces.items())
    return list(enumerate(space.spaces))


def obs_dim(space: spaces.Space) -> int:
    """Length of the flat float vector an observation is encoded into."""
    if isinstance(space, spaces.Box | spaces.MultiBinary):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, spaces.Dict | spaces.Tuple):
        dims = []
        for key, part in _parts(space):
            try:
                dims.append(obs_dim(part))
            except SpaceError:
                raise SpaceError(f"observation space {space}: its part {key!r}, {part}, is not "
                                 f"supported: expected one of {SUPPORTED_OBS}") from None
        return sum(dims)
    raise SpaceError(
        f"observation space {space} is not supported: expected one of {SUPPORTED_OBS}"
    )


def obs_layout(space: spaces.Space) -> dict[str, slice]:
    """Where each part of an observation lies in its encoded vector, by the part's name.

    A Dict's parts are named by their keys, a Tuple's by their index, nested ones joined with
    a dot (``observation.point``); a space of one part has the one name ``""``. A network
    factory that takes ``obs_space`` splits its input with this (docs/algorithm.md).
    """
    if not isinstance(space, spaces.Dict | spaces.Tuple):
        return {"": slice(0, obs_dim(space))}
    layout, start = {}, 0
    for key, part in _parts(space):
        for name, where in obs_layout(part).items():
            full = f"{key}.{name}" if name else str(key)
            layout[full] = slice(start + where.start, start + where.stop)
        start += obs_dim(part)
    return layout


def _one_hot(values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((values.shape[0], n), dtype=np.float32)
    out[np.arange(values.shape[0]), values] = 1.0
    return out


def encode_obs(space: spaces.Space, obs: Any) -> np.ndarray:
    """Encode a batch of N observations as float32 [N, obs_dim(space)].

    ``obs`` is an array [N, ...] or a list of N observations; for a Dict space a list of N
    dicts or one dict of batches, for a Tuple space a list of N tuples.
    """
    if isinstance(space, spaces.Dict | spaces.Tuple):
        return np.concatenate([encode_obs(part, obs[key] if isinstance(obs, Mapping)
                                          else [o[key] for o in obs])
                               for key, part in _parts(space)], axis=1)
    if isinstance(space, spaces.Discrete):
        idx = np.asarray(obs, dtype=np.int64).reshape(-1) - int(space.start)
        return _one_hot(idx, int(space.n))
    if isinstance(space, spaces.MultiDiscrete):
        values = np.asarray(obs, dtype=np.int64)
        values = values.reshape(values.shape[0], -1) - np.asarray(space.start).reshape(-1)
        nvec = np.asarray(space.nvec).reshape(-1)
        return np.concatenate([_one_hot(values[:, j], int(n)) for j, n in enumerate(nvec)],
                              axis=1)
    obs = np.asarray(obs, dtype=np.float32)
    return obs.reshape(obs.shape[0], -1)


def check_spaces(obs_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise SpaceError unless both spaces are supported."""
    obs_dim(obs_space)
    if not isinstance(action_space, ACTION_SPACES):
        raise SpaceError(
            f"action space {action_space} is not supported: expected one of {SUPPORTED_ACTIONS}"
        )
