"""a2c_ray: Advantage Actor-Critic with GAE, and hyperparameter sweeps over it on Ray.

The package's face loads nothing heavy: ``A2CConfig`` and ``train`` are imported on first
use, so ``import a2c_ray.results`` (a notebook reading a sweep) loads neither Ray nor torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a2c_ray.config import A2CConfig
    from a2c_ray.trainer import train

__all__ = ["A2CConfig", "train"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "A2CConfig":
        from a2c_ray.config import A2CConfig

        return A2CConfig
    if name == "train":
        from a2c_ray.trainer import train

        return train
    raise AttributeError(f"module 'a2c_ray' has no attribute {name!r}")
