"""Running mean and variance of observations and returns (numpy).

The learner owns these statistics; samplers receive a frozen copy with every broadcast and send
back the moments of what they saw, which the learner merges exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Moments = tuple[float, np.ndarray, np.ndarray]  # (count, mean, var) of a set of samples


@dataclass
class RunningMeanStd:
    """Running mean and variance, merged across batches and workers (Chan et al., 1979).

    Owned by the learner; samplers receive a frozen copy each iteration and send back the
    moments of what they saw, which the learner merges with ``merge``.
    """

    mean: np.ndarray
    var: np.ndarray
    count: float = 0.0

    @classmethod
    def zeros(cls, shape: tuple[int, ...]) -> RunningMeanStd:
        """Empty statistics: mean 0, variance 1, count 0."""
        return cls(np.zeros(shape, np.float64), np.ones(shape, np.float64), 0.0)

    @staticmethod
    def moments(x: np.ndarray) -> Moments:
        """(count, mean, var) of a batch [B, ...] along its first axis."""
        x = np.asarray(x, dtype=np.float64)
        return float(x.shape[0]), x.mean(axis=0), x.var(axis=0)

    def merge(self, count: float, mean: np.ndarray, var: np.ndarray) -> None:
        """Merge in the moments of another set of samples (parallel variance algorithm)."""
        if count <= 0:
            return
        total = self.count + count
        delta = mean - self.mean
        m2 = self.var * self.count + var * count + delta**2 * self.count * count / total
        self.mean = self.mean + delta * count / total
        self.var = m2 / total
        self.count = total

    def update(self, x: np.ndarray) -> None:
        """Merge in a batch [B, ...]."""
        self.merge(*self.moments(x))

    def normalize(self, x: np.ndarray, clip: float,
                  columns: np.ndarray | None = None) -> np.ndarray:
        """(x - mean) / std, clipped to [-clip, clip], as float32.

        With ``columns`` (a bool mask over the last axis) only those are normalised; the
        others (a Dict observation's pixels) pass through unchanged.
        """
        std = np.sqrt(self.var + 1e-8)
        out = np.clip((x - self.mean) / std, -clip, clip).astype(np.float32)
        if columns is not None:
            out[..., ~columns] = x[..., ~columns]
        return out

    def copy(self) -> RunningMeanStd:
        """An independent copy."""
        return RunningMeanStd(self.mean.copy(), self.var.copy(), self.count)

    def state_dict(self) -> dict[str, Any]:
        """Plain state for checkpoints."""
        return {"mean": self.mean, "var": self.var, "count": self.count}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RunningMeanStd:
        """Inverse of state_dict."""
        return cls(np.asarray(state["mean"], np.float64).copy(),
                   np.asarray(state["var"], np.float64).copy(), float(state["count"]))


def reward_scale(ret_rms: RunningMeanStd) -> float:
    """1 / std of the discounted return, the factor rewards are scaled by."""
    return 1.0 / math.sqrt(float(ret_rms.var) + 1e-8)

__all__ = ["Moments", "RunningMeanStd", "reward_scale"]
