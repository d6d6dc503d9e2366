"""Search spaces: the one private Optuna call, pinned; what the default space searches where."""

import json

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from a2c_ray.tuning.space import in_distribution


@pytest.mark.parametrize("dist,inside,outside", [
    (FloatDistribution(1e-5, 1e-2, log=True), [1e-5, 7e-4, 1e-2], [0.0, 0.02, -1.0]),
    (FloatDistribution(0.9, 0.999), [0.9, 0.95, 0.999], [0.8999, 1.0]),
    (IntDistribution(1, 10), [1, 5, 10], [0, 11]),
    (IntDistribution(8, 64, step=8), [8, 16, 64], [12, 72]),
    (CategoricalDistribution(["adam", "rmsprop", None]), ["adam", None], ["sgd", 3]),
], ids=["float-log", "float", "int", "int-step", "categorical"])
def test_in_distribution_tells_inside_from_outside(dist, inside, outside):
    # If Optuna changes or drops the private _contains, this fails before a sweep does.
    assert all(in_distribution(dist, v) for v in inside)
    assert not any(in_distribution(dist, v) for v in outside)


def planned(**fields):
    from a2c_ray.tuning.config import SweepConfig
    from a2c_ray.tuning.plan import plan

    return plan(SweepConfig(name="t", **fields))


def test_a_published_start_point_comes_only_where_one_batch_of_it_fits_a_trial(caplog):
    """a2c-optuna's batch is 25 envs x 1000 steps: a sweep of 4,096-step trials starts from
    SB3's default A2C alone, and says why; one of 25,000-step trials from both."""
    from a2c_ray.tuning.space import A2C_OPTUNA_CONFIG, SB3_A2C_DEFAULTS
    from a2c_ray.tuning.tuner import first_points

    def first(max_steps):
        points = first_points(planned(env="CartPole-v1", max_steps=max_steps,
                                      grace_steps=2048))
        return [(p["rollout_length"], p["envs_per_worker"]) for p in points]

    sb3 = (SB3_A2C_DEFAULTS["rollout_length"], SB3_A2C_DEFAULTS["envs_per_worker"])
    optuna_point = (A2C_OPTUNA_CONFIG["rollout_length"], A2C_OPTUNA_CONFIG["envs_per_worker"])
    with caplog.at_level("INFO", logger="a2c_ray"):
        assert first(4096) == [sb3]
    assert ("not starting from the a2c-optuna project's configuration: one batch of it is "
            "25,000 env steps, more than --max-steps 4,096") in caplog.text
    assert first(25_000) == [sb3, optuna_point]


def test_the_default_space_searches_gsde_where_it_can_act():
    from a2c_ray.tuning.space import known_points

    box = planned(env="Pendulum-v1").search_space
    assert box["use_sde"] == {"type": "categorical", "values": [False, True]}
    # SB3's default A2C and the a2c-optuna project's configuration
    assert [p["use_sde"] for p in known_points(box).values()] == [False, False]
    assert "use_sde" not in planned(env="CartPole-v1").search_space  # Discrete
    own = planned(env="Pendulum-v1", overrides={"network": "tests.networks:layer_norm_mlp"})
    assert "use_sde" not in own.search_space  # a user's network has no gSDE features


def test_a_space_file_with_gsde_for_discrete_actions_is_refused(tmp_path):
    from a2c_ray.tuning.space import SearchSpaceError

    path = tmp_path / "space.json"
    path.write_text(json.dumps({"use_sde": {"type": "categorical", "values": [False, True]},
                                "epochs_per_rollout": {"type": "int", "low": 1, "high": 4}}))
    with pytest.raises(SearchSpaceError, match=r"use_sde cannot act in this sweep "
                                               r"\(CartPole-v1's actions are Discrete\(2\), "
                                               r"not a Box\)"):
        planned(env="CartPole-v1", search_space=str(path))
    space = planned(env="Pendulum-v1", search_space=str(path)).search_space
    assert set(space) == {"use_sde", "epochs_per_rollout"}


def test_a_bad_network_fails_the_sweep_before_it_starts():
    from a2c_ray.core.config import ConfigError

    with pytest.raises(ConfigError, match="network='tests.networks:wrong_shapes' maps"):
        planned(env="CartPole-v1", overrides={"network": "tests.networks:wrong_shapes"})


def test_the_search_evaluates_5_episodes_and_best_config_keeps_10():
    import pandas as pd

    from a2c_ray.tuning.finish import final_config

    default = planned(env="CartPole-v1")
    assert default.base_config["eval_episodes"] == 5
    row = pd.Series({"trial_id": "t", "config/learning_rate": 3e-4, "config/seeds": [1, 2]})
    final = final_config(row, default)
    assert final["eval_episodes"] == 10 and final["learning_rate"] == 3e-4
    chosen = planned(env="CartPole-v1", overrides={"eval_episodes": 3})
    assert chosen.base_config["eval_episodes"] == 3
    assert final_config(row, chosen)["eval_episodes"] == 3
