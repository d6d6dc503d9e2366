"""Statistics of a configuration's seeds: what a sweep ranks by and what a table reports.

A configuration's return depends on its seed, and one seed that stalls says something the
mean hides. These are pure functions of a list of per-seed values (numpy only), shared by the
trial that reports a score, the confirmation that ranks configurations, the results readers
and the selection benchmark's replay.
"""

from __future__ import annotations

import numpy as np


def seed_stats(returns: list[float]) -> dict[str, float]:
    """How a configuration did across seeds: mean, std, standard error, worst, IQM, count.

    ``std`` is the sample standard deviation and ``sem`` = std / sqrt(n) (NaN for one seed);
    ``iqm`` is the interquartile mean (the mean of the middle half, a quarter of the seeds cut
    from each end as in rliable; the plain mean below four seeds).
    """
    values = np.sort(np.asarray(returns, dtype=float))
    n = len(values)
    if n == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "sem": nan, "worst": nan, "iqm": nan, "n": 0}
    std = float(values.std(ddof=1)) if n > 1 else float("nan")
    cut = n // 4
    return {"mean": float(values.mean()), "std": std, "sem": std / float(np.sqrt(n)),
            "worst": float(values[0]), "iqm": float(values[cut:n - cut].mean()), "n": n}
