"""Layer 3, sampling (gymnasium, no Ray): envs, their vector, and ``RolloutWorker``.

Envs are made from an id; the vector resets an env in the step that ends its episode; a
``RolloutWorker`` turns a weight broadcast into a batch.
"""

from __future__ import annotations

from a2c_ray.core import lazy

# what the later layers use, by the module it lives in
_WHERE = {
    "EnvFailure": "envs", "EnvIdError": "envs", "env_spaces": "envs", "success_rate": "envs",
    "eval_deterministic": "envs",
    "RolloutWorker": "rollout", "run_episodes": "rollout",
}
__all__ = ["EnvFailure", "EnvIdError", "RolloutWorker", "env_spaces", "eval_deterministic",
           "run_episodes", "success_rate"]
__getattr__, __dir__ = lazy(__name__, _WHERE)
