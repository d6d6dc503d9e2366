"""a2c_ray: Advantage Actor-Critic with GAE, and hyperparameter sweeps over it on Ray.

The package's face loads nothing heavy: its names are imported on first use, so
``import a2c_ray.results`` (a notebook reading a sweep) loads neither Ray nor torch.

* one run: ``A2CConfig`` (``core.config``), ``Trainer`` and ``train`` (``run.trainer``);
* a sweep: ``SweepConfig`` (``tuning.config``), ``sweep``, ``resume_sweep`` and
  ``SweepResult`` (``tune``).

The subpackages are the layers of docs/design.md, each importing only those before it:
``core`` (1), ``model`` (2), ``sampling`` (3), ``learning`` (4), ``run`` (5), ``tuning`` (6),
``results`` (7); the modules directly here are the commands (8).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a2c_ray.core import A2CConfig
    from a2c_ray.run import Trainer, train
    from a2c_ray.tune import SweepResult, resume_sweep, sweep
    from a2c_ray.tuning import SweepConfig

__all__ = ["A2CConfig", "SweepConfig", "SweepResult", "Trainer", "resume_sweep", "sweep",
           "train"]
__version__ = "0.1.0"

_WHERE = {"A2CConfig": "a2c_ray.core.config", "Trainer": "a2c_ray.run.trainer",
          "train": "a2c_ray.run.trainer", "SweepConfig": "a2c_ray.tuning.config",
          "sweep": "a2c_ray.tune", "resume_sweep": "a2c_ray.tune", "SweepResult": "a2c_ray.tune"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'a2c_ray' has no attribute {name!r}")
