"""Helpers for the notebooks in analysis/ and for ``a2c_ray.report``.

Finding a sweep, hyperparameter importances and matplotlib plots. Reads result files only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a2c_ray import storage as st
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


def sweep_settings(path: str) -> dict[str, Any]:
    """The sweep's sweep.json (metric, budgets, search space, Optuna storage)."""
    return json.loads(st.read_text(st.join(path, "sweep.json")))


def summary(path: str) -> dict[str, Any] | None:
    """The sweep's summary.json, or None while it runs."""
    uri = st.join(path, "summary.json")
    return json.loads(st.read_text(uri)) if st.exists(uri) else None


def param_importances(path: str) -> pd.Series:
    """Hyperparameter importance (fANOVA, optuna.importance) from the stored Optuna study."""
    import optuna

    settings = sweep_settings(path)
    study = optuna.load_study(study_name=Path(st.resolve(path)).name,
                              storage=settings["optuna_storage"])
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < 2:
        return pd.Series(dtype=float, name="importance")
    imp = optuna.importance.get_param_importances(study)
    return pd.Series(imp, name="importance").sort_values(ascending=False)


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
