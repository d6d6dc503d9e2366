"""Seeds in lockstep, the score, the seeds policy and the Optuna study told the truth."""

import math
import os
import pickle
from pathlib import Path

import numpy as np
import optuna
import pytest
import ray
from ray.tune.utils import flatten_dict

from a2c_ray import A2CConfig, Trainer
from a2c_ray.core import seeds as seeding
from a2c_ray.core.seeds import MAX_SWEEP_SEED, MAX_TEST_SEEDS, train_seeds
from a2c_ray.results import seed_stats
from a2c_ray.run.checkpoint import load_config, seed_checkpoints
from a2c_ray.run.lockstep import SeedGroup
from a2c_ray.tuning.searcher import StudySearcher
from a2c_ray.tuning.study import close_orphans
from a2c_ray.tuning.trial import trial_metrics

CFG = A2CConfig(env_id="CartPole-v1", total_env_steps=3072, eval_episodes=2,
                eval_interval_steps=512, rollout_length=16, envs_per_worker=4)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_training_seeds_are_distinct_and_never_test_seeds():
    tests = set(seeding.test_seeds(MAX_TEST_SEEDS))
    for sweep_seed in (0, 1, MAX_SWEEP_SEED):
        seen: set[int] = set()
        for n in range(500):
            seeds = train_seeds(sweep_seed, n, 3)
            assert len(seeds) == 3 and not seen & set(seeds) and not tests & set(seeds)
            seen |= set(seeds)
        assert max(seen) + 1_000_003 + 64 < 2**31  # eval and env offsets stay in int32
    assert train_seeds(0, 0, 1) == [1_000_000] and seeding.test_seeds(2) == [10_000, 10_001]


def test_trial_metrics_score_is_the_mean_of_the_seeds_scores():
    per_seed = [
        {"seed": 7, "env_steps": 4096, "iteration": 8, "weights_version": 8, "score": 100.0,
         "eval_return_last": 110.0, "eval_return_mean": 110.0, "episode_return_mean": 50.0,
         "worker_failures": 1, "env_steps_per_s": 1000.0},
        {"seed": 8, "env_steps": 4096, "iteration": 8, "weights_version": 8, "score": 40.0,
         "eval_return_last": 30.0, "eval_return_mean": 30.0, "episode_return_mean": 20.0,
         "worker_failures": 0, "env_steps_per_s": 3000.0},
        {"seed": 9, "env_steps": 4096, "iteration": 8, "weights_version": 8, "score": 70.0,
         "eval_return_last": 80.0, "eval_return_mean": math.nan, "episode_return_mean": 35.0,
         "worker_failures": 2, "env_steps_per_s": 2000.0},
    ]
    m = trial_metrics(per_seed)
    assert m["score"] == pytest.approx(70.0)
    assert m["score_std"] == pytest.approx(np.std([100, 40, 70], ddof=1))
    assert m["score_min"] == 40.0
    assert m["env_steps"] == 4096 and m["iteration"] == 8  # per seed, not summed
    assert m["eval_return_mean"] == pytest.approx(70.0)  # NaN where a seed has none
    assert m["worker_failures"] == 3 and m["env_steps_per_s"] == pytest.approx(2000.0)
    assert m["per_seed"]["9"]["score"] == 70.0 and set(m["per_seed"]) == {"7", "8", "9"}
    # no score until every seed has one
    one_missing = [dict(per_seed[0]), {**per_seed[1], "score": math.nan}]
    assert all(math.isnan(trial_metrics(one_missing)[k])
               for k in ("score", "score_std", "score_min"))
    assert trial_metrics(per_seed[:1])["score_std"] == 0.0


def test_trainer_score_averages_the_latest_evaluations(tmp_path):
    with Trainer(CFG, show_progress=False, use_ray=False) as t:
        assert math.isnan(t.score(3))
        t.run()
        evals = list(t.state.recent_evals)
        assert len(evals) == 6  # one per 512 steps
        assert t.score(3) == pytest.approx(np.mean(evals[-3:]))
        assert t.score(1) == evals[-1] == t.state.last_eval[0]
        t.save(tmp_path / "ck")
    with Trainer.restore(tmp_path / "ck", show_progress=False, use_ray=False) as t:
        assert list(t.state.recent_evals) == evals  # the score survives a restore


