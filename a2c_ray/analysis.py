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

from a2c_ray.results import load_trials, ranked, sweep_settings
from a2c_ray.storage import DEFAULT_STORAGE


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
    """Hyperparameter importance (fANOVA, ``optuna.importance``) of a sweep's ranked trials.

    Computed from the trials' files (each searched value against the trial's final metric),
    not from the Optuna database, so it works wherever the results can be read: the study of
    a sweep on S3 lives on the cluster's head.
    """
    import optuna

    from a2c_ray.search_space import to_distributions

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
    imp = optuna.importance.get_param_importances(study)
    return pd.Series(imp, name="importance", dtype=float).sort_values(ascending=False)


def _plain(value: Any) -> Any:
    """A pandas or numpy scalar as the plain Python value Optuna's distributions hold."""
    return value.item() if hasattr(value, "item") else value


def seed_band(curves: pd.DataFrame, metric: str, points: int = 100) -> pd.DataFrame:
    """Mean and 68% band (standard error) of a metric across runs, on a common step grid.

    Each run's curve is linearly interpolated onto ``points`` env-step values spanning the
    range every run covers.
    """
    runs = [g.dropna(subset=[metric]) for _, g in curves.groupby("trial_id")]
    runs = [g for g in runs if len(g)]
    if not runs:
        return pd.DataFrame(columns=["env_steps", "mean", "low", "high", "n"])
    lo = max(g["env_steps"].min() for g in runs)
    hi = min(g["env_steps"].max() for g in runs)
    grid = np.linspace(lo, hi, points)
    values = np.stack([np.interp(grid, g["env_steps"], g[metric]) for g in runs])
    mean = values.mean(0)
    sem = values.std(0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else np.zeros_like(mean)
    return pd.DataFrame({"env_steps": grid, "mean": mean, "low": mean - sem,
                         "high": mean + sem, "n": len(runs)})


def plot_curves(curves: pd.DataFrame, trial_ids: list[str], metric: str, ax: Any = None) -> Any:
    """One line per trial of ``metric`` against env_steps."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for tid in trial_ids:
        g = curves[curves["trial_id"] == tid].dropna(subset=[metric])
        ax.plot(g["env_steps"], g[metric], label=str(tid))
    ax.set_xlabel("env steps")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def plot_band(band: pd.DataFrame, label: str, ax: Any = None) -> Any:
    """A mean curve with its shaded 68% band, as from ``seed_band``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    (line,) = ax.plot(band["env_steps"], band["mean"], label=f"{label} (n={band['n'].iloc[0]})")
    ax.fill_between(band["env_steps"], band["low"], band["high"], alpha=0.25,
                    color=line.get_color())
    ax.set_xlabel("env steps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax
