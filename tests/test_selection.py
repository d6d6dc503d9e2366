"""Selection: seeds earned at rungs, the score's statistics, and the replay against a real sweep."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from a2c_ray.core import seeds as seeding
from a2c_ray.core.rungs import asha_milestones, seeds_after
from a2c_ray.core.scores import aggregate, interval, performance_profile, rank_by, seed_score

ROOT = Path(__file__).resolve().parents[1]
TUNE = [sys.executable, "-m", "a2c_ray.tune"]
SPACE = {"learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
         "gamma": {"type": "categorical", "values": [0.95, 0.99]}}
# rungs at 2048 and 6144 env steps; a trial that passes the first earns a second seed
RACE = ["--env", "CartPole-v1", "--max-steps", "8192", "--grace-steps", "2048",
        "--reduction-factor", "3", "--set", "eval_episodes=2", "--set",
        "eval_interval_steps=1024", "--checkpoint-every", "5", "--seeds-per-trial", "1", "2",
        "--sampler", "random", "--max-concurrent-trials", "1", "--eval-schedule", "every",
        "--confirm-top", "0"]


def test_seeds_after_counts_the_rungs_a_trial_survived():
    rungs = asha_milestones(100_000, 1_000_000, 3)  # 100k, 300k, 900k
    at = [seeds_after(s, rungs, (2, 4, 8)) for s in (0, 99_999, 100_000, 299_999, 300_000,
                                                        900_000, 1_000_000)]
    assert at == [2, 2, 4, 4, 8, 8, 8]
    assert seeds_after(500_000, rungs, (3,)) == 3


def test_a_trial_restored_past_its_rung_is_not_given_fewer_seeds():
    """A restored trial first reports again rows from before the rung where it earned its
    seeds; those must not shrink its placement group (each change restarts the trial)."""
    from ray.tune import PlacementGroupFactory
    from ray.tune.experiment import Trial

    from a2c_ray.tuning.resources import SeedsPerRung

    per_seed = [{"CPU": 1.0}]
    grow = SeedsPerRung([2048.0, 6144.0], (1, 2, 4), per_seed)
    trial = Trial("run_trial", stub=True)
    trial.update_resources(PlacementGroupFactory(per_seed))

    def restarts(steps):  # what Tune's scheduler would restart the trial with, if anything
        new = grow(None, trial, {"env_steps": steps}, None)
        return new if new is not None and new != trial.placement_group_factory else None

    assert restarts(1792) is None
    trial.update_resources(restarts(2048))
    assert len(trial.placement_group_factory.bundles) == 2
    for steps in (1792, 2048, 2304):  # rows again from before the rung, then on
        assert restarts(steps) is None, steps
    assert len(restarts(6144).bundles) == 4


def test_the_statistics_against_hand_computed_values():
    values = [100.0, 110.0, 90.0, 10.0]  # one seed stalled
    assert aggregate(values, "mean") == 77.5
    sd = math.sqrt(sum((v - 77.5) ** 2 for v in values) / 3)
    assert aggregate(values, "mean-se") == pytest.approx(77.5 - sd / 2)
    assert aggregate(values, "iqm") == 95.0  # 90 and 100, the middle half
    assert aggregate(values, "median") == 95.0 and aggregate(values, "min") == 10.0
    assert aggregate([7.0], "mean-se") == 7.0  # one seed: no spread to subtract
    assert math.isnan(aggregate([1.0, math.nan])) and math.isnan(aggregate([]))
    assert seed_score([1.0, 2.0, 3.0, 4.0], 3) == 3.0 and math.isnan(seed_score([], 3))
    # the stalled seed costs the mean 20 and the minimum 90; a configuration without one wins
    steady = [80.0, 82.0, 78.0, 80.0]
    assert rank_by([values, steady], "mean") == [1, 0] or aggregate(steady) < 77.5
    assert rank_by([values, steady], "min") == [1, 0]
    assert rank_by([[], [1.0]], "mean") == [1, 0]  # a candidate without a value comes last
    with pytest.raises(ValueError, match="statistic 'best'"):
        aggregate(values, "best")


def test_bootstrap_intervals_and_profiles_against_a_naive_resampling():
    values = [310.0, 500.0, 500.0, 120.0, 480.0, 500.0, 260.0, 455.0]
    rng = np.random.default_rng(1)
    draws = rng.choice(values, size=(20_000, len(values)))

    def iqm(x):  # rliable's: the mean of the middle half, ends by the quarter
        x = np.sort(x)
        return x[2:6].mean()

    for statistic, func in (("mean", np.mean), ("iqm", iqm)):
        lo, hi = interval(values, statistic, reps=20_000)
        naive = np.percentile([func(d) for d in draws], [2.5, 97.5])
        assert lo == pytest.approx(naive[0], abs=12) and hi == pytest.approx(naive[1], abs=12)
        assert lo < func(np.asarray(values)) < hi
    assert interval(values, "iqm") == interval(values, "iqm")  # seeded: the same each time
    assert all(math.isnan(v) for v in interval([5.0], "mean"))
    taus = [0.0, 200.0, 470.0, 500.0]
    p = performance_profile(values, taus, reps=20_000)
    assert list(p["profile"]) == [1.0, 7 / 8, 4 / 8, 0.0]  # share strictly above each
    naive = np.percentile((draws[:, :, None] > np.asarray(taus)).mean(axis=1), [2.5, 97.5],
                          axis=0)
    assert np.allclose(p["lo"], naive[0], atol=0.13) and np.allclose(p["hi"], naive[1],
                                                                      atol=0.13)


def test_validation_seeds_are_their_own_set():
    validation, test = set(seeding.validation_seeds(1000)), set(seeding.test_seeds(1000))
    training = {s for n in range(2000) for s in seeding.train_seeds(0, n, 8)}
    assert not validation & test and not validation & training and not test & training


def run(args, timeout=900, **kw):
    return subprocess.run(TUNE + args, capture_output=True, text=True, timeout=timeout, **kw)


def _rows(exp: Path) -> dict[tuple[int, ...], list[dict]]:
    """Each trial's reports, by its block of training seeds."""
    out = {}
    for d in exp.glob("run_trial_*"):
        if not ((d / "params.json").is_file() and (d / "result.json").is_file()):
            continue  # a trial Tune is still setting up
        try:
            seeds = tuple(json.loads((d / "params.json").read_text())["seeds"])
        except json.JSONDecodeError:  # Tune is writing it (it is empty until written)
            continue
        rows = []
        for line in (d / "result.json").read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written
                break
        out[seeds] = rows
    return out