def test_seed_stats_against_hand_computed_values():
    s = seed_stats([5.0, 1.0, 3.0, 100.0, 2.0, 4.0, 6.0, 0.0])
    assert s["mean"] == pytest.approx(121 / 8) and s["worst"] == 0.0 and s["n"] == 8
    assert s["iqm"] == pytest.approx(np.mean([2, 3, 4, 5]))  # 2 cut from each end
    assert s["sem"] == pytest.approx(np.std([5, 1, 3, 100, 2, 4, 6, 0], ddof=1) / np.sqrt(8))
    assert seed_stats([3.0])["iqm"] == 3.0 and math.isnan(seed_stats([3.0])["sem"])


def test_group_in_lockstep_saves_every_seed_and_resumes_exactly(local_ray, tmp_path):
    configs = [CFG.replace(seed=s) for s in (11, 12)]
    with SeedGroup(configs, score_evals=2) as group:
        first = group.run(1024)
        assert [m["seed"] for m in first] == [11, 12]
        assert {m["env_steps"] for m in first} == {1024}
        assert first[0]["eval_return_last"] != first[1]["eval_return_last"] or (
            first[0]["episode_return_mean"] != first[1]["episode_return_mean"])
        saved = group.save(tmp_path / "ck")
        whole = group.run(3072)
    uris = seed_checkpoints(str(saved))
    assert [Path(u).name for u in uris] == ["seed-11", "seed-12"]
    assert load_config(saved).seed == 11  # a reader of one checkpoint gets the first seed
    with SeedGroup(configs, score_evals=2, resume_from=str(saved)) as group:
        again = group.run(3072)
    timing = {"env_steps_per_s", "time_total_s", "eval_time_s"}
    assert [{k: v for k, v in m.items() if k not in timing} for m in again] == [
        {k: v for k, v in m.items() if k not in timing} for m in whole]
    # each seed matches the same seed trained alone, in this process
    with Trainer(configs[1], show_progress=False, use_ray=False) as alone:
        assert alone.run(3072)["episode_return_mean"] == whole[1]["episode_return_mean"]


def _two_trials_in_one_group(configs_a, configs_b, steps):
    """Run in a placement group, as a sweep's trial actor: trial a, then trial b."""
    import ray

    from a2c_ray.run import lockstep

    def one(configs):
        with SeedGroup(configs, score_evals=2, idle=lockstep.IdleSeedActors.here()) as group:
            metrics = group.run(steps)
            actors = [r._actor_id.hex() for r in group.remote]
        return metrics, actors

    a, b = one(configs_a), one(configs_b)
    idle = len(lockstep.IdleSeedActors.here().actors)
    for actor in lockstep.IdleSeedActors.here().actors.values():
        ray.kill(actor)
    return a, b, idle


def test_a_seed_actor_serves_the_next_trial_exactly_as_a_new_one(local_ray):
    """A sweep reuses its trial actors, and a trial's seed actors serve the next trial."""
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    run = ray.remote(_two_trials_in_one_group)
    a = [CFG.replace(seed=s, learning_rate=3e-3) for s in (21, 22)]
    b = [CFG.replace(seed=s) for s in (31, 32)]
    results = []
    for first in (a, b):  # b after a, and b after b (the first b on new actors), each in a
        # placement group of its own
        pg = placement_group([{"CPU": 1}, {"CPU": 1}])
        ray.get(pg.ready())
        strategy = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
        results.append(ray.get(run.options(num_cpus=1, scheduling_strategy=strategy).remote(
            first, b, 1024)))
        remove_placement_group(pg)
    (ma, actors_a), (after_a, actors_b), idle = results[0]
    assert actors_b == actors_a and idle == 1  # the seed actor was kept and used again
    assert [m["seed"] for m in after_a] == [31, 32]
    timing = {"env_steps_per_s", "time_total_s", "eval_time_s"}
    (fresh_b, _), (after_b, _), _ = results[1]

    def untimed(metrics):
        return [{k: v for k, v in m.items() if k not in timing} for m in metrics]

    assert untimed(after_a) == untimed(fresh_b) == untimed(after_b)
    assert ma[1]["episode_return_mean"] != after_a[1]["episode_return_mean"]


