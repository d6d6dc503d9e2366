"""A2CConfig's validation, in-process: one line naming the field, the value and what is allowed."""

import json

import numpy as np
import pytest

from a2c_ray.core.config import A2CConfig, ConfigError, field_names, parse_override


@pytest.mark.parametrize("values,message", [
    ({"no_such_key": 1}, "unknown config key 'no_such_key': expected one of"),
    ({"gamma": "abc"}, "A2CConfig.gamma='abc' has the wrong type: expected float"),
    ({"gamma": 1.5}, "A2CConfig.gamma=1.5 is out of range: expected float in [0, 1]"),
    ({"learning_rate": 0.0}, "learning_rate=0.0 is out of range: expected float in (0, 1]"),
    ({"rmsprop_alpha": 1.0}, "rmsprop_alpha=1.0 is out of range: expected float in [0, 1)"),
    ({"optimizer": "sgd"}, "optimizer='sgd' is not allowed: expected one of adam, rmsprop"),
    ({"envs_per_worker": -1}, "envs_per_worker=-1 is out of range: expected int in [1, 4096]"),
    ({"total_env_steps": 0}, "A2CConfig.total_env_steps=0 is out of range"),
    ({"n_layers": 2.5}, "A2CConfig.n_layers=2.5 has the wrong type: expected int"),
    ({"n_layers": True}, "A2CConfig.n_layers=True has the wrong type"),
    ({"normalize_obs": "yes"}, "A2CConfig.normalize_obs='yes' has the wrong type"),
    ({"gamma": float("nan")}, "A2CConfig.gamma=nan is out of range"),
    ({"env_id": " "}, "env_id='' is empty"),
    ({"td_lambda": 1.2}, "A2CConfig.td_lambda=1.2 is out of range"),
    ({"sde_sample_freq": -2}, "A2CConfig.sde_sample_freq=-2 is out of range: expected int in "
                              "[-1, inf]"),
    ({"sde_sample_freq": 0}, "A2CConfig.sde_sample_freq=0 is not allowed: expected -1"),
    ({"use_sde": "maybe"}, "A2CConfig.use_sde='maybe' has the wrong type"),
    ({"epochs_per_rollout": 0}, "A2CConfig.epochs_per_rollout=0 is out of range"),
    ({"minibatch_size": -1}, "A2CConfig.minibatch_size=-1 is out of range"),
    ({"network": 3}, "A2CConfig.network=3 has the wrong type: expected str | None"),
    ({"network": "mlp"}, "A2CConfig.network='mlp' is not an import path"),
])
def test_bad_values_raise_one_line_naming_field_and_range(values, message):
    with pytest.raises(ConfigError) as err:
        A2CConfig.from_dict(values)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_values_are_coerced_where_unambiguous():
    cfg = A2CConfig.from_dict({"n_layers": 3.0, "gamma": 1, "normalize_obs": "true",
                               "layer_size": np.int64(32), "td_lambda": None})
    assert (cfg.n_layers, cfg.gamma, cfg.normalize_obs, cfg.layer_size) == (3, 1.0, True, 32)
    assert isinstance(cfg.layer_size, int) and cfg.critic_lambda == cfg.gae_lambda
    assert A2CConfig(td_lambda=0.8).critic_lambda == 0.8


def test_round_trips_through_dict_and_json(tmp_path):
    cfg = A2CConfig(env_id="HalfCheetah-v5", learning_rate=3e-4, td_lambda=0.9, seed=7)
    assert A2CConfig.from_dict(cfg.to_dict()) == cfg
    assert A2CConfig.from_json_text(json.dumps(cfg.to_dict()), "x.json") == cfg
    assert set(cfg.to_dict()) == set(field_names())
    assert cfg.eval_seed != cfg.seed and cfg.replace(seed=8).eval_seed == cfg.eval_seed + 1


@pytest.mark.parametrize("text,expected", [
    ("gamma=0.95", ("gamma", 0.95)), ("optimizer=rmsprop", ("optimizer", "rmsprop")),
    ("normalize_obs=true", ("normalize_obs", True)), ("td_lambda=null", ("td_lambda", None)),
    (" layer_size = 32", ("layer_size", 32)),
])
def test_overrides_read_values_as_json_else_text(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["gamma", "=0.9", ""])
def test_override_without_key_or_value_is_refused(text):
    with pytest.raises(ConfigError, match="is not of the form key=value"):
        parse_override(text)


def test_bad_json_file_names_the_file():
    with pytest.raises(ConfigError, match="x.json"):
        A2CConfig.from_json_text("{not json", "x.json")


def test_every_field_has_a_docstring():
    """One docstring per field: the API reference lists them, as SweepConfig's flags do."""
    import dataclasses

    from a2c_ray.cli import field_docs

    docs = field_docs(A2CConfig)
    assert [f.name for f in dataclasses.fields(A2CConfig) if len(docs.get(f.name, "")) < 5] == []
