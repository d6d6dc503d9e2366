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


def test_a_published_start_point_comes_only_where_one_batch_of_it_fits_a_trial(
        caplog, tmp_path):
    """a2c-optuna's batch is 25 envs x 1000 steps: a sweep of 4,096-step trials starts from
    SB3's default A2C alone, and says why; one of 25,000-step trials from both. With the
    default space, whose rollouts of 1000 go where the first rung is shorter than one batch of
    them on 4 envs (``fit_batches``), the space itself leaves it out, and the log says that."""
    from a2c_ray.tuning.space import (
        A2C_OPTUNA_CONFIG,
        BOX_ONLY,
        SB3_A2C_DEFAULTS,
        load_search_space,
    )
    from a2c_ray.tuning.tuner import first_points

    default = tmp_path / "default.json"  # the default space as a user's file: not fitted
    default.write_text(json.dumps({k: v for k, v in load_search_space().items()
                                   if k not in BOX_ONLY}))

    def first(max_steps, grace_steps, **fields):
        points = first_points(planned(env="CartPole-v1", max_steps=max_steps,
                                      grace_steps=grace_steps, **fields))
        return [(p["rollout_length"], p["envs_per_worker"]) for p in points]

    sb3 = (SB3_A2C_DEFAULTS["rollout_length"], SB3_A2C_DEFAULTS["envs_per_worker"])
    optuna_point = (A2C_OPTUNA_CONFIG["rollout_length"], A2C_OPTUNA_CONFIG["envs_per_worker"])
    with caplog.at_level("INFO", logger="a2c_ray"):
        assert first(4096, 2048, search_space=str(default)) == [sb3]
    assert ("not starting from the a2c-optuna project's configuration: one batch of it is "
            "25,000 env steps, more than --max-steps 4,096") in caplog.text
    assert first(25_000, 2048, search_space=str(default)) == [sb3, optuna_point]
    caplog.clear()
    with caplog.at_level("INFO", logger="a2c_ray"):
        assert first(25_000, 2048) == [sb3]
    assert ("not starting from the a2c-optuna project's configuration: rollout_length=1000 is "
            "outside the search space entry") in caplog.text
    assert first(40_000, 4000) == [sb3, optuna_point]  # 1000 x 4 envs: the first rung


def test_the_default_space_leaves_out_rollouts_whose_batch_is_past_the_first_rung(
        caplog, tmp_path):
    """One batch on the fewest envs (4) more than the first rung: the default space drops the
    rollout and says so; a user's space keeps it and the log names it; a sweep of 1M-step
    trials and the README's quick start keep them all."""
    from a2c_ray.tuning.space import load_search_space

    rollouts = load_search_space()["rollout_length"]["values"]
    assert rollouts[-2:] == [128, 1000]

    def searched(**fields):
        p = planned(env="CartPole-v1", **fields)
        return p.search_space["rollout_length"]["values"], p.space_note

    assert searched() == (rollouts, "not searching use_sde: CartPole-v1's actions are "
                                    "Discrete(2), not a Box")  # 1M: first rung 100k
    assert searched(max_steps=50_000, grace_steps=10_000)[0] == rollouts  # the quick start
    values, note = searched(max_steps=4096, grace_steps=2048)
    assert values == rollouts[:-1]
    assert note.endswith("; not searching rollout_length 1000: one batch of it on 4 envs is "
                         "more than ASHA's first rung at 2,048 env steps, so such a trial "
                         "would first be compared on more training than the rest")
    # on 4 envs at fewest and 2 rollout actors a batch is 8 rollouts: 128 x 8 > 1,000
    values, note = searched(max_steps=4096, grace_steps=1000, num_rollout_workers=2)
    assert values == rollouts[:-2]
    assert "rollout_length 128, 1000: one batch of them on 4 envs x 2 rollout actors" in note
    values, note = searched(max_steps=512, grace_steps=16)  # none fits: the shortest stays
    assert values == [5] and note.endswith("(the shortest, 5, stays though its batch is past "
                                           "the rung too)")
    mine = tmp_path / "space.json"
    mine.write_text(json.dumps({"rollout_length": {"type": "categorical",
                                                   "values": [5, 1000]}}))
    with caplog.at_level("WARNING", logger="a2c_ray"):
        values, note = searched(max_steps=4096, grace_steps=2048, search_space=str(mine))
    assert values == [5, 1000] and note == ""
    assert (f"--search-space {mine}: rollout_length 1000: one batch of it on 8 envs is more "
            f"than ASHA's first rung at 2,048 env steps") in caplog.text
    mine.write_text(json.dumps({"rollout_length": {"type": "categorical", "values": [5, 100]},
                                "envs_per_worker": {"type": "int", "low": 2, "high": 64}}))
    caplog.clear()
    with caplog.at_level("WARNING", logger="a2c_ray"):
        assert searched(max_steps=4096, grace_steps=150, search_space=str(mine))[0] == [5, 100]
    assert "rollout_length 100: one batch of it on 2 envs is more than" in caplog.text


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
