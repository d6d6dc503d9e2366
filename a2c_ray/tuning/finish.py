"""After the search: the pick on validation seeds, its figure on test seeds, the summary.

The caller reads the search's trials from the sweep's files (``a2c_ray.tune``, with
``a2c_ray.results``, a later layer) and hands them in as a ``SearchOutcome``; ``finish_sweep``
prints the top trials, confirms the best on validation seeds, trains the pick on test seeds,
and writes summary.json, best_config.json, confirmation.json and test.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from a2c_ray.core import storage as st
from a2c_ray.core import test_seeds, validation_seeds
from a2c_ray.tuning.config import METRIC, SweepPlan
from a2c_ray.tuning.confirm import Candidate, confirm, describe
from a2c_ray.tuning.control import StopSignals
from a2c_ray.tuning.study import close_orphans

SPREAD = ("score_std", "score_min")  # how much the score depends on the seed
# The searched fields in the summary printed at the end (all of them: python -m a2c_ray.results).
TOP_TABLE_FIELDS = ("learning_rate", "gamma", "gae_lambda", "value_grad_steps",
                    "rollout_length", "envs_per_worker")


@dataclass(frozen=True)
class SearchOutcome:
    """The search's trials as the sweep's files hold them.

    Attributes:
        trials: every trial, one row each (``results.load_trials``).
        ranked: the trials with a score, best first (``results.ranked``).
        table: the trials as the console shows them, best first (``results.table``).
        statuses: how many trials ended how, in words (``results.describe_statuses``).
    """

    trials: pd.DataFrame
    ranked: pd.DataFrame
    table: pd.DataFrame
    statuses: str


@dataclass(frozen=True)
class Finished:
    """What ``finish_sweep`` wrote, and the exit code.

    Attributes:
        summary: summary.json's content; None when a signal stopped the confirmation.
        ranking: the confirmation's ranking, best first, where it ran.
        exit_code: 0; 1 when no trial has a score; 130 or 143 when a signal stopped it.
    """

    summary: dict[str, Any] | None
    ranking: list[dict[str, Any]] | None
    exit_code: int = 0


def finish_sweep(plan: SweepPlan, outcome: SearchOutcome, stop: StopSignals) -> Finished:
    """After the search: the summary, best_config.json, the confirmation, the test seeds.

    Returns early, with the exit code of the signal, when the confirmation is interrupted.
    """
    exp, config = plan.exp, plan.config
    df, ok = outcome.trials, outcome.ranked
    statuses = {k: int(v) for k, v in df["status"].value_counts().items() if v}
    summary: dict[str, Any] = {
        "metric": plan.metric, "mode": plan.mode, "best_trial_id": None, "best_config": None,
        "best_metric": None, "num_trials": len(df), "trials_by_status": statuses,
        "stopped_early": int((_column(df, "env_steps").fillna(0) < config.max_steps).sum()),
        "optuna_storage": plan.optuna_storage, "study_name": plan.name,
    }
    if ok.empty:
        st.write_text(st.join(exp, "summary.json"), json.dumps(summary, indent=2))
        close_orphans(plan.optuna_storage, plan.name)
        errors = [_first_error(d) for d in df["trial_dir"].dropna()]
        first_error = next((e for e in errors if e), "")
        print(f"No trial finished with a {METRIC} ({outcome.statuses}). First error: "
              f"{first_error}\nResults: {exp}")
        return Finished(summary, None, exit_code=1)
    best = ok.iloc[0]
    best_config = final_config(best, plan)
    summary.update({"best_trial_id": str(best["trial_id"]), "best_config": best_config,
                    "best_metric": float(best[METRIC])})

    space = plan.search_space
    fields = [k for k in TOP_TABLE_FIELDS if k in space] or list(space)[:len(TOP_TABLE_FIELDS)]
    top = outcome.table[["trial_id", "env_steps", METRIC, *SPREAD, *fields]].head(5)
    print(f"\nTop {len(top)} by {METRIC} ({outcome.statuses}; every searched field: "
          f"python -m a2c_ray.results {exp}):")
    print(top.to_string(index=False, float_format="{:.4g}".format))

    top_k = ok.head(max(config.confirm_top, 1))
    candidates = [Candidate(str(row["trial_id"]), float(row[METRIC]),
                            float(_column(top_k, "score_std").iloc[i]), final_config(row, plan))
                  for i, (_, row) in enumerate(top_k.iterrows())]
    pick, chosen_on = candidates[0], f"the search's training seeds ({METRIC})"
    ranking = None
    if config.confirm_top:
        seeds = validation_seeds(config.confirm_seeds)
        ranking = [{**r, "seed_set": "validation"}
                   for r in confirm(plan, candidates, seeds, stop)]
        if stop.received is not None:
            return Finished(None, None, exit_code=stop.exit_code)
        st.write_text(st.join(exp, "confirmation.json"), json.dumps(ranking, indent=2))
        print("\n" + describe(ranking, "validation seeds"))
        if ranking:
            winner = ranking[0]
            summary.update({"confirmed_best_trial_id": winner["sweep_trial_id"],
                            "confirmed_best_config": winner["config"],
                            "confirmed_best_mean": winner["mean"],
                            "confirmed_best_sem": winner["sem"]})
            best_config = winner["config"]
            pick = next(c for c in candidates if c.trial_id == winner["sweep_trial_id"])
            chosen_on = f"validation seeds {min(winner['seeds'])}..{max(winner['seeds'])}"
    summary["chosen_on"] = chosen_on
    if config.test_seeds:  # the pick alone, on seeds that choose nothing: the figure to report
        tested = confirm(plan, [pick], test_seeds(config.test_seeds), stop, name="test")
        if stop.received is not None:
            return Finished(None, None, exit_code=stop.exit_code)
        test = {**tested[0], "seed_set": "test", "chosen_on": chosen_on}
        st.write_text(st.join(exp, "test.json"), json.dumps(test, indent=2))
        print("\n" + describe(tested, "test seeds") + f"\n  (the pick, chosen on {chosen_on})")
        summary["test"] = {k: test[k] for k in ("seeds", "returns", "mean", "std", "sem",
                                                "worst", "iqm", "n", "mean_ci95", "iqm_ci95")}
    st.write_text(st.join(exp, "best_config.json"), json.dumps(best_config, indent=2))
    st.write_text(st.join(exp, "summary.json"), json.dumps(summary, indent=2))
    close_orphans(plan.optuna_storage, plan.name)
    return Finished(summary, ranking)


def final_config(row: pd.Series, plan: SweepPlan) -> dict[str, Any]:
    """A trial's full config as confirmation runs it and best_config.json gives it.

    Evaluated on the config's own number of episodes (10) rather than the search's, unless
    ``--set eval_episodes`` chose one for both.
    """
    params = {k[len("config/"):]: v for k, v in row.items()
              if k.startswith("config/") and k != "config/seeds"}
    config = plan.trial_config(params).to_dict()
    return {**config, "eval_episodes": plan.final_eval_episodes}


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """A column as floats (NaN where missing), also when no trial reported it."""
    if name not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[name], errors="coerce").astype(float)


def _first_error(trial_dir: str) -> str:
    """The last line of a trial's error.txt, or ''."""
    uri = st.join(trial_dir, "error.txt")
    if not st.exists(uri):
        return ""
    lines = st.read_text(uri).strip().splitlines()
    return lines[-1] if lines else ""
