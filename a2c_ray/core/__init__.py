"""Layer 1, core data: no Ray, no torch.

The typed, validated configuration of one run (``config``), GAE and TD(lambda) in numpy
(``gae``), the typed batch and weight broadcast between sampling and learning (``batch``), the
running mean and variance (``stats``), the supported spaces (``spaces``), the seed sets
(``seeds``), the statistics a sweep ranks seeds by (``scores``), ASHA's rungs as arithmetic
(``rungs``), local or s3:// paths for every layer that keeps files (``storage``), and
Ray Tune's saved experiment state, read in one place (``tune_state``).
"""

from __future__ import annotations

from a2c_ray.core.exports import lazy

# what the later layers use, by the module it lives in
_WHERE = {
    "Batch": "batch", "Broadcast": "batch",
    "A2CConfig": "config", "ConfigError": "config", "EVAL_HISTORY": "config",
    "check_field": "config", "choices": "config", "field_error": "config", "field_names": "config",
    "parse_override": "config", "value_range": "config",
    "compute_gae": "gae", "td_lambda_returns": "gae",
    "asha_milestones": "rungs", "scored_evaluations": "rungs", "seeds_after": "rungs",
    "STATISTICS": "scores", "aggregate": "scores", "intervals": "scores",
    "performance_profile": "scores", "rank_by": "scores", "seed_score": "scores",
    "seed_stats": "scores",
    "MAX_SWEEP_SEED": "seeds", "MAX_TEST_SEEDS": "seeds", "MAX_VALIDATION_SEEDS": "seeds",
    "test_seeds": "seeds", "train_seeds": "seeds", "validation_seeds": "seeds",
    "SUPPORTED_ACTIONS": "spaces", "SpaceError": "spaces", "check_spaces": "spaces",
    "encode_obs": "spaces", "image_parts": "spaces", "image_shape": "spaces",
    "obs_dim": "spaces", "obs_dtype": "spaces", "obs_layout": "spaces",
    "vector_columns": "spaces",
    "RunningMeanStd": "stats", "reward_scale": "stats",
    "DEFAULT_STORAGE": "storage", "read_config": "storage",
    "SavedTrial": "tune_state", "has_tune_state": "tune_state", "saved_trials": "tune_state",
}
__all__ = ["A2CConfig", "Batch", "Broadcast", "ConfigError", "DEFAULT_STORAGE", "EVAL_HISTORY",
           "MAX_SWEEP_SEED", "MAX_TEST_SEEDS", "MAX_VALIDATION_SEEDS", "RunningMeanStd",
           "STATISTICS", "SUPPORTED_ACTIONS", "SavedTrial", "SpaceError", "aggregate",
           "asha_milestones", "check_field", "check_spaces", "choices", "compute_gae",
           "encode_obs", "field_error", "field_names", "has_tune_state", "image_parts",
           "image_shape", "intervals", "lazy", "obs_dim", "obs_dtype", "obs_layout",
           "parse_override", "performance_profile", "rank_by", "read_config", "reward_scale",
           "saved_trials", "scored_evaluations", "seed_score", "seed_stats", "seeds_after",
           "td_lambda_returns", "test_seeds", "train_seeds", "validation_seeds", "value_range",
           "vector_columns"]
__getattr__, __dir__ = lazy(__name__, _WHERE)
