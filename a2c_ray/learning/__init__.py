"""Layer 4, learning (torch, no Ray): the learner that consumes batches, and its optimizers.

It never imports sampling: the two meet only in the batch and broadcast of ``core.batch``.
"""

from __future__ import annotations

from a2c_ray.core import lazy

# what the later layers use, by the module it lives in
_WHERE = {
    "Learner": "learner",
}
__all__ = ["Learner"]
__getattr__, __dir__ = lazy(__name__, _WHERE)
