"""A sweep's typed configuration, as ``A2CConfig`` is one run's, and the plan made from it.

``SweepConfig`` is what a user asks for: validated on creation (a bad value raises
``ConfigError`` naming the field and what is accepted), one docstring per field, which is also
the help of its ``python -m a2c_ray.tune`` flag (``num_samples`` is ``--num-samples``).

``SweepPlan`` is the sweep as it runs: its configuration and what was derived from it and the
environment (the fixed part of every trial's config, the search space fitted to the action
space, the start points, the Optuna study's URL). It is what ``sweep.json`` holds, with its
format version (``SWEEP_FORMAT``), and a resumed sweep reads it back; ``upgrade_sweep_json`` is
the one place that reads a sweep.json of an older format as the current one.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from a2c_ray.core import (
    DEFAULT_STORAGE,
    EVAL_HISTORY,
    MAX_SWEEP_SEED,
    MAX_TEST_SEEDS,
    MAX_VALIDATION_SEEDS,
    STATISTICS,
    A2CConfig,
    ConfigError,
    asha_milestones,
    check_field,
    choices,
    field_error,
    value_range,
)
from a2c_ray.core import storage as st
from a2c_ray.run import TRACKERS

log = logging.getLogger("a2c_ray")

METRIC, MODE = "score", "max"
# Episodes per evaluation while searching: the score averages several evaluations of several
# seeds, so 5 rank trials as 10 do at half the cost (benchmarks/cost/README.md, "Sweep cost").
# Confirmation and best_config.json evaluate with the config's own default, 10.
SEARCH_EVAL_EPISODES = 5
# ASHA's first rung as a share of max_steps, where grace_steps is not given
GRACE_SHARE = 0.1
EVAL_SCHEDULES = ("rungs", "every")
SAMPLERS = ("tpe", "tpe-plain", "random")
STOPPED_TRIALS = ("pruned", "complete")
# Where a sweep is and how it is run, rather than what it searches: a resumed sweep takes
# these from its caller, and keeps the rest as it started.
RESUME_APPLIES = ("storage_path", "name", "address", "shared_storage", "confirm_top",
                  "confirm_seeds")


def _at_least(lo: int) -> dict[str, Any]:
    return value_range(lo, None)


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep of A2C on Ray Tune is asked to do.

    Trials are configurations that OptunaSearch proposes from the search space, each trained
    on ``seeds_per_trial`` training seeds in lockstep and ranked by ``score``; ASHA stops the
    weak ones at its rungs. ``a2c_ray.sweep(SweepConfig(...))`` runs one; so does
    ``python -m a2c_ray.tune`` with the same fields as flags.
    """

    num_samples: int = field(default=200, metadata=_at_least(1))
    """trials to run"""
    budget_steps: int | None = field(default=None, metadata=_at_least(1))
    """env steps the search and the validation may train in all, every seed counted (the
    validation's confirm_top x confirm_seeds x max_steps are set aside): once the search's
    trials have trained the rest, no trial starts, and those running finish (default: no
    limit but num_samples)"""
    env: str = "HalfCheetah-v5"
    """gymnasium id, or package.module:EnvId-v0"""
    max_steps: int = field(default=1_000_000, metadata=_at_least(1))
    """env steps per trial at most (ASHA's max_t), per seed"""
    grace_steps: int | None = field(default=None, metadata=_at_least(1))
    """env steps before ASHA may stop a trial (its first rung), at most max_steps (default:
    a tenth of max_steps)"""
    reduction_factor: float = field(default=3.0, metadata=value_range(1.0, None, lo_open=True))
    """ASHA's reduction factor: a rung keeps the best 1/factor of the trials; above 1"""
    max_concurrent_trials: int | None = field(default=None, metadata=_at_least(1))
    """trials at once (default: the most CPUs the cluster can grow to / CPUs per trial)"""
    storage_path: str = DEFAULT_STORAGE
    """local directory, shared filesystem or s3://bucket/prefix"""
    name: str | None = None
    """experiment name (default: a2c_<env>_<date-time>)"""
    address: str | None = None
    """Ray cluster to join, e.g. auto (default: RAY_ADDRESS, else start a local Ray)"""
    seed: int = field(default=0, metadata=value_range(0, MAX_SWEEP_SEED))
    """seed of the sampler and of the trials' training seeds (0 to 1000)"""
    seeds_per_trial: tuple[int, ...] = (3,)
    """training seeds a trial runs in lockstep, one CPU each (times 1 + num_rollout_workers),
    and is ranked on; several values: the seeds before the first rung, after surviving it,
    and so on (2 4 8: a trial ASHA keeps earns more seeds)"""
    score_evals: int = field(default=3, metadata=value_range(1, EVAL_HISTORY))
    """evaluations each seed's score averages, the latest N (1 to 10)"""
    score: str = field(default="mean-se", metadata=choices(*STATISTICS))
    """the score's statistic over a trial's seeds: mean-se (the mean less its standard error,
    which a stalled seed pulls down), mean, iqm, median, min"""
    eval_schedule: str = field(default="rungs", metadata=choices(*EVAL_SCHEDULES))
    """rungs: only the evaluations a score is read from, the latest N before each of ASHA's
    rungs and the end (the same scores and stops as 'every'; 12 of 40 evaluations in a
    1M-step trial at the defaults); every: every eval_interval_steps, for full evaluation
    curves"""
    stopped_trials: str = field(default="pruned", metadata=choices(*STOPPED_TRIALS))
    """what Optuna is told of a trial ASHA stopped: pruned at its env step, or complete with
    its low-budget score (what Ray's OptunaSearch does; for comparison)"""
    sampler: str = field(default="tpe", metadata=choices(*SAMPLERS))
    """tpe: TPE that counts running trials as bad (constant liar); tpe-plain: TPE blind to
    running trials; random"""
    search_space: str | None = None
    """JSON search space (default: a2c_ray/search_space.json, or for image observations
    a2c_ray/search_space_atari.json; copy and edit it)"""
    optuna_storage: str | None = None
    """Optuna RDB storage URL (default: SQLite file optuna.db in the experiment directory)"""
    num_rollout_workers: int = field(default=0, metadata=value_range(0, 1024))
    """Ray rollout actors per seed of a trial (0: sample in the seed's own process)"""
    overrides: dict[str, Any] = field(default_factory=dict)
    """A2CConfig fields fixed for every trial (--set KEY=VALUE, repeatable)"""
    checkpoint_every: int = field(default=50, metadata=_at_least(1))
    """iterations between trial checkpoints"""
    keep_checkpoints: int = field(default=2, metadata=_at_least(1))
    """checkpoints kept per trial"""
    max_failures: int = field(default=2, metadata=_at_least(0))
    """retries of a failed trial from its last checkpoint"""
    shared_storage: bool = False
    """the local storage_path is on a filesystem every node shares"""
    confirm_top: int = field(default=3, metadata=_at_least(0))
    """after the search, re-train the best K configurations on validation seeds (30000 on,
    never trained on in the search) at the full budget; the best there is the pick (0: the
    search's own best is)"""
    confirm_seeds: int = field(default=5, metadata=value_range(1, MAX_VALIDATION_SEEDS))
    """validation seeds per confirmed configuration (at most 1000)"""
    test_seeds: int = field(default=0, metadata=value_range(0, MAX_TEST_SEEDS))
    """then train the pick on this many test seeds (10000 on, which choose nothing) for the
    figure to report"""
    start_from: tuple[str, ...] = ()
    """JSON configs (a preset, a best_config.json) whose searched fields are the first
    trials, before SB3's defaults and TPE (--start-from CONFIG, repeatable)"""
    track: str | None = field(default=None, metadata=choices(*TRACKERS))
    """also send the trials to this experiment tracker, mlflow or wandb, one run each under
    the sweep's name, and a last run with the summary, best config and report
    (MLFLOW_TRACKING_URI, WANDB_PROJECT, WANDB_MODE=offline ...)"""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "overrides":
                if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                    raise field_error("SweepConfig", f.name, value,
                                      "is not allowed: expected a dict of A2CConfig fields")
            elif f.name == "seeds_per_trial":
                self._check_seeds(value)
            elif f.name == "start_from":
                if isinstance(value, list):  # JSON and argparse give lists
                    object.__setattr__(self, f.name, tuple(value))
                elif not isinstance(value, tuple):
                    raise field_error("SweepConfig", f.name, value,
                                      "is not allowed: expected a tuple of config paths")
            else:
                if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                    object.__setattr__(self, f.name, float(value))
                check_field(f, getattr(self, f.name), "SweepConfig")
        if self.grace_steps is None:
            object.__setattr__(self, "grace_steps", max(1, round(self.max_steps * GRACE_SHARE)))
        if self.grace_steps > self.max_steps:
            raise field_error("SweepConfig", "grace_steps", self.grace_steps,
                              f"exceeds max_steps {self.max_steps}: expected at most it")
        rungs = len(self.milestones)
        if len(self.seeds_per_trial) > rungs:
            raise field_error("SweepConfig", "seeds_per_trial", self.seeds_per_trial,
                              f"has more values than the sweep has rungs ({rungs}: before the "
                              "first, and after each but the last): expected at most that many")
        if self.budget_steps is not None and self.search_budget <= 0:
            raise field_error("SweepConfig", "budget_steps", self.budget_steps,
                              f"leaves no env steps to search after the validation's "
                              f"{self.validation_steps:,} (confirm_top x confirm_seeds x "
                              "max_steps): expected more")
        if self.name is not None and (not self.name.strip() or "/" in self.name):
            raise field_error("SweepConfig", "name", self.name,
                              "is not allowed: expected a non-empty name without '/'")

    def _check_seeds(self, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value,)  # one number: a fixed number of seeds
        elif isinstance(value, list):
            value = tuple(value)
        if not (isinstance(value, tuple) and value and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
            raise field_error("SweepConfig", "seeds_per_trial", value,
                              "is not allowed: expected one or more whole numbers >= 1")
        if list(value) != sorted(value):
            raise field_error("SweepConfig", "seeds_per_trial", value,
                              "is not allowed: a trial's seeds never shrink at a rung")
        object.__setattr__(self, "seeds_per_trial", value)

    @functools.cached_property
    def milestones(self) -> tuple[float, ...]:
        """ASHA's rungs in env steps per seed: grace_steps, times reduction_factor, to max_steps."""
        return tuple(asha_milestones(self.grace_steps, self.max_steps, self.reduction_factor))

    @property
    def validation_steps(self) -> int:
        """The env steps the validation trains: confirm_top x confirm_seeds x max_steps."""
        return self.confirm_top * self.confirm_seeds * self.max_steps

    @property
    def search_budget(self) -> int | None:
        """The env steps the search's trials may train, budget_steps less the validation's."""
        return None if self.budget_steps is None else self.budget_steps - self.validation_steps

    @property
    def seeds_first(self) -> int:
        """The seeds every trial starts with."""
        return self.seeds_per_trial[0]

    @property
    def seeds_most(self) -> int:
        """The seeds a trial has at most (a trial's block of training seeds)."""
        return self.seeds_per_trial[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        out = dataclasses.asdict(self)
        out["start_from"] = list(self.start_from)
        out["seeds_per_trial"] = list(self.seeds_per_trial)
        return out

    def replace(self, **changes: Any) -> SweepConfig:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)


SWEEP_FORMAT = 2
"""sweep.json's format version, written in the file as ``format``. 1: files written before the
version was (every SweepConfig field of the time at the top level); 0: files from before
SweepConfig, which held the trials' fixed config, the search space and a few settings."""


def upgrade_sweep_json(saved: dict[str, Any]) -> dict[str, Any]:
    """A sweep.json of any format as the current one: the one place that reads older files.

    A field an older file lacks reads as the value that sweep ran with. A file of a newer
    format than this a2c_ray writes raises ``ConfigError``.
    """
    out = dict(saved)
    version = out.get("format", 1)
    if not isinstance(version, int) or version > SWEEP_FORMAT:
        raise ConfigError(f"sweep.json format {version!r} is newer than this a2c_ray's "
                          f"{SWEEP_FORMAT}: upgrade a2c_ray to read it")
    if version < 2:
        base = out["base_config"]
        ran_with = {  # what a sweep from before SweepConfig ran with, where its file is silent
            "env": base["env_id"], "num_rollout_workers": base["num_rollout_workers"],
            "checkpoint_every": base["checkpoint_interval"], "eval_schedule": "every",
            "score_evals": 1, "seeds_per_trial": 1, "sampler": "tpe", "score": "mean",
            "confirm_top": 0, "confirm_seeds": 5, "test_seeds": 0, "start_points": [],
            "final_eval_episodes": base.get("eval_episodes", 10), "space_note": "",
            "metric": METRIC, "mode": MODE}
        for key, value in ran_with.items():
            out.setdefault(key, value)
        out["base_config"] = {"eval_episodes": 10, **base}
    out["format"] = SWEEP_FORMAT
    return out


def sweep_fields() -> list[dataclasses.Field]:
    """SweepConfig's fields, in the order of its flags."""
    return list(dataclasses.fields(SweepConfig))


def trial_config(base: dict[str, Any], params: dict[str, Any]) -> A2CConfig:
    """A trial's configuration: the fields every trial has, then its searched ``params``.

    Built from the fields rather than ``A2CConfig.replace`` on the base, so that a value the
    base left to be derived (``value_grad_steps`` from ``network``) is derived with the
    trial's own fields.
    """
    return A2CConfig.from_dict({**base, **params})


@dataclass(frozen=True)
class SweepPlan:
    """A sweep as it runs: its configuration and what was derived from it (``sweep.json``).

    Attributes:
        config: what was asked, with ``name`` set.
        base_config: the A2CConfig fields every trial has (the env, the budget, the seed
            base, evaluation and checkpoint settings, ``--set``); a trial adds its searched
            fields and its seeds.
        search_space: the search space, as its JSON, without fields that cannot act here.
        start_points: the configurations the first trials take, as points of the space.
        final_eval_episodes: episodes of the confirmation's and best_config.json's
            evaluations (the config's own 10, unless ``--set eval_episodes`` set both).
        optuna_storage: the Optuna study's storage URL.
        space_note: what was left out of the search space and why ('' if nothing).
    """

    config: SweepConfig
    base_config: dict[str, Any]
    search_space: dict[str, Any]
    start_points: tuple[dict[str, Any], ...]
    final_eval_episodes: int
    optuna_storage: str
    space_note: str = ""
    metric: str = METRIC
    mode: str = MODE

    @functools.cached_property
    def base(self) -> A2CConfig:
        """``base_config`` as the A2CConfig every trial starts from, validated once."""
        return A2CConfig.from_dict(self.base_config)

    def trial_config(self, params: dict[str, Any]) -> A2CConfig:
        """A trial's configuration: the base with the trial's searched ``params``."""
        return trial_config(self.base_config, params)

    @property
    def name(self) -> str:
        """The sweep's name (its directory under the storage path)."""
        assert self.config.name is not None
        return self.config.name

    @property
    def exp(self) -> str:
        """The sweep's directory, STORAGE/NAME."""
        return st.join(self.config.storage_path, self.name)

    def to_json(self) -> dict[str, Any]:
        """sweep.json's content: the configuration's fields and what was derived.

        Every field is at the top level (the search space's file as ``search_space_file``),
        and the derived values under the keys the results readers use.
        """
        config = self.config.to_dict()
        config["search_space_file"] = config.pop("search_space")
        config.pop("optuna_storage")
        return {"format": SWEEP_FORMAT, **config, "base_config": self.base_config,
                "search_space": self.search_space,
                "optuna_storage": self.optuna_storage, "metric": self.metric,
                "mode": self.mode, "start_points": list(self.start_points),
                "final_eval_episodes": self.final_eval_episodes, "space_note": self.space_note}

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> SweepPlan:
        """Inverse of to_json, for a sweep.json of any format (``upgrade_sweep_json``)."""
        saved = upgrade_sweep_json(saved)
        values: dict[str, Any] = {}
        for f in sweep_fields():
            key = "search_space_file" if f.name == "search_space" else f.name
            if f.name != "optuna_storage" and key in saved:
                values[f.name] = saved[key]
        return cls(config=SweepConfig(**values), base_config=saved["base_config"],
                   search_space=saved["search_space"],
                   start_points=tuple(saved["start_points"]),
                   final_eval_episodes=int(saved["final_eval_episodes"]),
                   optuna_storage=saved["optuna_storage"], space_note=saved["space_note"],
                   metric=saved["metric"], mode=saved["mode"])

    def replace(self, **changes: Any) -> SweepPlan:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


__all__ = ["METRIC", "MODE", "SWEEP_FORMAT", "ConfigError", "SweepConfig", "SweepPlan",
           "trial_config", "upgrade_sweep_json"]
