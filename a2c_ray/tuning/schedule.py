"""When a trial is compared, evaluated and reported: ASHA's rungs and the evaluation grid.

ASHA compares trials at its rungs (``asha_milestones``); the ranking reads every trial's
score at its end. A trial evaluates only where a score is read there (``scored_evaluations``,
``eval_schedule="rungs"``), and reports often enough that every rung sees it (``report_every``).
Pure functions of a sweep's settings: no Ray, no torch.
"""

from __future__ import annotations

import math

import numpy as np

from a2c_ray.tuning.config import SweepConfig


def asha_milestones(grace_steps: int, max_steps: int, reduction_factor: float) -> list[float]:
    """The env steps at which ASHA compares a trial with the others, smallest first.

    Ray's one-bracket ASHA: ``grace_steps * reduction_factor ** k`` for as many rungs as fit
    below ``max_steps``, computed as Ray computes them. It decides at a trial's first report at
    or past each.
    """
    rungs = int(np.log(max_steps / grace_steps) / np.log(reduction_factor) + 1)
    return [grace_steps * reduction_factor ** k for k in range(rungs)]


def scored_evaluations(interval: int, milestones: tuple[float, ...] | list[float], total: int,
                       window: int, batch: int) -> frozenset[int]:
    """The evaluations a trial's score reads, as env steps on the ``interval`` grid.

    A trial evaluates after each iteration (``batch`` env steps) that passes a point of the
    grid, and reports at every point; ASHA reads the score at the first report at or past each
    milestone, the ranking at the end. The latest ``window`` evaluations there lie among the
    ``window * c`` grid points at or before the milestone, and at most ``c`` after it where a
    report carries past it (``c``: the grid points one iteration can pass). A trial that
    evaluates only at these points reads every score as a trial that evaluates at every one.
    """
    per_iteration = math.ceil(batch / interval)
    points: set[int] = set()
    for mark in [*milestones, total]:
        last = math.floor(mark / interval)
        after = per_iteration - 1 + (last * interval < mark)
        first = max(1, last - window * per_iteration + 1)
        points.update(k * interval for k in range(first, last + after + 1))
    return frozenset(points)


def eval_milestones(config: SweepConfig) -> tuple[float, ...]:
    """The milestones a sweep's trials evaluate for; none (every evaluation) for 'every'."""
    if config.eval_schedule != "rungs":
        return ()
    return tuple(asha_milestones(config.grace_steps, config.max_steps, config.reduction_factor))


def report_every(config: SweepConfig) -> int:
    """Env steps between reports to Tune: 1/200 of a trial's budget, finer than any rung."""
    return max(1, min(config.max_steps // 200, config.grace_steps // 4))
