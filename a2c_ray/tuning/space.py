"""Search spaces, a JSON file of A2CConfig fields and distributions.

Each entry maps an A2CConfig field to one of::

    {"type": "float", "low": 1e-5, "high": 3e-3, "log": true}
    {"type": "int", "low": 1, "high": 3}                      ("log" optional)
    {"type": "categorical", "values": [64, 128, 256]}

The default space is ``a2c_ray/search_space.json``; copy it, edit it and pass it with
``--search-space FILE``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna

from a2c_ray.core import A2CConfig, ConfigError, field_names

DEFAULT_SPACE = Path(__file__).parents[1] / "search_space.json"
# Image observations (Atari): their own space, and the fields a sweep of it fixes, from the
# A2C Atari configuration the package ships (rl-baselines3-zoo's, in a2c_ray's fields).
IMAGE_SPACE = Path(__file__).parents[1] / "search_space_atari.json"
IMAGE_CONFIG = Path(__file__).parents[1] / "atari.json"
# Fields a sweep fixes for every trial; they cannot be searched.
NOT_SEARCHABLE = ("env_id", "seed", "total_env_steps", "num_rollout_workers",
                  "checkpoint_interval", "eval_interval_steps", "eval_episodes")

# Fields that act only where the actions are a Box, and of those gSDE's, which also need the
# built-in MLP's features; a sweep of the default space leaves them out elsewhere.
GSDE_FIELDS = ("use_sde", "sde_sample_freq", "sde_log_std_init")
BOX_ONLY = ("log_std_init", *GSDE_FIELDS)

# Stable-Baselines3's A2C defaults (n_envs=8), the baseline every sweep evaluates first.
SB3_A2C_DEFAULTS: dict[str, Any] = {
    "n_layers": 2, "layer_size": 64, "activation": "tanh", "gamma": 0.99,
    "learning_rate": 7e-4, "lr_schedule": "constant", "optimizer": "rmsprop",
    "gae_lambda": 1.0, "td_lambda": 1.0, "value_grad_steps": 1, "rollout_length": 5,
    "envs_per_worker": 8, "normalize_advantage": False, "normalize_obs": False,
    "normalize_reward": False, "ent_coef": 0.0, "vf_coef": 0.5, "max_grad_norm": 0.5,
    "use_sde": False, "epochs_per_rollout": 1, "minibatch_size": 0,
}


# The a2c-optuna project's published HalfCheetah configuration (github.com/georgysavva/
# a2c-optuna, "A2C Optuna"): 3x256, gamma 0.99, learning rate 1e-3, GAE and TD lambda 1
# (reward to go with a baseline), 50 critic steps per batch, 25,000-step batches (25 envs x
# 1000 steps), advantages normalised. What it does not publish takes its homework code's
# choices: Adam, tanh, a constant rate, no observation or reward normalisation, no entropy
# bonus; the loosest gradient clip of the default space.
A2C_OPTUNA_CONFIG: dict[str, Any] = {
    "n_layers": 3, "layer_size": 256, "activation": "tanh", "gamma": 0.99,
    "learning_rate": 1e-3, "lr_schedule": "constant", "optimizer": "adam",
    "gae_lambda": 1.0, "td_lambda": 1.0, "value_grad_steps": 50, "rollout_length": 1000,
    "envs_per_worker": 25, "normalize_advantage": True, "normalize_obs": False,
    "normalize_reward": False, "ent_coef": 0.0, "vf_coef": 0.5, "max_grad_norm": 5.0,
    "use_sde": False, "epochs_per_rollout": 1, "minibatch_size": 0,
}


class SearchSpaceError(ValueError):
    """A search space file is unreadable or names an invalid distribution."""


def load_search_space(path: str | Path | None = None) -> dict[str, Any]:
    """Read and validate a search space file; returns the raw JSON dict."""
    path = Path(path) if path is not None else DEFAULT_SPACE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise SearchSpaceError(f"search space file {str(path)!r} does not exist") from None
    except json.JSONDecodeError as err:
        raise SearchSpaceError(f"search space file {str(path)!r} is not JSON: {err}") from None
    if not isinstance(raw, dict) or not raw:
        raise SearchSpaceError(f"search space {str(path)!r} must be a non-empty JSON object")
    to_distributions(raw)  # validates
    return raw


def _dist(name: str, spec: Any) -> optuna.distributions.BaseDistribution:
    where = f"search space entry {name!r}"
    if name not in field_names():
        raise SearchSpaceError(f"{where} is not an A2CConfig field: expected one of "
                               f"{', '.join(f for f in field_names() if f not in NOT_SEARCHABLE)}")
    if name in NOT_SEARCHABLE:
        raise SearchSpaceError(f"{where} cannot be searched: a sweep fixes {name} for all trials")
    if not isinstance(spec, dict) or spec.get("type") not in ("float", "int", "categorical"):
        raise SearchSpaceError(f"{where}={spec!r}: expected an object with \"type\" float, int "
                               "or categorical")
    kind = spec["type"]
    allowed = {"float": {"type", "low", "high", "log"}, "int": {"type", "low", "high", "log"},
               "categorical": {"type", "values"}}[kind]
    extra = set(spec) - allowed
    if extra:
        raise SearchSpaceError(f"{where} has unknown keys {sorted(extra)}: a {kind} takes "
                               f"{sorted(allowed - {'type'})}")
    try:
        if kind == "categorical":
            values = spec["values"]
            if not isinstance(values, list) or not values:
                raise SearchSpaceError(f"{where}: \"values\" must be a non-empty list")
            dist = optuna.distributions.CategoricalDistribution(values)
            bounds = values
        else:
            low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
            cls = (optuna.distributions.FloatDistribution if kind == "float"
                   else optuna.distributions.IntDistribution)
            dist = cls(low=low, high=high, log=log)
            bounds = [low, high]
    except KeyError as err:
        raise SearchSpaceError(f"{where} lacks {err.args[0]!r}") from None
    except (TypeError, ValueError) as err:
        if isinstance(err, SearchSpaceError):
            raise
        raise SearchSpaceError(f"{where}={spec!r} is invalid: {err}") from None
    for value in bounds:  # every value the space can produce must be a valid config value
        try:
            A2CConfig.from_dict({name: value})
        except ConfigError as err:
            raise SearchSpaceError(f"{where} allows an invalid value: {err}") from None
    return dist


def to_distributions(space: dict[str, Any]) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optuna distributions for each entry of a validated space."""
    return {name: _dist(name, spec) for name, spec in space.items()}


