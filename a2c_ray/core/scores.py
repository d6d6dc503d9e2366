"""Statistics of a configuration's seeds: what a sweep ranks by and what a table reports.

A configuration's return depends on its seed, and one seed that stalls says something the
mean hides. These are pure functions of a list of per-seed values (numpy only), shared by the
trial that reports a score, the confirmation that ranks configurations, the results readers
and the selection benchmark's replay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


# The statistics a trial's score may take over its seeds' scores (``--score``). ``mean`` is the
# plain average; the others are pulled down by a seed that stalls: ``mean-se`` is the mean less
# one standard error of it, ``iqm`` the interquartile mean (the mean below four seeds),
# ``median`` and ``min`` as named.
STATISTICS = ("mean", "mean-se", "iqm", "median", "min")


def seed_score(evaluations: Sequence[float], window: int) -> float:
    """One seed's score: the mean of its latest ``window`` evaluations.

    Fewer while fewer exist; NaN before the first. One evaluation is noisy, a few in a row
    much less so.
    """
    latest = list(evaluations)[-window:]
    return float(np.mean(latest)) if latest else math.nan


def aggregate(values: Sequence[float], statistic: str = "mean") -> float:
    """A trial's score from its seeds' scores; NaN while any seed has none.

    ``mean-se`` of one seed is its value (one seed has no spread to subtract).
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic {statistic!r}: expected one of {', '.join(STATISTICS)}")
    if not len(values) or any(math.isnan(v) for v in values):
        return math.nan
    x = np.asarray(values, dtype=float)
    if statistic == "mean":
        return float(np.mean(list(values)))
    if statistic == "mean-se":
        return float(x.mean() - (x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else 0.0))
    if statistic == "iqm":
        return seed_stats(list(values))["iqm"]
    if statistic == "median":
        return float(np.median(x))
    return float(x.min())


def rank_by(values: Sequence[Sequence[float]], statistic: str = "mean") -> list[int]:
    """Candidates best first by ``statistic`` over each one's per-seed values (higher is better).

    A candidate without a value comes last; ties keep the given order. This is how the
    confirmation picks among the sweep's best configurations.
    """
    keys = [aggregate(list(v), statistic) for v in values]
    return sorted(range(len(keys)), key=lambda i: -keys[i] if not math.isnan(keys[i]) else math.inf)


def interval(values: Sequence[float], statistic: str = "iqm", size: float = 0.95,
             reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A percentile-bootstrap interval of ``statistic`` (``mean`` or ``iqm``) over seeds.

    The interval rliable (Agarwal et al., "Deep Reinforcement Learning at the Edge of the
    Statistical Precipice", NeurIPS 2021) reports: its stratified bootstrap resamples the runs
    of each task, which for one task is the plain bootstrap over seeds done here with arch's
    ``IIDBootstrap`` (the library rliable builds on; rliable 1.2 itself calls arch with an
    argument arch 8 renamed, and arch 7 does not import beside pandas 3). The IQM is rliable's,
    ``scipy.stats.trim_mean(x, 0.25)``. Seeded, so the same values give the same interval.
    NaNs for fewer than two values.
    """
    x = np.asarray(values, dtype=float)
    if len(x) < 2 or np.isnan(x).any():
        return math.nan, math.nan
    from arch.bootstrap import IIDBootstrap
    from scipy.stats import trim_mean

    func = {"mean": np.mean, "iqm": lambda v: trim_mean(v, 0.25)}[statistic]
    bootstrap = IIDBootstrap(x, seed=np.random.default_rng(seed))
    lo, hi = bootstrap.conf_int(func, reps=reps, method="percentile", size=size).ravel()
    return float(lo), float(hi)


def intervals(values: Sequence[float]) -> dict[str, list[float]]:
    """95% bootstrap intervals of the mean and the IQM over seeds (``interval``)."""
    return {"mean_ci95": list(interval(values, "mean")), "iqm_ci95": list(interval(values, "iqm"))}


def performance_profile(values: Sequence[float], taus: Sequence[float], size: float = 0.95,
                        reps: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """The fraction of seeds whose value exceeds each threshold in ``taus``, with its band.

    rliable's performance profile (the run-score distribution) for one task: ``profile[i]`` is
    the share of ``values`` above ``taus[i]``, and ``lo``/``hi`` its percentile-bootstrap
    interval over seeds (the same bootstrap as ``interval``). The band is NaN for fewer than
    two values.
    """
    x = np.asarray(values, dtype=float)
    t = np.asarray(taus, dtype=float)
    profile = (x[:, None] > t[None, :]).mean(axis=0)
    if len(x) < 2:
        nan = np.full_like(t, math.nan)
        return {"taus": t, "profile": profile, "lo": nan, "hi": nan}
    from arch.bootstrap import IIDBootstrap

    bootstrap = IIDBootstrap(x, seed=np.random.default_rng(seed))
    lo, hi = bootstrap.conf_int(lambda v: (v[:, None] > t[None, :]).mean(axis=0), reps=reps,
                                method="percentile", size=size)
    return {"taus": t, "profile": profile, "lo": lo, "hi": hi}
