"""After the search: the best configurations on validation seeds, then the pick on test seeds.

Tune on training seeds, pick on validation seeds, report on test seeds nothing else used
(Eimer, Lindauer and Raileanu, "Hyperparameters in Reinforcement Learning and How To Tune
Them", ICML 2023). ``confirm`` trains each candidate at the full budget on every seed it is
given, one trial per configuration and seed, and ranks the candidates by the mean of each
seed's final deterministic evaluation; the sweep runs it on the validation seeds for its top
configurations (experiment ``confirm/``), and on the test seeds for its pick alone
(``test/``), whose figure then chose nothing. Either continues where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from a2c_ray.core import has_tune_state, intervals, rank_by, seed_stats
from a2c_ray.core import storage as st
from a2c_ray.tuning.config import METRIC, SweepPlan
from a2c_ray.tuning.control import StopSignals
from a2c_ray.tuning.resources import bundles, concurrency
from a2c_ray.tuning.trial import TrialSpec, run_confirmation, trainable
from a2c_ray.tuning.tuner import run_config, trial_dirname


@dataclass(frozen=True)
class Candidate:
    """A configuration the search ranked high, as the confirmation runs it.

    Attributes:
        trial_id: the sweep's trial that found it.
        score: that trial's score on its training seeds; ``score_std`` their spread.
        config: the full config, evaluated as the confirmation evaluates.
    """

    trial_id: str
    score: float
    score_std: float
    config: dict[str, Any]


def confirm(plan: SweepPlan, candidates: list[Candidate], seeds: list[int],
            stop: StopSignals, name: str = "confirm") -> list[dict[str, Any]]:
    """Train every candidate on every seed at the full budget; the candidates, best first.

    Each entry holds the candidate's trial, its sweep score, every seed's final return and
    their statistics (``core.scores.seed_stats``), the standard error's 68% interval and 95%
    bootstrap intervals of the mean and the IQM (``core.scores.intervals``), and its config. Runs as
    the experiment ``name`` inside the sweep's directory. Empty when it was stopped by a
    signal (``stop.received``).
    """
    from ray import tune

    exp = st.join(plan.exp, name)
    configs = [c.config for c in candidates]
    run = trainable(run_confirmation, TrialSpec.of(plan, exp, evaluate_all=True),
                    bundles(plan, seeds=1), configs=configs,
                    names=tuple(c.trial_id for c in candidates))
    if has_tune_state(exp):  # interrupted earlier: Tune keeps its settings
        tuner = tune.Tuner.restore(exp, run, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            run,
            param_space={"config_index": tune.grid_search(list(range(len(configs)))),
                         "seed": tune.grid_search(seeds)},
            tune_config=tune.TuneConfig(max_concurrent_trials=concurrency(plan, seeds=1),
                                        trial_dirname_creator=trial_dirname,
                                        reuse_actors=True),
            run_config=run_config(plan, plan.exp, name,
                                  candidates=[c.trial_id for c in candidates]),
        )
    grid = stop.fit(tuner)
    if stop.received is not None:
        return []
    returns: list[dict[int, float]] = [{} for _ in candidates]
    for result in grid:
        value = (result.metrics or {}).get("eval_return_last")
        if result.error is None and isinstance(value, int | float) and math.isfinite(value):
            returns[result.config["config_index"]][int(result.config["seed"])] = float(value)
    ranking = []
    for candidate, mine in zip(candidates, returns, strict=True):
        mine = dict(sorted(mine.items()))
        stats = seed_stats(list(mine.values()))
        ranking.append({"sweep_trial_id": candidate.trial_id, "sweep_metric": candidate.score,
                        "sweep_score_std": candidate.score_std, "seeds": list(mine),
                        "returns": list(mine.values()), **stats,
                        "ci68": [stats["mean"] - stats["sem"], stats["mean"] + stats["sem"]],
                        **intervals(list(mine.values())), "config": candidate.config})
    return [ranking[i] for i in rank_by([r["returns"] for r in ranking])]


def describe(ranking: list[dict[str, Any]], what: str) -> str:
    """A confirmation's result as the command prints it; ``what`` names its seeds."""
    seeds = sorted({s for r in ranking for s in r["seeds"]})
    where = f"{what} {seeds[0]}..{seeds[-1]}" if seeds else what
    lines = [f"Confirmation on {where} (final evaluation; mean +- standard error, worst seed, "
             "interquartile mean with its 95% bootstrap interval):"]
    for rank, r in enumerate(ranking, 1):
        lo, hi = r.get("iqm_ci95", (math.nan, math.nan))
        lines.append(f"  {rank}. trial {r['sweep_trial_id']}: {r['mean']:.1f} +- "
                     f"{r['sem']:.1f}, worst {r['worst']:.1f}, IQM {r['iqm']:.1f} [{lo:.1f}, "
                     f"{hi:.1f}] over {len(r['returns'])} seeds (sweep {METRIC}: "
                     f"{r['sweep_metric']:.1f})")
    return "\n".join(lines)
