"""a2c_ray: Advantage Actor-Critic with GAE, and hyperparameter sweeps over it on Ray."""

from a2c_ray.config import A2CConfig
from a2c_ray.trainer import train

__all__ = ["A2CConfig", "train"]
__version__ = "0.1.0"