def _searcher(tmp_path, **kw):
    space = {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
    return StudySearcher(space, f"sqlite:///{tmp_path / 'o.db'}", "s",
                         optuna.samplers.RandomSampler(seed=0), metric="score", mode="max",
                         max_steps=1000, sweep_seed=2, seeds_per_trial=3,
                         points_to_evaluate=[{"learning_rate": 1e-3}], **kw)


def test_study_is_told_pruned_complete_and_fail_at_env_steps(tmp_path):
    searcher = _searcher(tmp_path)
    params = {t: searcher.suggest(t) for t in ("a", "b", "c", "d")}
    assert params["a"] == {"learning_rate": 1e-3, "seeds": [3_000_000, 3_000_001, 3_000_002]}
    assert params["b"]["seeds"] == [3_000_003, 3_000_004, 3_000_005]
    for steps, score in ((250, 10.0), (500, 20.0)):
        for t in "abc":
            searcher.on_trial_result(t, {"env_steps": steps, "score": score})
    searcher.on_trial_result("a", {"env_steps": 500, "score": 99.0})  # a resumed repeat
    searcher.on_trial_result("d", {"env_steps": 250, "score": math.nan})  # not scored yet
    searcher.on_trial_complete("a", {"env_steps": 1000, "score": 30.0})
    searcher.on_trial_complete("b", {"env_steps": 750, "score": 25.0})  # ASHA stopped it
    searcher.on_trial_complete("c", {"env_steps": 500, "score": 20.0}, error=True)
    searcher.on_trial_complete("d", {"env_steps": 1000, "score": math.nan})

    url = f"sqlite:///{tmp_path / 'o.db'}"
    trials = optuna.load_study(study_name="s", storage=url).trials
    state = {t.number: t.state.name for t in trials}
    # the errored one waits for the sweep's end: --resume runs errored trials again
    assert state == {0: "COMPLETE", 1: "PRUNED", 2: "RUNNING", 3: "FAIL"}
    assert trials[2].user_attrs == {"errored": True}
    assert searcher.suggest("e") is not None  # nor does it hold a place among those running
    close_orphans(url, "s")  # as the sweep's end does
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert trials[2].state.name == "FAIL"
    assert trials[0].value == 30.0
    assert trials[0].intermediate_values == {250: 10.0, 500: 20.0, 1000: 30.0}
    assert trials[1].intermediate_values == {250: 10.0, 500: 20.0, 750: 25.0}


def test_an_errored_trial_that_a_resume_runs_again_ends_as_it_ran(tmp_path):
    """Tune gives up on a trial after --max-failures errors and --resume runs it again
    (``resume_errored``): once told FAIL, its study trial could not take the rerun's results.

    (The fault soak found it: a trial ERROR after three of its nodes were killed, TERMINATED
    after the resume, FAIL in the study.)
    """
    searcher = _searcher(tmp_path)
    searcher.set_max_concurrency(1)
    a = searcher.suggest("a")
    searcher.on_trial_result("a", {"env_steps": 250, "score": 1.0, "config": a})
    searcher.on_trial_complete("a", error=True)  # the driver gives up on it
    assert searcher.suggest("b") is not None  # the next trial takes its place
    searcher.on_trial_complete("b", {"env_steps": 1000, "score": 3.0})
    searcher.save(str(tmp_path / "searcher.pkl"))  # the state the stopped driver saved
    restored = _searcher(tmp_path)
    restored.restore(str(tmp_path / "searcher.pkl"))
    restored.set_max_concurrency(1)
    assert restored.suggest("c") is None  # a, run again, holds the one place
    restored.on_trial_result("a", {"env_steps": 500, "score": 2.0, "config": a})
    restored.on_trial_complete("a", {"env_steps": 1000, "score": 4.0, "config": a})
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert trials[0].value == 4.0 and trials[0].intermediate_values == {250: 1.0, 500: 2.0,
                                                                        1000: 4.0}


def test_study_searcher_survives_tunes_save_and_restore(tmp_path):
    searcher = _searcher(tmp_path)
    searcher.suggest("a")
    searcher.on_trial_result("a", {"env_steps": 250, "score": 1.0})
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = _searcher(tmp_path)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.suggest("a")["seeds"] == [3_000_000, 3_000_001, 3_000_002]  # same trial
    restored.on_trial_complete("a", {"env_steps": 500, "score": 2.0})
    assert restored.suggest("b")["seeds"] == [3_000_003, 3_000_004, 3_000_005]
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}").trials
    assert trials[0].state.name == "PRUNED" and trials[0].intermediate_values == {250: 1.0,
                                                                                    500: 2.0}


