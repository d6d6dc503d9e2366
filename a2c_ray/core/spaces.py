"""Supported spaces and encoded observations (numpy and gymnasium's spaces; no torch).

Every supported observation is encoded into one flat vector:

* an image, a Box of dtype uint8 bounded by 0 and 255 whose shape is HxWxC, CxHxW (the
  channels are the smallest dimension) or HxW (one channel): its pixels in channel-first
  order (C, H, W), flattened, as uint8; the network's CNN reshapes and scales them by 1/255;
* any other Box: flattened as float32, whatever its shape (a float image is a vector);
* Discrete: one-hot; MultiDiscrete: one one-hot per dimension, concatenated; MultiBinary:
  flattened as 0/1;
* Dict and Tuple of the above (nested too): each part encoded and concatenated, a Dict's in
  the order of its space's keys. gymnasium's ``spaces.Dict`` sorts the keys of a plain dict,
  so that is sorted key order unless the env built its space from an ordered list of pairs;
  Stable-Baselines3's ``CombinedExtractor`` concatenates a Dict's parts in the same order.

An observation that is one image, or a Dict or Tuple of images only, is encoded as uint8 (four
stacked 84x84 Atari frames are 28 KB a step, against 113 KB as float32) and stays uint8
through the rollout, the Ray object store and the batch; any other is float32 (a Dict's image
part among vectors then holds its pixel values 0 to 255 as floats).

Supported action spaces: Box, Discrete, MultiDiscrete and MultiBinary; their distributions
are in ``a2c_ray.model.distributions``. A CLI checks an env's spaces here before loading torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

SUPPORTED_OBS = ("Box (a uint8 HxWxC, CxHxW or HxW Box is an image), Discrete, MultiDiscrete, "
                 "MultiBinary, or a Dict or Tuple of them")
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


def image_shape(space: spaces.Space) -> tuple[int, int, int] | None:
    """(C, H, W) where ``space`` is an image (see the module's docstring), else None.

    Like Stable-Baselines3's ``is_image_space``, the channels are the smallest dimension:
    (4, 84, 84) is channel-first, (210, 160, 3) channel-last.
    """
    if not (isinstance(space, spaces.Box) and space.dtype == np.uint8
            and len(space.shape) in (2, 3)
            and np.all(space.low == 0) and np.all(space.high == 255)):
        return None
    shape = tuple(int(n) for n in space.shape)
    if len(shape) == 2:
        return (1, *shape)
    return shape if not _channels_last(space) else (shape[2], shape[0], shape[1])


def _channels_last(space: spaces.Box) -> bool:
    return len(space.shape) == 3 and int(np.argmin(space.shape)) != 0


def image_parts(space: spaces.Space) -> dict[str, tuple[int, int, int]]:
    """The image parts of an observation, {name: (C, H, W)}, named as by ``obs_layout``."""
    if isinstance(space, spaces.Dict | spaces.Tuple):
        out = {}
        for key, part in _parts(space):
            for name, shape in image_parts(part).items():
                out[f"{key}.{name}" if name else str(key)] = shape
        return out
    shape = image_shape(space)
    return {} if shape is None else {"": shape}


def obs_dtype(space: spaces.Space) -> np.dtype:
    """uint8 where every part of the observation is an image, float32 otherwise."""
    if isinstance(space, spaces.Dict | spaces.Tuple):
        kinds = {obs_dtype(part) for _, part in _parts(space)}
        return np.dtype(np.uint8) if kinds == {np.dtype(np.uint8)} else np.dtype(np.float32)
    return np.dtype(np.uint8) if image_shape(space) is not None else np.dtype(np.float32)


def vector_columns(space: spaces.Space) -> np.ndarray | None:
    """A bool mask [obs_dim] of the encoded columns that are not pixels; None: all are.

    Observation normalisation applies to these columns only.
    """
    images = image_parts(space)
    if not images:
        return None
    mask = np.ones(obs_dim(space), dtype=bool)
    layout = obs_layout(space)
    for name in images:
        mask[layout[name]] = False
    return mask


def obs_dim(space: spaces.Space) -> int:
    """Length of the flat vector an observation is encoded into."""
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
    """Encode a batch of N observations as [N, obs_dim(space)] of ``obs_dtype(space)``.

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
    if image_shape(space) is not None:
        pixels = np.asarray(obs, dtype=np.uint8)
        if _channels_last(space):
            pixels = pixels.transpose(0, 3, 1, 2)
        return pixels.reshape(pixels.shape[0], -1)
    obs = np.asarray(obs, dtype=np.float32)
    return obs.reshape(obs.shape[0], -1)


def check_spaces(obs_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise SpaceError unless both spaces are supported."""
    obs_dim(obs_space)
    if not isinstance(action_space, ACTION_SPACES):
        raise SpaceError(
            f"action space {action_space} is not supported: expected one of {SUPPORTED_ACTIONS}"
        )