def in_distribution(dist: optuna.distributions.BaseDistribution, value: Any) -> bool:
    """Whether an Optuna distribution can produce ``value``.

    Optuna has no public test for this; its private ``_contains`` (Optuna 3 to 5) is used here
    and only here, and tests/test_search_space.py fails loudly if it changes.
    """
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):  # a categorical without this value
        return False


def space_point(space: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The searched fields of a full config as a point of this space.

    Raises:
        SearchSpaceError: a searched field's value is one the space cannot produce.
    """
    point = {}
    for name, dist in to_distributions(space).items():
        value = values.get(name)
        if not in_distribution(dist, value):
            raise SearchSpaceError(f"{name}={value!r} is outside the search space entry "
                                   f"{space[name]}")
        point[name] = value
    return point


def baseline_point(space: dict[str, Any],
                   config: dict[str, Any] = SB3_A2C_DEFAULTS) -> dict[str, Any] | None:
    """A known configuration (SB3's default A2C) as a point of this space; None if outside it."""
    if not set(space) <= set(config):
        return None
    try:
        return space_point(space, config)
    except SearchSpaceError:
        return None


KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "SB3's default A2C": SB3_A2C_DEFAULTS,
    "the a2c-optuna project's configuration": A2C_OPTUNA_CONFIG,
}


def known_points(space: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The published configurations this space can express, by name: SB3's, a2c-optuna's."""
    points = {name: baseline_point(space, c) for name, c in KNOWN_CONFIGS.items()}
    return {name: p for name, p in points.items() if p is not None}