def test_study_searcher_resumes_from_a_state_saved_out_of_step_with_the_experiment(tmp_path):
    """A killed driver's saved searcher holds a trial since finished and lacks a running one.

    (Tune's ConcurrencyLimiter, restored from such a state, never suggested again: the
    resumed sweep waited forever, and the running trial was never told.)
    """
    searcher = _searcher(tmp_path)
    assert searcher.set_max_concurrency(1)  # Tune's limiter then leaves the limit to it
    searcher.suggest("a")
    assert searcher.suggest("b") is None  # one at a time
    searcher.save(str(tmp_path / "searcher.pkl"))  # the state the killed driver left
    searcher.on_trial_complete("a", {"env_steps": 1000, "score": 5.0})
    b = searcher.suggest("b")  # then it ran b, and was killed
    restored = _searcher(tmp_path)
    restored.restore(str(tmp_path / "searcher.pkl"))
    # as Tune hands them: flattened ("config/seeds")
    restored.on_trial_result("b", flatten_dict({"env_steps": 500, "score": 3.0, "config": b}))
    restored.on_trial_complete("b", flatten_dict({"env_steps": 1000, "score": 4.0,
                                                  "config": b}))
    c = restored.suggest("c")
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}").trials
    assert trials[1].value == 4.0 and trials[1].intermediate_values == {500: 3.0, 1000: 4.0}
    # the sampler, restored as it was saved before b was drawn, draws b's configuration again:
    # told FAIL as a repeat, and c is drawn anew (its seeds numbered by its own Optuna trial)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "FAIL", "RUNNING"]
    assert trials[2].user_attrs == {"duplicate_of": 1} and trials[2].params == trials[1].params
    assert c["learning_rate"] != b["learning_rate"]
    assert c["seeds"] == [3_000_009, 3_000_010, 3_000_011]


def test_study_searcher_saved_by_the_earlier_version_restores_each_trial_as_it_was(tmp_path):
    """The earlier version saved its trials in four collections by Tune's trial id (Optuna
    ids, last reported env steps, ended, held); the restored searcher knows each trial as it
    was: the reported step still skips repeats, the ended one is told nothing more, and the
    held (errored) one runs again."""
    searcher = _searcher(tmp_path)
    params = {t: searcher.suggest(t) for t in "abc"}
    searcher.set_max_concurrency(2)
    searcher.on_trial_result("a", {"env_steps": 250, "score": 1.0})
    searcher.on_trial_complete("b", {"env_steps": 1000, "score": 5.0})
    searcher.on_trial_result("c", {"env_steps": 250, "score": 2.0})
    searcher.on_trial_complete("c", error=True)
    state = {k: v for k, v in searcher.__getstate__().items() if k != "_trials"}
    ids = {t: searcher._trials[t].optuna_id for t in "abc"}
    state.update(_trials=ids, _reported={"a": 250, "b": 1000, "c": 250}, _ended={"b", "c"},
                 _held={"c"})
    (tmp_path / "searcher.pkl").write_bytes(pickle.dumps(state))
    restored = _searcher(tmp_path)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.suggest("d") is None  # a and c run (c again), b has ended: 2 places
    assert [restored.suggest(t) for t in "ac"] == [params["a"], params["c"]]
    restored.on_trial_result("a", {"env_steps": 250, "score": 99.0})  # a resumed repeat
    restored.on_trial_complete("a", {"env_steps": 1000, "score": 3.0})
    restored.on_trial_complete("b", {"env_steps": 1000, "score": 99.0})  # told already
    restored.on_trial_complete("c", {"env_steps": 1000, "score": 4.0})
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}").trials
    assert [(t.state.name, t.value) for t in trials] == [("COMPLETE", 3.0), ("COMPLETE", 5.0),
                                                         ("COMPLETE", 4.0)]
    assert trials[0].intermediate_values == {250: 1.0, 1000: 3.0}


