"""The typed sweep configuration: validation, its flags, sweep.json, and the Python entry point."""

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from a2c_ray.cli import field_docs, flag_message
from a2c_ray.core.config import ConfigError
from a2c_ray.tune import FLAGS, build_parser
from a2c_ray.tuning.config import SweepConfig, SweepPlan
from a2c_ray.tuning.plan import check_resume, plan

# the sweep.json of a sweep started before the configuration was typed (its search space cut
# to two fields), as `python -m a2c_ray.tune --num-samples 4 --env CartPole-v1 --max-steps
# 30000 --grace-steps 10000 --seeds-per-trial 2 --max-concurrent-trials 1 --checkpoint-every 5`
# wrote it
OLD_SWEEP_JSON = {
    "num_samples": 4, "max_steps": 30000, "grace_steps": 10000, "reduction_factor": 3,
    "max_concurrent_trials": 1, "seed": 0, "sampler": "tpe", "seeds_per_trial": 2,
    "score_evals": 3, "eval_schedule": "rungs", "stopped_trials": "pruned",
    "keep_checkpoints": 2, "max_failures": 2,
    "base_config": {"eval_interval_steps": 10000, "eval_episodes": 5, "env_id": "CartPole-v1",
                    "seed": 0, "total_env_steps": 30000, "num_rollout_workers": 0,
                    "checkpoint_interval": 5},
    "search_space": {"gamma": {"type": "categorical", "values": [0.95, 0.99]},
                     "learning_rate": {"type": "float", "low": 1e-5, "high": 3e-3, "log": True}},
    "optuna_storage": "sqlite:////tmp/old/optuna.db", "metric": "score", "mode": "max",
    "start_points": [], "final_eval_episodes": 10,
    "space_note": "not searching use_sde: CartPole-v1's actions are Discrete(2), not a Box",
}


@pytest.mark.parametrize("fields,named", [
    ({"num_samples": 0}, "SweepConfig.num_samples=0 is out of range: expected int in [1, inf]"),
    ({"grace_steps": 2_000_000}, "SweepConfig.grace_steps=2000000 exceeds max_steps 1000000"),
    ({"reduction_factor": 1}, "SweepConfig.reduction_factor=1.0 is out of range"),
    ({"seed": 1001}, "SweepConfig.seed=1001 is out of range: expected int in [0, 1000]"),
    ({"sampler": "grid"}, "SweepConfig.sampler='grid' is not allowed: expected one of tpe, "
                          "tpe-plain, random"),
    ({"score_evals": 11}, "SweepConfig.score_evals=11 is out of range"),
    ({"confirm_seeds": 0}, "SweepConfig.confirm_seeds=0 is out of range"),
    ({"num_samples": "many"}, "SweepConfig.num_samples='many' has the wrong type"),
    ({"overrides": ["gamma=0.9"]}, "SweepConfig.overrides=['gamma=0.9'] is not allowed"),
    ({"name": "a/b"}, "SweepConfig.name='a/b' is not allowed"),
])
def test_a_bad_field_raises_one_line_naming_it_and_what_is_accepted(fields, named):
    with pytest.raises(ConfigError) as caught:
        SweepConfig(**fields)
    assert str(caught.value).startswith(named) and "\n" not in str(caught.value)
    field = next(iter(fields))
    assert caught.value.field == field and caught.value.owner == "SweepConfig"


def test_the_command_line_says_it_with_the_flag():
    with pytest.raises(ConfigError) as caught:
        SweepConfig(reduction_factor=1)
    assert flag_message(caught.value, FLAGS).startswith("--reduction-factor 1 is out of range")
    with pytest.raises(ConfigError) as caught:
        plan(SweepConfig(env="CartPole-v1", name="t", overrides={"gamma": 0.9}))
    assert flag_message(caught.value, FLAGS) == (
        "--set gamma is searched by the search space: remove it from one of them")


