"""ASHA's rungs and what happens at them: pure arithmetic shared by the sweep and the replay.

ASHA compares trials at its rungs (``asha_milestones``); a trial evaluates only where a score
is read there (``scored_evaluations``); a trial that survives a rung may earn more seeds
(``seeds_after``). The sweep (``a2c_ray.tuning``) and the selection benchmark's replay call
the same functions, so the replay measures the shipped logic. No Ray, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


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


def seeds_after(env_steps: float, milestones: Sequence[float], schedule: Sequence[int]) -> int:
    """The seeds a trial trains once it is past ``env_steps`` and still running.

    ``schedule[k]`` after it survived k rungs: the first value until the first rung, the next
    from the first report at or past it (where ASHA let it go on), the last value beyond. One
    value is a fixed number of seeds.
    """
    passed = sum(env_steps >= m for m in milestones)
    return int(schedule[min(passed, len(schedule) - 1)])
