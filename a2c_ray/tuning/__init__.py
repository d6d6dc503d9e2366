"""Layer 6, the sweep on Ray Tune.

Its typed configuration, the search space, the trial (its seeds in lockstep are
``run.lockstep``'s), the schedule of rungs and evaluations, the Optuna searcher, resources,
the console, stop and resume, and the confirmation. ``a2c_ray.tune`` (``python -m
a2c_ray.tune``, and ``a2c_ray.sweep``) is the face over it.
"""
