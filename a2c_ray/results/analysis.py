"""Helpers for the notebooks in analysis/ and for ``a2c_ray.report``.

Finding a sweep, hyperparameter importances and matplotlib plots. Reads result files only,
local or s3://, through ``a2c_ray.results``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a2c_ray.core import DEFAULT_STORAGE
from a2c_ray.results.readers import load_trials, ranked, sweep_settings, sweep_summary


def sweep_path(default_storage: str = DEFAULT_STORAGE) -> str:
    """The sweep to analyse: $A2C_RAY_SWEEP, else the newest sweep under the default storage."""
    if os.environ.get("A2C_RAY_SWEEP"):
        return os.environ["A2C_RAY_SWEEP"]
    root = Path(default_storage).expanduser()
    sweeps = [p.parent for p in root.glob("*/sweep.json")]
    if not sweeps:
        raise FileNotFoundError(f"no sweep under {root}: run python -m a2c_ray.tune first, or "
                                "set A2C_RAY_SWEEP to a sweep directory")
    return str(max(sweeps, key=lambda p: (p / "sweep.json").stat().st_mtime))


def param_importances(path: str) -> pd.Series:
    """Hyperparameter importance (PED-ANOVA, ``optuna.importance``) of a sweep's ranked trials.

    PED-ANOVA scores how much each searched field decides whether a trial lands in the top
    10% of the metric. It is Optuna 5's default and needs no scikit-learn; Optuna 4's default,
    fANOVA, does. Named here, so every Optuna this package admits gives the same figures.

    Computed from the trials' files (each searched value against the trial's final metric),
    not from the Optuna database, so it works wherever the results can be read: the study of
    a sweep on S3 lives on the cluster's head.
    """
    import optuna

    from a2c_ray.tuning import to_distributions

    settings = sweep_settings(path)
    metric, mode = settings["metric"], settings.get("mode", "max")
    trials = ranked(load_trials(path), metric, mode)
    if len(trials) < 2:
        return pd.Series(dtype=float, name="importance")
    space = to_distributions(settings["search_space"])
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    for _, row in trials.iterrows():
        params = {k: _plain(row[f"config/{k}"]) for k in space}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=space,
                                                  value=float(row[metric])))
    imp = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    return pd.Series(imp, name="importance", dtype=float).sort_values(ascending=False)


def _plain(value: Any) -> Any:
    """A pandas or numpy scalar as the plain Python value Optuna's distributions hold."""
    return value.item() if hasattr(value, "item") else value


def seed_band(curves: pd.DataFrame, metric: str, points: int = 100) -> pd.DataFrame:
    """Mean and 68% band (standard error) of a metric across runs, on a common step grid.

    Meant for runs of one configuration on different seeds. Each run's curve is linearly
    interpolated onto ``points`` env-step values spanning every run, but only within the
    steps that run covers (never extrapolated); a grid point counts the runs that cover it
    (``n``) and is kept where at least two do (or the one run there is).
    """
    runs = [g.dropna(subset=[metric]) for _, g in curves.groupby(_run_key(curves))]
    runs = [g.sort_values("env_steps") for g in runs if len(g)]
    if not runs:
        return pd.DataFrame(columns=["env_steps", "mean", "low", "high", "n"])
    lo = min(g["env_steps"].min() for g in runs)
    hi = max(g["env_steps"].max() for g in runs)
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo], dtype=float)
    values = np.full((len(runs), len(grid)), np.nan)
    for i, g in enumerate(runs):
        x, y = g["env_steps"].to_numpy(float), g[metric].to_numpy(float)
        inside = (grid >= x[0]) & (grid <= x[-1])
        values[i, inside] = np.interp(grid[inside], x, y)
    n = np.isfinite(values).sum(0)
    keep = n >= min(2, len(runs))
    values, grid, n = values[:, keep], grid[keep], n[keep]
    mean = np.nanmean(values, 0)
    spread = np.nanstd(values, 0, ddof=1) if len(runs) > 1 else np.zeros_like(mean)
    sem = np.where(n > 1, spread / np.sqrt(np.maximum(n, 1)), 0.0)
    return pd.DataFrame({"env_steps": grid, "mean": mean, "low": mean - sem,
                         "high": mean + sem, "n": n})


def _run_key(curves: pd.DataFrame) -> list[str]:
    """Columns that tell one run's rows from another's: trial_id, and seed where present."""
    return ["trial_id", "seed"] if "seed" in curves else ["trial_id"]


def plot_band(band: pd.DataFrame, label: str, ax: Any = None, ylabel: str | None = None) -> Any:
    """A mean curve with its shaded 68% band, as from ``seed_band``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    n = f"n={band['n'].max()}" if band["n"].min() == band["n"].max() else (
        f"n={band['n'].min()} to {band['n'].max()}")
    (line,) = ax.plot(band["env_steps"], band["mean"], label=f"{label} ({n})",
                      marker="o" if len(band) < 30 else None, markersize=4)
    ax.fill_between(band["env_steps"], band["low"], band["high"], alpha=0.25,
                    color=line.get_color())
    ax.set_xlabel("env steps")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_trial_bands(curves: pd.DataFrame, trial_ids: list[str], metric: str,
                     ax: Any = None, ylabel: str | None = None) -> Any:
    """Each trial's mean over its seeds with a 68% band; a plain line for a one-seed trial."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for tid in trial_ids:
        band = seed_band(curves[curves["trial_id"] == tid], metric)
        if len(band):
            plot_band(band, str(tid), ax, ylabel or metric)
    ax.set_xlabel("env steps")
    ax.grid(alpha=0.3)
    return ax