def _space(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SPACE))
    return str(path)


@pytest.fixture(scope="module")
def race(tmp_path_factory):
    root = tmp_path_factory.mktemp("race")
    r = run(["--num-samples", "5", *RACE, "--storage-path", str(root), "--name", "race",
             "--search-space", _space(root)])
    assert r.returncode == 0, r.stderr[-3000:]
    return root / "race"


@pytest.mark.slow
def test_a_trial_asha_keeps_earns_seeds_no_other_trial_and_no_held_out_set_has(race):
    rows = _rows(race)
    assert len(rows) == 5
    used = []
    grew = 0
    for block, reports in rows.items():
        assert len(block) == 2  # each trial's block holds its most seeds
        steps = [r["env_steps"] for r in reports]
        assert steps == sorted(set(steps))  # every env step once: a restart repeats nothing
        for r in reports:
            seeds = [int(s) for s in r["per_seed"]]
            assert seeds == list(block[:len(seeds)])
            # one seed to the first rung's report, two after it
            assert len(seeds) == (1 if r["env_steps"] <= 2048 else 2)
        grew += len(reports[-1]["per_seed"]) == 2
        used += [int(s) for s in reports[-1]["per_seed"]]
    assert grew >= 1 and len(used) == len(set(used))
    held_out = set(seeding.validation_seeds(1000)) | set(seeding.test_seeds(1000))
    assert not held_out & set(used)
    # the study's states and values are what Tune saw
    study = optuna.load_study(study_name="race", storage=f"sqlite:///{race / 'optuna.db'}")
    by_seeds = {tuple(seeding.train_seeds(0, t.number, 2)): t for t in study.trials}
    for block, reports in rows.items():
        t, last = by_seeds[block], reports[-1]
        assert t.intermediate_values[max(t.intermediate_values)] == pytest.approx(last["score"])
        if last["env_steps"] >= 8192:
            assert t.state == optuna.trial.TrialState.COMPLETE
            assert t.value == pytest.approx(last["score"])
        else:
            assert t.state == optuna.trial.TrialState.PRUNED


@pytest.mark.slow
def test_the_replay_makes_the_real_sweeps_decisions(race):
    """The replay, given the real sweep's per-seed evaluations as its table, stops the same
    trials at the same env steps and ranks the same trial first."""
    from a2c_ray.results import load_trials, ranked
    from benchmarks.selection.selection_replay import Procedure, Table, replay_sweep

    trials = load_trials(race).sort_values("trial_id")
    order = [str(t) for t in trials.sort_values("trial_dir")["trial_id"]]
    started = {}
    runs = {}
    for d in race.glob("run_trial_*"):
        reports = [json.loads(line) for line in (d / "result.json").read_text().splitlines()]
        trial = reports[0]["trial_id"]
        started[trial] = reports[0]["timestamp"]
        for j in range(2):
            points = [{"env_steps": r["env_steps"],
                       "returns": [r["per_seed"][str(sorted(map(int, r["per_seed"]))[j])][
                           "eval_return_mean"]]}
                      for r in reports if len(r["per_seed"]) > j
                      and not math.isnan(r["per_seed"][str(sorted(map(int, r["per_seed"]))[j])]
                                         .get("eval_return_mean", math.nan))]
            runs[f"{trial}/{j}"] = {"points": points or [{"env_steps": 0, "returns": [0.0]}]}
    order = sorted(started, key=started.get)  # the order Tune started them: one at a time
    table = Table({"env_id": "CartPole-v1", "steps": 8192,
                   "configurations": {t: {} for t in order}, "runs": runs})
    # a seed earned at 2048 starts with the evaluations it made catching up
    procedure = Procedure("race", seeds=(1, 2), grace=2048 / 8192, top=0, validation=0)
    replayed, _, _ = replay_sweep(table, procedure, order, {t: [0, 1] for t in order},
                                  concurrency=1)
    real = {str(r["trial_id"]): int(r["env_steps"]) for _, r in trials.iterrows()}
    assert {r["trial_id"]: int(r["env_steps"]) for _, r in replayed.iterrows()} == real
    assert ranked(replayed, "score").iloc[0]["trial_id"] == ranked(trials, "score").iloc[0][
        "trial_id"]


@pytest.mark.slow
def test_a_trial_that_gains_seeds_resumes_exactly_after_a_sigkill(tmp_path, race):
    """SIGKILLed once a trial has earned its second seed, the sweep resumes, and every report
    of every trial equals the uninterrupted sweep's at the same env step, seed for seed (same
    sampler, one trial at a time): the grown trial continues with both seeds exactly. (A trial
    asked for but not yet saved when the kill landed runs again on new seeds.)"""
    args = ["--num-samples", "5", *RACE, "--storage-path", str(tmp_path), "--name", "race",
            "--search-space", _space(tmp_path)]
    with (tmp_path / "out.txt").open("w") as out:
        proc = subprocess.Popen(TUNE + args, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"})
    exp = tmp_path / "race"
    reference = _rows(race)
    # killed soon after the first trial that grew and ran its whole budget in the other sweep
    # has grown: the driver writes a trial's rows some reports behind it, and a trial nearer
    # its end could be over, and the next one asked for, by the time the kill lands
    target = next(block for block in sorted(reference)
                  if len(reference[block][-1]["per_seed"]) == 2
                  and reference[block][-1]["env_steps"] >= 8192)
    deadline = time.monotonic() + 600
    grown: dict[tuple[int, ...], int] = {}
    try:
        while time.monotonic() < deadline and proc.poll() is None and not grown:
            rows = (_rows(exp) if exp.exists() else {}).get(target)
            # at its rung (2048), where ASHA keeps it and it earns its second seed: Tune then
            # restarts it on two seeds, seconds of a new actor's start-up; the reports after
            # come in a burst the driver may write at once, too late to kill between them
            if rows and (rows[-1]["env_steps"] == 2048 or (
                    len(rows[-1]["per_seed"]) == 2 and rows[-1]["env_steps"] <= 3072)):
                grown = {target: rows[-1]["env_steps"]}
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before a grown trial could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(2)
    r = run(["--resume", "--name", "race", "--storage-path", str(tmp_path)])
    assert r.returncode == 0, r.stderr[-3000:]
    resumed = _rows(exp)
    assert len(resumed) == 5
    # A trial the killed driver had asked the study for but Tune had not saved yet is FAIL
    # (lost_at_restore) and its configuration runs again in a new trial, on that trial's seeds
    # (docs/design.md); every other trial is the same trial on the same seeds.
    study = optuna.load_study(study_name="race", storage=f"sqlite:///{exp / 'optuna.db'}")
    lost = [t for t in study.trials if t.user_attrs.get("lost_at_restore")]
    assert len(set(reference) - set(resumed)) == len(set(resumed) - set(reference)) == len(lost)
    for t, block in zip(lost, sorted(set(resumed) - set(reference)), strict=True):
        config = resumed[block][-1]["config"]
        assert {k: config[k] for k in t.params} == t.params  # the lost one's configuration
    for block, rows in resumed.items():
        if block not in reference:
            continue  # the redrawn one: a configuration of the other sweep on other seeds
        steps = [row["env_steps"] for row in rows]
        assert steps == sorted(set(steps)), block  # no report twice, none going back
        expected = {row["env_steps"]: row["per_seed"] for row in reference[block]}
        for row in rows:
            if row["env_steps"] not in expected:
                continue  # past where ASHA stopped it in the other sweep
            want = expected[row["env_steps"]]
            assert row["per_seed"].keys() == want.keys(), (block, row["env_steps"])
            for seed, values in want.items():
                for key in ("score", "policy_loss", "value_loss", "episode_return_mean"):
                    np.testing.assert_allclose(row["per_seed"][seed][key], values[key],
                                               rtol=1e-9, err_msg=f"{block} {seed} {key}")
    for block, killed_at in grown.items():  # it went on past the kill, with both seeds
        last = resumed[block][-1]
        assert last["env_steps"] > killed_at and len(last["per_seed"]) == 2
