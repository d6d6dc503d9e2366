"""Layer 7, results (no Ray, no torch): sweeps and train runs read from their files.

``load_trials`` and ``load_curves`` give pandas tables of a sweep (local or s3://, also while
it runs) or of train runs; ``ranked`` is the one definition of the best trial;
``analysis`` has the plots and importances the notebooks and the HTML report use.
``python -m a2c_ray.results SWEEP_DIR`` prints the trials best first.
"""

from a2c_ray.core import seed_stats
from a2c_ray.results.analysis import (
    param_importances,
    performance_profile_figure,
    score_spread_figure,
    seed_bands_figure,
    top_curves_figure,
)
from a2c_ray.results.readers import (
    STATUSES,
    best_trials,
    describe_statuses,
    export_parquet,
    load_confirmation,
    load_curves,
    load_trials,
    ranked,
    sweep_plan,
    sweep_settings,
    sweep_summary,
    table,
    tune_trial_states,
)

__all__ = ["STATUSES", "best_trials", "describe_statuses", "export_parquet", "load_confirmation",
           "load_curves", "load_trials", "param_importances", "performance_profile_figure",
           "ranked", "score_spread_figure", "seed_bands_figure", "seed_stats", "sweep_plan",
           "sweep_settings", "sweep_summary", "table", "top_curves_figure", "tune_trial_states"]
