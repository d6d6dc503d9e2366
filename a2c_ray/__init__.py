"""a2c_ray: Advantage Actor-Critic with GAE, and hyperparameter sweeps over it on Ray.

The package's face loads nothing heavy: ``A2CConfig``, ``Trainer`` and ``train`` are imported on
first use, so ``import a2c_ray.results`` (a notebook reading a sweep) loads neither Ray nor torch.

The layers of shared/DESIGN.md, each importing only those before it; every module's docstring
starts with its own: 1 core data (``config``, ``gae``, ``batch``, ``stats``), 2 model
(``distributions``, ``model``), 3 sampling (``spaces``, ``envs``, ``rollout``), 4 learning
(``optim``, ``learner``), 5 one configuration (``trainer``, ``actors``, ``checkpoint``,
``storage``), 6 the sweep (``tune``, ``search_space``, ``cluster``), 7 results (``results``,
``analysis``), 8 CLIs (``cli``, ``train``, ``tune``, ``evaluate``, ``report``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a2c_ray.config import A2CConfig
    from a2c_ray.trainer import Trainer, train

__all__ = ["A2CConfig", "Trainer", "train"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "A2CConfig":
        from a2c_ray.config import A2CConfig

        return A2CConfig
    if name in ("Trainer", "train"):
        from a2c_ray import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'a2c_ray' has no attribute {name!r}")
