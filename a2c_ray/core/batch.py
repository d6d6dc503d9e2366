"""What sampling hands to learning and back, as typed numpy containers.

A ``RolloutWorker`` (sampling) turns a ``Broadcast`` into a ``Batch``; the ``Learner``
(learning) turns a ``Batch`` into an update and the next ``Broadcast``. Neither imports the
other: both import this module, which needs numpy only. One worker's batch and the
concatenation of several have the same type, so either is a valid ``Learner.update`` input.

Arrays are shaped [T, N, ...]: T steps of a rollout from N environments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from a2c_ray.core.stats import Moments


@dataclass(frozen=True)
class Broadcast:
    """The learner's policy for one rollout: weights, frozen normaliser statistics, a version."""

    version: int
    weights: dict[str, np.ndarray]  # the model's state dict as numpy arrays
    obs_mean: np.ndarray  # [D]
    obs_var: np.ndarray  # [D]


@dataclass(frozen=True)
class Batch:
    """Rollouts of one or more workers, joined along the env axis in worker order."""

    obs: np.ndarray  # [T, N, D] float32: what the policy saw (normalised if configured)
    actions: np.ndarray  # [T, N, ...]: the distribution's actions, before to_env
    rewards: np.ndarray  # [T, N] float32: raw rewards
    terminated: np.ndarray  # [T, N] bool
    truncated: np.ndarray  # [T, N] bool
    last_obs: np.ndarray  # [N, D]: the observation after the last step, normalised like obs
    final_idx: np.ndarray  # [M, 2] int64: (t, n) of each truncated episode's last step
    final_obs: np.ndarray  # [M, D]: those episodes' final observations, for bootstrapping
    obs_moments: tuple[Moments, ...]  # per worker: raw observations seen (empty: not tracked)
    ret_moments: tuple[Moments, ...]  # per worker: discounted returns seen (empty: not tracked)
    episode_returns: np.ndarray  # [E] float64: episodes finished in this batch
    episode_lengths: np.ndarray  # [E] int64
    version: int  # the Broadcast.version sampled with
    # [E] float64: 1.0 or 0.0 where the episode's last info had ``is_success``, else NaN
    episode_successes: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def num_steps(self) -> int:
        """Environment steps in the batch: T * N."""
        return int(self.rewards.size)

    @classmethod
    def concat(cls, batches: Sequence[Batch]) -> Batch:
        """Join worker batches along the env axis, in worker order.

        Indices into the env axis (``final_idx``) are shifted by the envs of earlier workers;
        each worker's moments stay separate so the learner can merge them exactly.
        """
        if not batches:
            raise ValueError("no batches to concatenate")
        versions = {b.version for b in batches}
        if len(versions) != 1:
            raise RuntimeError(f"batches sampled with different weight versions {sorted(versions)}")
        if len(batches) == 1:
            return batches[0]
        offsets = np.cumsum([0] + [b.rewards.shape[1] for b in batches[:-1]])

        def cat(name: str, axis: int) -> np.ndarray:
            return np.concatenate([getattr(b, name) for b in batches], axis=axis)

        return cls(
            obs=cat("obs", 1), actions=cat("actions", 1), rewards=cat("rewards", 1),
            terminated=cat("terminated", 1), truncated=cat("truncated", 1),
            last_obs=cat("last_obs", 0),
            final_idx=np.concatenate([b.final_idx + np.array([0, off])
                                      for b, off in zip(batches, offsets, strict=True)]),
            final_obs=cat("final_obs", 0),
            obs_moments=tuple(m for b in batches for m in b.obs_moments),
            ret_moments=tuple(m for b in batches for m in b.ret_moments),
            episode_returns=cat("episode_returns", 0), episode_lengths=cat("episode_lengths", 0),
            version=versions.pop(), episode_successes=cat("episode_successes", 0),
        )


__all__ = ["Batch", "Broadcast"]
