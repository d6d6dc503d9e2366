"""When a sweep's trials are compared, evaluated and reported, from its configuration.

The arithmetic is ``core.rungs``'s (ASHA's rungs, the evaluations a score reads, the seeds a
trial earns); this says which rungs a sweep has and how often its trials report. No Ray, no
torch.
"""

from __future__ import annotations

from a2c_ray.core import asha_milestones, scored_evaluations, seeds_after
from a2c_ray.tuning.config import SweepConfig

__all__ = ["asha_milestones", "eval_milestones", "report_every", "scored_evaluations",
           "seeds_after"]


def eval_milestones(config: SweepConfig) -> tuple[float, ...]:
    """The milestones a sweep's trials evaluate for; none (every evaluation) for 'every'."""
    if config.eval_schedule != "rungs":
        return ()
    return config.milestones


def report_every(config: SweepConfig) -> int:
    """Env steps between reports to Tune: 1/200 of a trial's budget, finer than any rung."""
    return max(1, min(config.max_steps // 200, config.grace_steps // 4))