def test_every_field_is_documented_and_is_a_flag_with_its_default():
    docs = field_docs(SweepConfig)
    parser = build_parser()
    actions = {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(SweepConfig):
        assert len(docs.get(f.name, "")) > 10, f"SweepConfig.{f.name} has no docstring"
        action = actions[f.name]
        assert action.help == docs[f.name]
        if f.default is not dataclasses.MISSING and not isinstance(f.default, tuple):
            assert action.default == f.default, f.name
    assert actions["overrides"].option_strings == ["--set"]
    assert actions["start_from"].option_strings == ["--start-from", "--config"]
    args = parser.parse_args(["--set", "gamma=0.9", "--set", "use_sde=true", "--start-from",
                              "a.json", "--shared-storage", "--reduction-factor", "2.5"])
    from a2c_ray.cli import fields_from_args

    config = SweepConfig(**fields_from_args(SweepConfig, args))
    assert config.overrides == {"gamma": 0.9, "use_sde": True}
    assert config.start_from == ("a.json",) and config.shared_storage
    assert config.reduction_factor == 2.5 and config.num_samples == 200


def test_sweep_json_round_trips_and_a_sweep_saved_before_reads_as_it_ran(tmp_path):
    new = plan(SweepConfig(env="CartPole-v1", name="t", storage_path=str(tmp_path),
                           seeds_per_trial=2, overrides={"eval_episodes": 3}))
    saved = json.loads(json.dumps(new.to_json()))
    assert SweepPlan.from_json(saved) == new
    # the keys the results readers, the report and the notebooks read are where they were
    for key in ("metric", "mode", "search_space", "base_config", "optuna_storage",
                "seeds_per_trial", "score_evals", "max_steps", "num_samples"):
        assert key in saved
    old = SweepPlan.from_json(OLD_SWEEP_JSON)
    assert old.config.env == "CartPole-v1" and old.config.checkpoint_every == 5
    assert old.config.seeds_per_trial == (2,) and old.config.eval_schedule == "rungs"
    assert old.base_config == OLD_SWEEP_JSON["base_config"]
    assert old.optuna_storage == "sqlite:////tmp/old/optuna.db"
    older = {k: v for k, v in OLD_SWEEP_JSON.items()
             if k not in ("eval_schedule", "score_evals", "seeds_per_trial", "sampler",
                          "final_eval_episodes", "start_points")}
    oldest = SweepPlan.from_json(older)  # before those settings existed: how it ran then
    assert (oldest.config.eval_schedule, oldest.config.score_evals,
            oldest.config.seeds_per_trial, oldest.final_eval_episodes) == ("every", 1, (1,), 5)


def test_sweep_json_has_a_format_version_and_one_place_reads_older_ones(tmp_path):
    from a2c_ray.results import sweep_settings
    from a2c_ray.tuning.config import SWEEP_FORMAT, upgrade_sweep_json

    new = plan(SweepConfig(env="CartPole-v1", name="t", storage_path=str(tmp_path)))
    assert new.to_json()["format"] == SWEEP_FORMAT == 2
    # a file without one is the landed format, read as the current one by every reader
    assert "format" not in OLD_SWEEP_JSON
    upgraded = upgrade_sweep_json(OLD_SWEEP_JSON)
    assert upgraded["format"] == SWEEP_FORMAT and upgraded["seeds_per_trial"] == 2
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "sweep.json").write_text(json.dumps(OLD_SWEEP_JSON))
    assert sweep_settings(tmp_path / "old") == upgraded
    assert SweepPlan.from_json(upgraded) == SweepPlan.from_json(OLD_SWEEP_JSON)
    with pytest.raises(ConfigError, match="sweep.json format 3 is newer than this a2c_ray's 2"):
        upgrade_sweep_json({**OLD_SWEEP_JSON, "format": 3})


def test_a_resume_keeps_the_sweeps_settings():
    saved = SweepPlan.from_json(OLD_SWEEP_JSON)
    check_resume(saved, {"num_samples": 4, "confirm_top": 3, "address": "auto"})
    with pytest.raises(ConfigError, match="num_samples=8 differs from the sweep's 4"):
        check_resume(saved, {"num_samples": 8})
    with pytest.raises(ConfigError, match="ent_coef=0.1' differs from the sweep's "
                                          "ent_coef=None"):
        check_resume(saved, {"overrides": {"ent_coef": 0.1}})
    check_resume(saved, {"overrides": {"eval_episodes": 5}})  # what the sweep has