def test_study_searcher_starts_no_trial_once_the_trials_have_trained_its_budget(tmp_path):
    """Every seed's env steps count; the trials running go on, a restored searcher still
    counts what was trained, and a known trial (one Tune runs again) still gets its config.

    The results are flattened, as Tune hands them to a searcher (``per_seed/<seed>/...``):
    read nested, every trial counted one seed, and a 3-seed sweep ran 3 times its budget.
    """
    from ray.tune.search import Searcher

    searcher = _searcher(tmp_path, budget=3000)
    a, b = searcher.suggest("a"), searcher.suggest("b")
    three = {"1": {"score": 1.0}, "2": {"score": 1.0}, "3": {"score": 1.0}}

    def report(steps, score):
        return flatten_dict({"env_steps": steps, "score": score, "per_seed": three})

    searcher.on_trial_result("a", report(500, 1.0))
    assert searcher.trained == 1500 and searcher.suggest("c") is not None
    searcher.on_trial_result("b", report(250, math.nan))
    searcher.on_trial_result("a", report(500, 1.0))  # again, after a resume
    assert searcher.trained == 1500 + 750
    searcher.on_trial_complete("a", report(1000, 2.0))
    assert searcher.trained == 3000 + 750
    assert searcher.suggest("d") == Searcher.FINISHED
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = _searcher(tmp_path)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.budget == 3000 and restored.suggest("e") == Searcher.FINISHED
    assert restored.suggest("b") == b and a["seeds"] != b["seeds"]


def test_study_searcher_draws_again_a_configuration_an_earlier_trial_had(tmp_path):
    # Walker2d-v5's sweep started from a preset that a seed-0 sweep had drawn, and drew it
    # again with its own seed-0 sampler: the same sampler and seed draw the same configurations
    space = {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
             "gamma": optuna.distributions.CategoricalDistribution([0.95, 0.99, 0.999])}
    earlier = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    preset = earlier.ask(space).params  # the earlier sweep's first draw, now a preset
    url = f"sqlite:///{tmp_path / 'o.db'}"
    searcher = StudySearcher(space, url, "s", optuna.samplers.TPESampler(seed=0),
                             metric="score", mode="max", max_steps=1000, sweep_seed=0,
                             seeds_per_trial=1, points_to_evaluate=[preset])
    suggested = [searcher.suggest(t) for t in "abcd"]
    configs = [{k: v for k, v in p.items() if k != "seeds"} for p in suggested]
    assert configs[0] == preset and all(c != preset for c in configs[1:])
    assert len({tuple(sorted(c.items())) for c in configs}) == 4
    trials = optuna.load_study(study_name="s", storage=url).trials
    repeats = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert [(t.state.name, t.user_attrs["duplicate_of"], t.params) for t in repeats] == [
        ("FAIL", 0, preset)]  # the redrawn repeat, told FAIL, which samplers ignore
    assert len({s for p in suggested for s in p["seeds"]}) == 4  # seeds still distinct


def test_study_searcher_keeps_repeats_in_a_space_too_small_to_avoid_them(tmp_path):
    one = {"learning_rate": optuna.distributions.CategoricalDistribution([1e-3])}
    searcher = StudySearcher(one, f"sqlite:///{tmp_path / 'o.db'}", "s",
                             optuna.samplers.TPESampler(seed=0), metric="score", mode="max",
                             max_steps=1000, sweep_seed=0, seeds_per_trial=1,
                             points_to_evaluate=[{"learning_rate": 1e-3}])
    assert [searcher.suggest(t)["learning_rate"] for t in "abc"] == [1e-3] * 3
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}").trials
    assert [t.state.name for t in trials] == ["RUNNING"] * 3  # no FAIL trials for repeats


def test_study_searcher_can_tell_the_old_story_for_comparison(tmp_path):
    searcher = _searcher(tmp_path, prune_stopped=False)
    searcher.suggest("a")
    searcher.on_trial_complete("a", {"env_steps": 500, "score": 7.0})
    trial = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}").trials[0]
    assert trial.state.name == "COMPLETE" and trial.value == 7.0


