"""Layer 6, the sweep on Ray Tune.

Its typed configuration, the search space, the trial (its seeds in lockstep are
``run.lockstep``'s), the schedule of rungs and evaluations, the Optuna searcher, resources,
the console, stop and resume, and the confirmation. ``a2c_ray.tune`` (``python -m
a2c_ray.tune``, and ``a2c_ray.sweep``) is the face over it.
"""

from __future__ import annotations

from a2c_ray.core import lazy

# what the later layers use, by the module it lives in
_WHERE = {
    "METRIC": "config", "RESUME_APPLIES": "config", "SweepConfig": "config", "SweepPlan": "config",
    "upgrade_sweep_json": "config",
    "quiet_tune": "console",
    "StopSignals": "control", "check_resume_asked": "control",
    "open_new": "control", "open_saved": "control", "resume_command": "control",
    "DriverLock": "driver",
    "SearchOutcome": "finish", "finish_sweep": "finish",
    "check_fits": "resources", "check_storage": "resources", "concurrency": "resources",
    "local_cpus": "resources",
    "set_aside_lost_trials": "saved",
    "SearchSpaceError": "space", "to_distributions": "space",
    "log_sweep_end": "tracking",
    "new_tuner": "tuner", "restored_tuner": "tuner",
}
__all__ = ["DriverLock", "METRIC", "RESUME_APPLIES", "SearchOutcome", "SearchSpaceError",
           "StopSignals", "SweepConfig", "SweepPlan", "check_fits", "check_resume_asked",
           "check_storage", "concurrency", "finish_sweep", "local_cpus",
           "log_sweep_end", "new_tuner", "open_new", "open_saved", "quiet_tune", "restored_tuner",
           "resume_command", "set_aside_lost_trials", "to_distributions", "upgrade_sweep_json"]
__getattr__, __dir__ = lazy(__name__, _WHERE)