def test_a_searcher_pickled_under_its_old_module_name_loads():
    """A sweep saved before the tree had layers pickled ``a2c_ray.study.StudySearcher`` into
    its tuner.pkl; ``restored_tuner`` makes that name find the class before Tune unpickles."""
    from a2c_ray.tuning import searcher
    from a2c_ray.tuning.tuner import accept_old_pickles

    accept_old_pickles()
    assert pickle.loads(b"ca2c_ray.study\nStudySearcher\n.") is searcher.StudySearcher


@pytest.fixture
def ray_stopped_after():
    yield
    import ray

    ray.shutdown()


@pytest.mark.slow
def test_a_sweep_from_python_returns_what_a_notebook_reads(tmp_path, ray_stopped_after):
    from a2c_ray import SweepConfig as FromFace
    from a2c_ray import sweep

    # a small space: the default one can draw 25,000-step batches (1000 steps x 25 envs)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"learning_rate": {"type": "float", "low": 3e-4, "high": 3e-3,
                                                   "log": True}}))
    config = FromFace(env="CartPole-v1", num_samples=3, max_steps=4096, grace_steps=2048,
                      seeds_per_trial=1, storage_path=str(tmp_path), name="py",
                      overrides={"eval_episodes": 2}, max_concurrent_trials=2,
                      search_space=str(space), sampler="random", confirm_seeds=1)
    result = sweep(config)
    assert result.exit_code == 0 and not result.interrupted
    assert result.path == str(tmp_path / "py")
    assert result.summary["num_trials"] == 3 and result.summary["trials_by_status"] == {
        "TERMINATED": 3}
    trials = result.trials()
    assert len(trials) == 3 and trials["score"].notna().all()
    # by default the best 3 re-trained on validation seeds, and the best there is the pick
    assert len(result.confirmation) == 3
    assert result.summary["chosen_on"].startswith("validation seeds")
    assert result.best_config == result.summary["confirmed_best_config"]
    assert result.best_config == json.loads((tmp_path / "py" / "best_config.json").read_text())
    assert set(result.curves()["trial_id"]) == set(trials["trial_id"])
    saved = SweepPlan.from_json(json.loads((tmp_path / "py" / "sweep.json").read_text()))
    assert saved.config == config


@pytest.mark.slow
def test_a_sweep_the_landed_version_saved_and_a_sigkill_stopped_resumes(tmp_path):
    """tests/data/landed_sweep: 3 trials, one finished and one running when killed, saved by
    the version before sweep.json had a format (tests/data/make_landed_sweep.py)."""
    import shutil
    import subprocess
    import sys

    from a2c_ray.results import load_curves, load_trials

    landed = Path(__file__).parent / "data" / "landed_sweep"
    exp = tmp_path / "landed_sweep"
    shutil.copytree(landed, exp)
    assert "format" not in json.loads((exp / "sweep.json").read_text())
    finished = load_curves(exp)
    before = finished[finished["trial_id"] == "8e1c101a"].reset_index(drop=True)
    r = subprocess.run([sys.executable, "-m", "a2c_ray.tune", "--resume", "--name",
                        "landed_sweep", "--storage-path", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    trials = load_trials(exp)
    assert len(trials) == 3 and set(trials["status"]) == {"TERMINATED"}
    assert (trials["env_steps"] >= 6000).all()
    # the finished trial is as it was, each env step once in the resumed one
    after = load_curves(exp)
    kept = after[after["trial_id"] == "8e1c101a"].reset_index(drop=True)
    assert kept["env_steps"].tolist() == before["env_steps"].tolist()
    for _, rows in after.groupby("trial_id"):
        assert rows["env_steps"].is_unique
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["num_trials"] == 3 and (exp / "best_config.json").exists()
    # the study was read where the copy is, never at the path the landed sweep saved
    assert json.loads((exp / "sweep.json").read_text())["optuna_storage"].endswith(
        f"{exp}/optuna.db")