@pytest.mark.slow
def test_seed_actor_killed_mid_trial_resumes_and_the_trial_finishes(tmp_path):
    """A MuJoCo trial of three seeds; one seed's actor is SIGKILLed after a checkpoint."""
    import json
    import signal
    import subprocess
    import sys
    import time

    from a2c_ray.results import load_curves, load_trials
    from tests.processes import descendants_named

    space = tmp_path / "space.json"
    space.write_text(json.dumps({"learning_rate": {"type": "float", "low": 1e-4,
                                                   "high": 1e-3, "log": True}}))
    args = [sys.executable, "-m", "a2c_ray.tune", "--env", "Hopper-v5", "--num-samples", "1",
            "--max-steps", "8192", "--grace-steps", "8192", "--seeds-per-trial", "3",
            "--set", "eval_episodes=2", "--set", "rollout_length=32", "--set",
            "envs_per_worker=8", "--checkpoint-every", "4", "--confirm-top", "0", "--storage-path",
            str(tmp_path),
            "--name", "kill", "--search-space", str(space)]
    log = tmp_path / "out.txt"
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    killed = None
    try:
        deadline = time.monotonic() + 300
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            if any((tmp_path / "kill").glob("run_trial_*/checkpoint/latest")):
                # the sweep's own seed actors (its local Ray runs under it), never another's
                runners = descendants_named(proc.pid, "ray::SeedRunner")
                if runners:
                    killed = runners[0].pid
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.2)
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert killed is not None, "no seed actor to kill before the trial ended"
    assert proc.returncode == 0, text[-3000:]
    assert "resumes from" in text  # from the trial's last checkpoint, every seed in it
    trial = load_trials(tmp_path / "kill").iloc[0]
    assert trial["status"] == "TERMINATED" and trial["env_steps"] == 8192
    curves = load_curves(tmp_path / "kill")
    last = curves[curves["env_steps"] == 8192]
    assert sorted(last["seed"]) == [1_000_000, 1_000_001, 1_000_002]
    # the mean of its 3 seeds less its standard error, the default score
    assert trial["score"] == pytest.approx(last["score"].mean() - last["score"].sem())
    assert trial["score_min"] == pytest.approx(last["score"].min())


def test_skipped_evaluations_leave_training_and_the_read_scores_as_they_were():
    """A sweep's trial evaluates only where its score is read (``--eval-schedule rungs``).

    Stepped as run_trial steps a trial, a run that evaluates at 1024 and 3072 only trains
    exactly as one that evaluates every 512 steps, and its score there is the same.
    """
    from a2c_ray.tuning.schedule import scored_evaluations

    keep = scored_evaluations(512, [1024.0], 3072, window=1, batch=CFG.batch_size)
    assert keep == {1024, 3072}
    reports = []
    for eval_at in (None, keep):
        with Trainer(CFG, show_progress=False, use_ray=False, eval_at=eval_at) as t:
            rows = []
            while not t.done:  # a report every 200 steps and at every point of the grid
                t.run(min(t.state.env_steps + 200, (t.state.env_steps // 512 + 1) * 512))
                rows.append({**t.metrics, "score": t.score(1)})
            reports.append(rows)
    every, scored = reports
    assert len(every) == len(scored)
    timing = {"env_steps_per_s", "time_total_s", "eval_time_s"}
    evaluation = {"eval_return_mean", "eval_return_std", "eval_return_last", "score"}
    for a, b in zip(every, scored, strict=True):
        assert {k: v for k, v in a.items() if k not in timing | evaluation} == {
            k: v for k, v in b.items() if k not in timing | evaluation}
        if a["env_steps"] in (1024, 3072):  # where the score is read
            assert a["score"] == b["score"] and b["eval_return_mean"] == a["eval_return_mean"]
    evaluated = [[r["env_steps"] for r in rows if not math.isnan(r["eval_return_mean"])]
                 for rows in reports]
    assert evaluated == [[512, 1024, 1536, 2048, 2560, 3072], [1024, 3072]]
