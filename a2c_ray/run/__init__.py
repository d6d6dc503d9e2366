"""Layer 5, one configuration: a steppable run and ``train(config)``.

Also the run's logger, the Ray rollout actors, checkpoints that never unpickle, and several
seeds of one configuration trained in lockstep (``lockstep``), which ``train --seed 0 1 2`` and
a sweep's trial both use.
"""

from __future__ import annotations

from a2c_ray.core import lazy

# what the later layers use, by the module it lives in
_WHERE = {
    "ensure_ray": "actors", "trial_bundles": "actors",
    "CheckpointError": "checkpoint", "CheckpointStore": "checkpoint",
    "is_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "load_config": "checkpoint",
    "resolve_checkpoint": "checkpoint.resolve", "seed_checkpoints": "checkpoint",
    "IdleSeedActors": "lockstep", "SeedGroup": "lockstep",
    "TRACKERS": "tracking", "TrackerError": "tracking", "check_tracker": "tracking.check",
    "flat_numbers": "tracking", "track_spec": "tracking",
    "Trainer": "trainer", "train": "trainer",
}
__all__ = ["CheckpointError", "CheckpointStore", "IdleSeedActors", "SeedGroup", "TRACKERS",
           "TrackerError", "Trainer", "check_tracker", "ensure_ray", "flat_numbers",
           "is_checkpoint", "load_checkpoint", "load_config", "resolve_checkpoint",
           "seed_checkpoints", "track_spec", "train", "trial_bundles"]
__getattr__, __dir__ = lazy(__name__, _WHERE)
