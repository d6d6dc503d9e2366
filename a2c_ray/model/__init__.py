"""Layer 2, model (torch): the action-distribution factory and the actor-critic network.

``distributions`` maps an action space (Box, Discrete, MultiDiscrete, MultiBinary) to its
distribution; ``network`` holds the built-in MLP, a user's factory, and the numpy mirror the
samplers run.
"""

from __future__ import annotations

from a2c_ray.core import lazy

# what the later layers use, by the module it lives in
_WHERE = {
    "ActorCritic": "network", "NumpyActor": "network", "check_model": "network",
}
__all__ = ["ActorCritic", "NumpyActor", "check_model"]
__getattr__, __dir__ = lazy(__name__, _WHERE)