def top_curves_figure(path: str, top: int = 5) -> Any:
    """Evaluation and training return of a sweep's ``top`` best trials, each with its seed band."""
    import matplotlib.pyplot as plt

    from a2c_ray.results.readers import best_trials, load_curves, sweep_settings

    curves = load_curves(path)
    ids = best_trials(path)["trial_id"].head(top).tolist()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    plot_trial_bands(curves, ids, "eval_return_mean", axes[0], "evaluation return")
    title = f"deterministic evaluation, the {len(ids)} best trials: mean over seeds, 68% band"
    if sweep_settings(path).get("eval_schedule") == "rungs":
        title += "\nevaluated only before ASHA's rungs and the end (--eval-schedule rungs)"
    axes[0].set_title(title)
    plot_trial_bands(curves, ids, "episode_return_mean", axes[1], "training return")
    axes[1].set_title("training episodes (mean of the last 100)")
    fig.tight_layout()
    return fig


def score_spread_figure(path: str) -> Any | None:
    """Each finished trial's score against its spread over seeds (``score_std``).

    The configurations worth confirming sit high and to the left: a good score that does not
    depend on the seed. The best trial is marked. None when no trial has a spread (one seed
    per trial, or nothing finished).
    """
    import matplotlib.pyplot as plt

    from a2c_ray.results.readers import best_trials

    best = best_trials(path)
    if "score_std" not in best or best["score_std"].dropna().empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    points = ax.scatter(best["score_std"].astype(float), best["score"].astype(float),
                        c=best["score_min"].astype(float), cmap="viridis", s=25)
    fig.colorbar(points, ax=ax, label="worst seed's score (score_min)")
    ax.scatter(float(best["score_std"].iloc[0]), float(best["score"].iloc[0]), s=160,
               facecolors="none", edgecolors="red", label=f"best: {best['trial_id'].iloc[0]}")
    ax.set_xlabel("score_std (standard deviation over the trial's seeds)")
    ax.set_ylabel("score (mean over seeds)")
    ax.set_title("score against spread, finished trials")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def seed_bands_figure(path: str) -> Any | None:
    """Each configuration a sweep ran on several seeds: mean evaluation return, 68% band.

    These are the ``--confirm-top`` runs in SWEEP/confirm, one band per confirmed
    configuration. None when the sweep ran no configuration on several seeds.
    """
    import matplotlib.pyplot as plt

    from a2c_ray.core import storage as st
    from a2c_ray.results.readers import load_curves

    confirm = st.join(path, "confirm")
    if not st.exists(confirm):
        return None
    runs, curves = load_trials(confirm), load_curves(confirm)
    fig, ax = plt.subplots(figsize=(8, 4))
    for index, members in runs.groupby("config/config_index"):
        band = seed_band(curves[curves["trial_id"].isin(members["trial_id"])],
                         "eval_return_mean")
        if len(band):
            plot_band(band, f"confirmed configuration {index}", ax, "evaluation return")
    seeds = "validation" if "chosen_on" in (sweep_summary(path) or {}) else "test"
    ax.set_title(f"confirmation on {seeds} seeds: mean with a 68% band (standard error)")
    return fig


def performance_profile_figure(path: str) -> Any | None:
    """The configurations trained on fresh seeds, as rliable's performance profiles.

    For every return threshold, the fraction of a configuration's seeds whose final return
    exceeds it, with a 95% bootstrap band over seeds (``core.scores.performance_profile``):
    the whole distribution over seeds, where a mean hides a seed that stalled. One line per
    row of ``load_confirmation``; None when the sweep trained none on fresh seeds.
    """
    import matplotlib.pyplot as plt

    from a2c_ray.core import performance_profile
    from a2c_ray.results.readers import load_confirmation

    confirmed = load_confirmation(path)
    if not len(confirmed):
        return None
    every = np.concatenate([np.asarray(r, dtype=float) for r in confirmed["returns"]])
    span = every.max() - every.min() or 1.0
    taus = np.linspace(every.min() - 0.05 * span, every.max() + 0.05 * span, 200)
    fig, ax = plt.subplots(figsize=(8, 4))
    for _, row in confirmed.iterrows():
        p = performance_profile(row["returns"], taus)
        line, = ax.plot(taus, p["profile"], drawstyle="steps-post",
                        label=f"{row['seed_set']} #{row['rank']}: trial {row['trial_id']} "
                              f"({row['n']} seeds)")
        ax.fill_between(taus, p["lo"], p["hi"], step="post", alpha=0.15,
                        color=line.get_color())
    ax.set_xlabel("final evaluation return, threshold")
    ax.set_ylabel("fraction of seeds above it")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("performance profiles on fresh seeds, 95% bootstrap bands")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig
