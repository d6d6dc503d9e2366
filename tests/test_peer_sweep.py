"""The side-by-side benchmark's plumbing on tiny budgets (benchmarks/returns/peer_sweep.py).

Real parts throughout: rl-baselines3-zoo's own ``-optimize`` and ``train`` in subprocesses, its
Optuna study in SQLite, a real ``python -m a2c_ray.tune`` sweep and ``a2c_ray.train`` runs on
CartPole-v1. The long runs themselves are benchmarks, never tests.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

pytest.importorskip("rl_zoo3", reason="the benchmark extra: pip install -e '.[bench]'")

from benchmarks.returns import peer_sweep as ps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def bench(tmp_path: Path, env: str = "CartPole-v1", steps: int = 600, worth: int = 2,
          **more) -> ps.Bench:
    a = argparse.Namespace(env=env, trial_steps=steps, trials_worth=worth, tuner_seeds=[0],
                           test_seeds=1, test_seed_start=ps.TEST_SEED_START, eval_episodes=2,
                           jobs=2, work_dir=str(tmp_path), **more)
    return ps.Bench(a)


def test_a2c_ray_expected_steps_by_hand():
    # grace T/10, factor 3: rungs at 0.1, 0.3, 0.9 T; past rung k with chance 3**-k
    by_hand = 3 * (0.1 + 0.2 / 3 + 0.6 / 9 + 0.1 / 27)
    assert ps.a2c_ray_expected_steps(100_000) == pytest.approx(by_hand * 100_000)
    # seeds earned at the rungs: 1 before the first, 2 after it
    by_hand = 1 * 0.1 + 2 * (0.2 / 3 + 0.6 / 9 + 0.1 / 27)
    assert ps.a2c_ray_expected_steps(100_000, seeds=(1, 2)) == pytest.approx(by_hand * 100_000)
    # 33 trials' worth, 15 of them the validation's: 18 T / 0.711 T
    assert ps.a2c_ray_samples(300_000, 33 * 300_000) == 25


def test_the_budget_fitted_space_drops_the_rollouts_a_trial_cannot_use(tmp_path):
    from a2c_ray.tuning.config import SweepConfig
    from a2c_ray.tuning.plan import plan
    from a2c_ray.tuning.space import BOX_ONLY, load_search_space

    default = load_search_space()
    assert default["rollout_length"]["values"][-1] == 1000 and min(
        default["envs_per_worker"]["values"]) == 4
    # first rung 30k over 10 updates on 4 envs: rollouts of at most 750 steps
    cheetah = ps.budget_fitted_space("HalfCheetah-v5", 300_000)
    assert cheetah["rollout_length"]["values"] == [5, 8, 16, 32, 64, 128]
    assert {k: v for k, v in cheetah.items() if k != "rollout_length"} == {
        k: v for k, v in default.items() if k != "rollout_length"}
    assert ps.budget_fitted_space("HalfCheetah-v5", 1_000_000) == default  # 2,500: all stay
    # 250 at 100k, and the space the sweep searches for discrete actions
    acrobot = ps.budget_fitted_space("Acrobot-v1", 100_000)
    assert acrobot["rollout_length"]["values"] == [5, 8, 16, 32, 64, 128]
    assert not set(BOX_ONLY) & set(acrobot)
    with pytest.raises(ValueError, match="no rollout_length of .* fits 600 env steps"):
        ps.budget_fitted_space("CartPole-v1", 600)
    # the row's command hands the file to a new sweep, which takes it; a resume keeps its own
    b = bench(tmp_path, env="Acrobot-v1", steps=100_000)
    cmd = b.a2c_ray_command("a2c_ray-space", 1)
    path = cmd[cmd.index("--search-space") + 1]
    assert json.loads(Path(path).read_text()) == acrobot and "--resume" not in cmd
    swept = plan(SweepConfig(env="Acrobot-v1", num_samples=4, max_steps=100_000,
                             search_space=path, storage_path=str(tmp_path), name="fitted"))
    assert swept.search_space == acrobot
    again = b.a2c_ray_command("a2c_ray-space", 1, resume=True)
    assert "--resume" in again and "--search-space" not in again
    plain = b.a2c_ray_command("a2c_ray", 1)  # the default row's, but for the space and name
    assert plain[:-2] == cmd[:-4] and plain[-2:] == ["--name", "a2c_ray_s1"]
    # no validation: the search held to the whole budget, which the sweep takes as such
    noval = b.a2c_ray_command("a2c_ray-noval", 1)
    assert noval[-4:] == ["--budget-steps", str(b.B), "--confirm-top", "0"]
    samples = int(noval[noval.index("--num-samples") + 1])
    assert samples == 3 * round(b.B / ps.a2c_ray_expected_steps(b.T))
    held = plan(SweepConfig(env="Acrobot-v1", num_samples=samples, max_steps=100_000,
                            budget_steps=b.B, confirm_top=0, storage_path=str(tmp_path),
                            name="noval"))
    assert held.config.search_budget == b.B and held.config.validation_steps == 0
    # a budget no rollout fits: one line, exit 2, nothing written
    r = subprocess.run([sys.executable, "-m", "benchmarks.returns.peer_sweep", "--env",
                        "CartPole-v1", "--trial-steps", "600", "--rows", "a2c_ray-space",
                        "--work-dir", str(tmp_path / "tiny")], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 2 and not (tmp_path / "tiny").exists()
    assert "--rows a2c_ray-space --trial-steps 600: no rollout_length" in r.stderr


def test_zoo_entry_for_v5_is_its_v4_entry_and_unknown_envs_exit_2():
    entry, source = ps.zoo_entry("HalfCheetah-v5")
    assert source == "HalfCheetah-v4" and entry["normalize"] is True
    entry, source = ps.zoo_entry("Acrobot-v1")
    assert source == "Acrobot-v1" and entry["n_envs"] == 16
    out = subprocess.run([sys.executable, "-m", "benchmarks.returns.peer_sweep", "--env",
                          "NoSuch-v0", "--work-dir", "/nonexistent/never"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0 and "NoSuch-v0" in out.stderr


def test_pruned_trials_count_the_steps_to_their_pruning(tmp_path):
    dist = {"x": FloatDistribution(0, 1), "n_steps": FloatDistribution(1, 4096)}
    T, n_envs = 300_000, 1  # three evaluations, every 100k steps

    def trial(state, reports):
        return create_trial(state=state, params={"x": 0.5, "n_steps": 64.0}, distributions=dist,
                            value=1.0 if state == TrialState.COMPLETE else None,
                            intermediate_values={i + 1: 0.0 for i in range(reports)})

    assert ps.zoo_trial_steps(trial(TrialState.PRUNED, 1), T, n_envs) == (100_000, False)
    assert ps.zoo_trial_steps(trial(TrialState.PRUNED, 2), T, n_envs) == (200_000, False)
    assert ps.zoo_trial_steps(trial(TrialState.PRUNED, 3), T, n_envs) == (300_032, False)
    assert ps.zoo_trial_steps(trial(TrialState.COMPLETE, 3), T, n_envs) == (300_032, False)
    # pruned for a NaN before any evaluation: the budget, as a bound
    assert ps.zoo_trial_steps(trial(TrialState.PRUNED, 0), T, n_envs) == (T, True)


def test_a_killed_zoo_studys_running_trials_become_fail(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.tell(study.ask(), 1.0)
    study.ask()  # left RUNNING, as a killed zoo process leaves its trial
    assert ps.zoo_fail_running(storage, "s") == 1
    states = [t.state for t in optuna.load_study(study_name="s", storage=storage).trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL]
    assert ps.zoo_fail_running(storage, "s") == 0
    assert ps.zoo_fail_running(f"sqlite:///{tmp_path / 'none.db'}", "none") == 0


@pytest.mark.slow
def test_zoo_tuning_counts_its_steps_and_its_pick_trains_the_same_rollouts(tmp_path):
    b = bench(tmp_path)
    unit = b.tune_zoo(seed=0)
    study = optuna.load_study(study_name="zoo_s0", storage=f"sqlite:///{b.dir}/tuning/zoo_s0/"
                              "study.db")
    assert unit["trials"] == len(study.trials) >= 2
    assert unit["train_env_steps"] >= b.B - b.T / 2  # topped up to the budget
    assert unit["pick_trial"] == study.best_trial.number
    assert unit["pick"]["n_envs"] == 8 and unit["pick"]["policy_kwargs"].startswith("dict(")
    # the pick trained by the zoo's own train from the written file: the same whole rollouts
    # of n_steps x n_envs that the count gives the study's trial
    result = b.train_zoo(tmp_path / "pick", ps.TEST_SEED_START, unit["pick"])
    counted, bound = ps.zoo_trial_steps(study.best_trial, b.T, 8)
    assert result["env_steps"] == counted and not bound
    assert math.isfinite(result["return"]) and 8 <= result["return"] <= 500
    # the same unit again: the study is complete, nothing is launched
    again = b.tune_zoo(seed=0)
    assert again["attempts"] == unit["attempts"] and again["trials"] == unit["trials"]


@pytest.mark.slow
def test_the_whole_benchmark_on_a_tiny_budget_resumes_and_reports(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks.returns.peer_sweep", "--env", "CartPole-v1",
           "--trial-steps", "1000", "--trials-worth", "16", "--tuner-seeds", "0",
           "--test-seeds", "1", "--eval-episodes", "2", "--work-dir", str(tmp_path),
           "--rows", "a2c_ray", "a2c_ray-defaults", "sb3-defaults"]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    record = json.loads((tmp_path / "CartPole-v1" / "record.json").read_text())
    (unit,) = record["tuning"]
    # 16 trials' worth, 15 of them the validation's: one trial (SB3's defaults, the first
    # start point) on three seeds, then it alone re-trained on 5 validation seeds
    assert unit["procedure"] == "a2c_ray" and unit["num_samples"] == 1 == unit["trials"]
    assert 3 * 1000 <= unit["search_env_steps"] < 3 * 1100
    assert 5 * 1000 <= unit["validation_env_steps"] < 5 * 1100
    assert unit["train_env_steps"] == unit["search_env_steps"] + unit["validation_env_steps"]
    assert unit["wall_s"] > 0 and unit["attempts"] == 1
    assert {t["row"] for t in record["tests"]} == {"a2c_ray", "a2c_ray-defaults", "sb3-defaults"}
    for t in record["tests"]:
        assert t["seed"] == ps.TEST_SEED_START and t["env_steps"] >= 1000
        assert 8 <= t["return"] <= 500
    # run again: every unit is in the record, nothing trains, the same table
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads((tmp_path / "CartPole-v1" / "record.json").read_text()) == record
    assert "| a2c_ray | tuner seed 0 |" in second.stdout
    # the same flags are required to go on with a record
    other = subprocess.run(cmd[:6] + ["2000"] + cmd[7:], cwd=ROOT, capture_output=True, text=True)
    assert other.returncode == 2 and "trial_steps 1000, not 2000" in other.stderr

    # --repick search: the search's best trial, here its only one, is the validation's pick
    repick = subprocess.run(cmd + ["--repick", "search"], cwd=ROOT, capture_output=True,
                            text=True)
    assert repick.returncode == 0, repick.stderr[-3000:]
    again = json.loads((tmp_path / "CartPole-v1" / "record.json").read_text())
    (entry,) = again["repicks"]
    assert entry["same"] and entry["pick_trial"] == unit["pick_trial"]
    assert math.isfinite(entry["search_score"]) and again["tests"] == record["tests"]
    assert f"| a2c_ray@search | tuner seed 0, its own pick | {record_mean(record)}" in (
        repick.stdout)
    # a second candidate with a lower mean and no spread: the mean keeps the sweep's pick,
    # the worst seed takes the other, which then trains on the test seeds
    path = tmp_path / "CartPole-v1" / "tuning" / "a2c_ray_s0" / "confirmation.json"
    validation = json.loads(path.read_text())
    validation[0]["returns"] = [100.0, 300.0, 200.0, 250.0, 150.0]
    other_config = {**validation[0]["config"], "learning_rate": 1e-3}
    validation.append({**validation[0], "sweep_trial_id": "other", "returns": [190.0] * 5,
                       "config": other_config})
    path.write_text(json.dumps(validation))
    assert ps.rank_by([c["returns"] for c in validation]) == [0, 1]
    b = bench(tmp_path, steps=1000, worth=16)
    b.repick(["a2c_ray"], "min")
    (entry,) = [r for r in b.record["repicks"] if r["statistic"] == "min"]
    assert not entry["same"] and entry["pick"] == other_config
    assert [r["returns"] for r in entry["validation"]] == [c["returns"] for c in validation]
    (test,) = [t for t in b.record["tests"] if t["row"] == "a2c_ray@min"]
    assert test["seed"] == ps.TEST_SEED_START and 8 <= test["return"] <= 500
    assert "| a2c_ray@min | tuner seed 0 |" in ps.table(b.record)
    b.repick(["a2c_ray"], "min")  # in the record: nothing trains again
    assert len([t for t in b.record["tests"] if t["row"] == "a2c_ray@min"]) == 1
    # the mean less its standard error picks the same configuration: its test run is copied
    b.repick(["a2c_ray"], "mean-se")
    (copied,) = [t for t in b.record["tests"] if t["row"] == "a2c_ray@mean-se"]
    assert copied["copied_from"] == "a2c_ray@min s0"
    assert {k: v for k, v in copied.items() if k not in ("row", "copied_from")} == {
        k: v for k, v in test.items() if k != "row"}


@pytest.mark.slow
def test_the_row_without_validation_spends_the_budget_on_its_search(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks.returns.peer_sweep", "--env", "CartPole-v1",
           "--trial-steps", "1000", "--trials-worth", "6", "--tuner-seeds", "0",
           "--test-seeds", "1", "--eval-episodes", "2", "--work-dir", str(tmp_path),
           "--rows", "a2c_ray-noval"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    record = json.loads((tmp_path / "CartPole-v1" / "record.json").read_text())
    (unit,) = record["tuning"]
    exp = tmp_path / "CartPole-v1" / "tuning" / "a2c_ray-noval_s0"
    assert not (exp / "confirm").exists() and unit["validation_env_steps"] == 0
    # 6,000 env steps, all the search's: stopped by the budget after more than one trial of
    # the 24 asked for
    assert 2 <= unit["trials"] < unit["num_samples"] == 24
    assert unit["search_env_steps"] == unit["train_env_steps"] >= 6000
    assert unit["pick_trial"] == json.loads((exp / "summary.json").read_text())["best_trial_id"]
    (test,) = record["tests"]
    assert test["row"] == "a2c_ray-noval" and 8 <= test["return"] <= 500


def record_mean(record: dict) -> str:
    """The a2c_ray row's test mean as the table prints it."""
    (value,) = [t["return"] for t in record["tests"] if t["row"] == "a2c_ray"]
    return f"{value:.1f}"


@pytest.mark.parametrize("record", sorted((ROOT / "benchmarks" / "results").glob(
    "peer_sweep_*.json")), ids=lambda p: p.stem)
def test_the_published_tables_are_the_committed_records(record):
    # each committed record's tables, as --report prints them, stand in the returns page
    page = (ROOT / "benchmarks" / "returns" / "README.md").read_text()
    rows = [ln for ln in ps.table(json.loads(record.read_text())).splitlines()
            if ln.startswith("| ") and not ln.startswith("| row")]
    assert len(rows) >= 5 and all(row in page for row in rows)
