"""The sweep service end to end on a real local Ray, with real Optuna storage."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from tests import shared_sweep

TUNE = [sys.executable, "-m", "a2c_ray.tune"]
SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
    "gamma": {"type": "categorical", "values": [0.95, 0.99]},
    "rollout_length": {"type": "categorical", "values": [5, 32]},
    "value_grad_steps": {"type": "categorical", "values": [1, 5]},
}
# rungs at 2048, 6144 and 18432 env steps
SMALL = ["--env", "CartPole-v1", "--max-steps", "18432", "--grace-steps", "2048",
         "--reduction-factor", "3", "--set", "eval_episodes=2", "--checkpoint-every", "5",
         "--seeds-per-trial", "1", "--confirm-top", "0"]


def space_file(tmp_path, space=SPACE):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space))
    return str(path)


def run(args, timeout=900, **kw):
    return subprocess.run(TUNE + args, capture_output=True, text=True, timeout=timeout, **kw)


def study_trials(exp: Path, name: str):
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{exp / 'optuna.db'}")
    return study.trials


@pytest.mark.slow
def test_cartpole_sweep(finished_sweep):
    """The suite's shared sweep (tests/shared_sweep.py): 6 trials of two seeds, rungs at 2048
    and 6144 env steps per seed, a --start-from configuration and the user's own network."""
    exp = finished_sweep.path
    summary = json.loads((exp / "summary.json").read_text())
    assert set(summary) >= {"metric", "mode", "best_trial_id", "best_config", "best_metric",
                            "num_trials", "trials_by_status"}
    assert summary["metric"] == "score"
    assert summary["num_trials"] == 6 and summary["trials_by_status"] == {"TERMINATED": 6}
    assert summary["stopped_early"] >= 1  # ASHA stopped some trials before max_t
    trial_dirs = [d for d in exp.iterdir() if d.name.startswith("run_trial_")]
    assert len(trial_dirs) == 6
    assert all((d / "params.json").is_file() and (d / "progress.csv").is_file()
               for d in trial_dirs)

    # Optuna was told the truth: a trial ASHA stopped is PRUNED at the env step it reached,
    # one that ran its budget COMPLETE with its final score; every report at its env step
    from a2c_ray.results import load_curves, load_trials

    trials = study_trials(exp, shared_sweep.NAME)
    assert len(trials) == 6 and len(load_trials(exp)) == 6
    by_seeds = {tuple(json.loads((d / "params.json").read_text())["seeds"]): d
                for d in trial_dirs}
    assert len({s for seeds in by_seeds for s in seeds}) == 12  # no seed shared
    assert not {s for seeds in by_seeds for s in seeds} & set(range(10_000, 11_000))
    for t in trials:
        seeds = (1_000_000 + 2 * t.number, 1_000_000 + 2 * t.number + 1)
        last = json.loads((by_seeds[seeds] / "result.json").read_text().splitlines()[-1])
        steps = max(t.intermediate_values)
        assert steps == last["env_steps"]
        assert t.intermediate_values[steps] == pytest.approx(last["score"])
        if last["env_steps"] >= 6144:  # a 40-step iteration ends at 6,160
            assert t.state == optuna.trial.TrialState.COMPLETE
            assert t.value == pytest.approx(last["score"])
        else:
            assert t.state == optuna.trial.TrialState.PRUNED
        # the trial's score is its seeds' mean less its standard error (the default), its
        # spread theirs
        per_seed = [last["per_seed"][str(s)]["score"] for s in seeds]
        assert last["score"] == pytest.approx(
            np.mean(per_seed) - np.std(per_seed, ddof=1) / np.sqrt(len(per_seed)))
        assert last["score_min"] == pytest.approx(min(per_seed))
    curves = load_curves(exp)
    assert list(curves.columns[:3]) == ["trial_id", "seed", "env_steps"]
    assert (curves.groupby("trial_id")["seed"].nunique() == 2).all()
    # the first trial is the --start-from config, the second SB3's default A2C
    trials = sorted(trials, key=lambda t: t.number)
    assert trials[0].params == {"learning_rate": 2e-3, "gamma": 0.95, "rollout_length": 32,
                                "value_grad_steps": 5, "epochs_per_rollout": 2}
    assert trials[1].params == {"learning_rate": 7e-4, "gamma": 0.99, "rollout_length": 5,
                                "value_grad_steps": 1, "epochs_per_rollout": 1}
    best = json.loads((exp / "best_config.json").read_text())
    assert best["env_id"] == "CartPole-v1" and best["total_env_steps"] == 6144
    assert best["network"] == shared_sweep.NETWORK
    assert best["epochs_per_rollout"] in (1, 2)
    assert "python -m a2c_ray.train --config" in finished_sweep.stdout
    # an existing name is never overwritten: its own files are as they were (other tests
    # read the sweep meanwhile, and a dashboard may touch its databases)
    before = {p: p.read_bytes() for p in exp.glob("*.json")}
    again = run(["--num-samples", "2", *SMALL, "--storage-path", str(finished_sweep.storage),
                 "--name", shared_sweep.NAME])
    assert again.returncode == 2 and "--resume" in again.stderr
    assert {p: p.read_bytes() for p in exp.glob("*.json")} == before


def _finished(exp: Path) -> dict[Path, str]:
    """The result.json files, with their text, whose last complete line says ``done``.

    The sweep is running while the test polls: Tune may be midway through writing a line, so a
    last line without its newline is not read yet.
    """
    out = {}
    for result in exp.glob("run_trial_*/result.json"):
        text = result.read_text()
        lines = text[:text.rfind("\n") + 1].splitlines()
        if lines and json.loads(lines[-1]).get("done"):
            out[result] = text
    return out


def _checkpointed_unfinished(exp: Path) -> bool:
    return any((d / "checkpoint" / "latest").is_file() and d / "result.json" not in _finished(exp)
               for d in exp.glob("run_trial_*"))


# Tune copies a trial's result.json into the sweep's directory with each snapshot of the
# experiment, about every 10 s by default: a 6-trial CartPole sweep could end between two
# snapshots, so a test waiting there for a finished trial beside an unfinished one saw none.
# A snapshot every second, for the sweeps a test stops midway.
SNAPSHOT_EVERY_S = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}

STOPS = {  # how the sweep is stopped, the exit status it must end with, and whether its
    # directory is then moved elsewhere before it resumes (SIGKILL, the driver's crash:
    # tests/test_s3.py)
    "Ctrl-C": (signal.SIGINT, True, 130, False),  # a terminal signals the whole process group
    "SIGTERM, then moved": (signal.SIGTERM, False, 143, True),  # kill PID; mv the directory
}


def _first_rows(exp: Path) -> dict[Path, str]:
    return {r: r.read_text().splitlines()[0] for r in exp.glob("run_trial_*/result.json")
            if r.read_text().strip()}


@pytest.mark.slow
@pytest.mark.parametrize("how", list(STOPS))
def test_sweep_stopped_then_resumed(tmp_path, how):
    sig, group, code, moved = STOPS[how]
    # a checkpoint every iteration: any trial running beside a finished one is one to resume
    # (every 5, ASHA could stop each of them before its first, and the sweep end unstopped)
    args = ["--num-samples", "5", *SMALL, "--checkpoint-every", "1", "--storage-path",
            str(tmp_path), "--name", "stop", "--search-space", space_file(tmp_path),
            "--max-concurrent-trials", "2"]
    exp = tmp_path / "stop"
    out_file, err_file = tmp_path / "out.txt", tmp_path / "err.txt"
    with out_file.open("w") as o, err_file.open("w") as e:  # files: a full pipe would block
        proc = subprocess.Popen(TUNE + args, stdout=o, stderr=e, start_new_session=True,
                                env=SNAPSHOT_EVERY_S)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None and not (
                _finished(exp) and _checkpointed_unfinished(exp)):
            time.sleep(0.2)  # a trial stopped at the first rung runs for a second or so
        finished = _finished(exp)
        assert finished, "no trial finished in time"
        assert proc.poll() is None, "the sweep ended before it could be stopped"
        os.killpg(proc.pid, sig) if group else os.kill(proc.pid, sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    out, err = out_file.read_text(), err_file.read_text()
    assert proc.returncode == code, err[-3000:]
    first_rows, was_running = _first_rows(exp), _checkpointed_unfinished(exp)
    resume = ("continue with: python -m a2c_ray.tune --resume --name stop "
              f"--storage-path {tmp_path}")
    assert resume in out and "Tuner.restore" not in out + err, out + err[-3000:]
    assert "trials started" in out
    assert not (exp / "summary.json").exists()  # no final summary of an unfinished sweep
    states = [t.state for t in study_trials(exp, "stop")]
    assert optuna.trial.TrialState.FAIL not in states
    time.sleep(2)

    storage = tmp_path
    if moved:  # to another machine, say: the study and the checkpoints move with it
        storage = tmp_path / "elsewhere"
        storage.mkdir()
        old, exp = exp, (exp.rename(storage / "stop"))
        finished = {exp / p.relative_to(old): text for p, text in finished.items()}
        first_rows = {exp / p.relative_to(old): row for p, row in first_rows.items()}
    r = run(["--resume", "--name", "stop", "--storage-path", str(storage)])
    assert r.returncode == 0, r.stderr[-3000:]
    assert not moved or (f"its Optuna study is now sqlite:///{exp / 'optuna.db'}" in r.stderr
                         and json.loads((exp / "sweep.json").read_text())["optuna_storage"]
                         == f"sqlite:///{exp / 'optuna.db'}")
    assert "already reported" not in r.stdout + r.stderr  # Optuna's warning per resumed report
    summary = json.loads((exp / "summary.json").read_text())
    errors = {d.name: (d / "error.txt").read_text()[-2000:]
              for d in exp.glob("run_trial_*") if (d / "error.txt").is_file()}
    assert summary["num_trials"] == 5 and summary["trials_by_status"] == {"TERMINATED": 5}, errors
    for path, text in finished.items():  # finished results are kept, not re-run
        assert path.read_text() == text
    assert "resumes from" in r.stdout or not was_running  # a trial stopped while running
    for path, row in first_rows.items():  # continued from its checkpoint, and every trial
        assert path.read_text().splitlines()[0] == row, path  # kept the rows it had reported
    # every trial ended in the study too (COMPLETE, or PRUNED where ASHA stopped it); one a
    # killed driver asked for but never ran would be closed as FAIL, and none of those may be
    # a trial that ran
    states = [t.state for t in study_trials(exp, "stop")]
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert sum(s in done for s in states) == 5
    assert optuna.trial.TrialState.RUNNING not in states


SECOND_SIGNAL = """
import os, signal, sys, time
from a2c_ray.tuning.control import StopSignals

class Tuner:  # stands for Tune's fit: its SIGUSR1 handler asks it to stop, which takes a while
    def fit(self):
        signal.signal(signal.SIGUSR1, lambda *a: print("stopping", flush=True))
        print("fitting", flush=True)
        time.sleep(30)

with StopSignals("continue with: X") as stop:
    stop.fit(Tuner())
print("not reached")
"""


AFTER_THE_STOP = """
import os, signal, sys, time
from a2c_ray.tuning.control import StopSignals

signal.signal(signal.SIGTERM, lambda *a: sys.exit(15))  # Ray's own, set by ray.init()

class Tuner:  # Tune's fit, which returns once its SIGUSR1 handler asks it to stop
    def fit(self):
        signal.signal(signal.SIGUSR1, lambda *a: setattr(self, "stop", True))
        print("fitting", flush=True)
        while not getattr(self, "stop", False):
            time.sleep(0.01)

with StopSignals("continue with: X") as stop:
    stop.fit(Tuner())
print("shutting down", flush=True)  # Ray's shutdown at exit takes seconds
time.sleep(30)
"""


def test_a_second_signal_after_the_stop_still_quits_at_once():
    """Sent while Ray shuts down at exit, it met Ray's SIGTERM handler there: a segfault."""
    proc = subprocess.Popen([sys.executable, "-c", AFTER_THE_STOP], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "fitting\n"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline() == "shutting down\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip() == "interrupted again: quitting at once; continue with: X"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_quits_at_once(sig):
    proc = subprocess.Popen([sys.executable, "-c", SECOND_SIGNAL], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "fitting\n"
    proc.send_signal(sig)
    assert proc.stdout.readline() == "stopping\n"  # the first asks Tune to stop
    start = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - start < 5 and "not reached" not in out
    assert proc.returncode == 128 + sig
    assert err.strip() == "interrupted again: quitting at once; continue with: X"


@pytest.mark.slow
def test_nan_trial_errors_while_others_finish(tmp_path):
    space = {"log_std_init": {"type": "categorical", "values": [-4.0, 2.0]}}
    r = run(["--num-samples", "4", "--env", "tests.toy_envs:NanReward-v0", "--max-steps", "2048",
             "--grace-steps", "2048", "--set", "eval_episodes=2", "--max-failures", "0",
             "--storage-path", str(tmp_path), "--name", "nan", "--seed", "0",
             "--seeds-per-trial", "1", "--confirm-top", "0",
             "--search-space", space_file(tmp_path, space)])
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "nan" / "summary.json").read_text())
    assert summary["trials_by_status"].get("ERROR", 0) >= 1
    assert summary["trials_by_status"].get("TERMINATED", 0) >= 1
    assert summary["best_config"]["log_std_init"] == -4.0
    assert "the loss became nan" in r.stdout + r.stderr


BAD_SPACES = [
    ({"no_such_field": {"type": "float", "low": 0, "high": 1}}, "no_such_field"),
    ({"gamma": {"type": "float", "low": 0.9, "high": 1.5}}, "gamma=1.5"),
    ({"gamma": {"type": "uniform", "low": 0.9, "high": 0.99}}, "gamma"),
    ({"layer_size": {"type": "categorical", "values": []}}, "layer_size"),
    ({"seed": {"type": "int", "low": 0, "high": 9}}, "seed"),
    ({"learning_rate": {"type": "float", "low": 0.0, "high": 0.1, "log": True}},
     "learning_rate"),
    ([1, 2], "non-empty JSON object"),
]


@pytest.mark.parametrize("space,named", BAD_SPACES, ids=[n for _, n in BAD_SPACES])
def test_bad_search_space_exits_2(tmp_path, space, named):
    r = run(["--search-space", space_file(tmp_path, space), "--storage-path",
             str(tmp_path / "store"), "--env", "CartPole-v1"], timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and named in lines[0], r.stderr
    assert not (tmp_path / "store").exists()


BAD_FLAGS = [
    (["--num-samples", "0"], "--num-samples 0"),
    (["--num-samples", "many"], "many"),
    (["--grace-steps", "2000000"], "--grace-steps 2000000"),
    (["--reduction-factor", "1"], "--reduction-factor 1"),
    (["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["--set", "gamma=2"], "gamma=2"),
    (["--set", "learning_rate=0.1"], "learning_rate"),  # also searched by the space
    (["--search-space", "missing.json"], "missing.json"),
    (["--resume", "--name", "nothing-here"], "nothing-here"),
    (["--resume"], "--name"),
    (["--start-from", "missing.json"], "missing.json"),
    (["--budget-steps", "1000000"], "--budget-steps 1000000 leaves no env steps to search"),
]


@pytest.mark.parametrize("args,named", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2(tmp_path, args, named):
    r = run([*args, "--storage-path", str(tmp_path / "store")], timeout=120, cwd=tmp_path)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and named in lines[0], r.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_a_budget_of_env_steps_ends_the_search_before_its_num_samples(tmp_path):
    """--budget-steps: once the trials have trained it (every seed counted, the validation's
    set aside), no trial starts; the ones running finish, so the search overshoots by at most
    what they can still train."""
    from a2c_ray.results import load_curves

    budget = 2 * 18432 + 3 * 2048  # two whole trials and three stopped at the first rung
    r = run(["--num-samples", "30", *SMALL, "--budget-steps", str(budget), "--storage-path",
             str(tmp_path), "--name", "budget", "--search-space", space_file(tmp_path),
             "--max-concurrent-trials", "2"])
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "budget" / "summary.json").read_text())
    assert 2 <= summary["num_trials"] < 30
    trained = int(load_curves(tmp_path / "budget").groupby(["trial_id", "seed"])
                  ["env_steps"].max().sum())
    # the last trial started before the budget was reached; two at once: one more may run
    assert budget <= trained <= budget + 2 * 18432 + 2 * 40, trained


def test_a_new_sweep_never_joins_an_older_sweeps_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"  # a study that outlived its sweep's directory
    optuna.create_study(study_name="taken", storage=url)
    r = run(["--name", "taken", "--optuna-storage", url, "--storage-path",
             str(tmp_path / "store"), "--env", "CartPole-v1"], timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "'taken'" in lines[0] and "delete-study" in lines[0], r.stderr
    assert not (tmp_path / "store").exists()
    assert optuna.study.get_all_study_names(storage=url) == ["taken"]


def test_start_point_outside_the_space_exits_2(tmp_path):
    preset = tmp_path / "preset.json"
    preset.write_text(json.dumps({"gamma": 0.9}))
    r = run(["--start-from", str(preset), "--storage-path", str(tmp_path / "store"),
             "--env", "CartPole-v1"], timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "gamma=0.9 is outside" in lines[0], r.stderr
    assert not (tmp_path / "store").exists()


def test_help_shows_defaults():
    r = run(["--help"], timeout=60)
    assert r.returncode == 0
    for default in ("HalfCheetah-v5", "1000000", "100000", "(default: 3", "200"):
        assert default in r.stdout


def test_progress_table_shows_what_a_user_sweeps_for():
    from types import SimpleNamespace as Trial

    from a2c_ray.tuning.console import progress_table

    trials = [Trial(trial_id="a", status="RUNNING", last_result={}),
              Trial(trial_id="b", status="RUNNING",
                    last_result={"env_steps": 5000, "score": 20.5, "score_min": 10.0,
                                 "episode_return_mean": 30.0, "env_steps_per_s": 1234.5,
                                 "policy_loss": 0.1}),
              Trial(trial_id="c", status="TERMINATED",
                    last_result={"env_steps": 9000, "score": 99.0})]
    lines = progress_table(trials, 75).splitlines()
    assert lines[0] == ("[0:01:15] 2 RUNNING | 1 TERMINATED   best score 99.0 "
                        "(c, 9,000 steps)")
    assert lines[1].split() == ["trial", "status", "env_steps", "score", "score_min",
                                "episode_return_mean", "env_steps_per_s"]
    assert lines[2].split() == ["b", "RUNNING", "5,000", "20.5", "10.0", "30.0", "1,234"]
    assert lines[3].split() == ["a", "RUNNING", "-", "-", "-", "-", "-"]  # nothing reported


def test_a_confirmation_run_shows_as_the_trial_it_retrains_and_its_seed():
    from types import SimpleNamespace as Trial

    from a2c_ray.tuning.console import progress_table, run_label

    searched = ["546740e8", "0c1d2e3f"]
    runs = [Trial(trial_id="36dfa_00004", status="RUNNING", config={"config_index": 1,
                                                                     "seed": 30001},
                  last_result={"env_steps": 4000, "score": 12.0}),
            Trial(trial_id="36dfa_00000", status="TERMINATED",
                  config={"config_index": 0, "seed": 30000},
                  last_result={"env_steps": 9000, "score": 50.0})]
    lines = progress_table(runs, 5, label=lambda t: run_label(t, searched)).splitlines()
    assert "(546740e8 seed 30000, 9,000 steps)" in lines[0]
    assert lines[2].split()[:4] == ["0c1d2e3f", "seed", "30001", "RUNNING"]
    assert "36dfa" not in "\n".join(lines)
    # a search's trial (no candidates) keeps its own id
    assert run_label(runs[0]) == "36dfa_00004"


@pytest.mark.parametrize("args,named", [
    (["--num-samples", "20"], "--num-samples 20 differs from the sweep's 8"),
    (["--max-steps", "5000"], "--max-steps 5000 differs from the sweep's 20000"),
    (["--env", "Acrobot-v1"], "--env Acrobot-v1 differs from the sweep's CartPole-v1"),
    (["--set", "ent_coef=0.1"], "--set ent_coef=0.1 differs from the sweep's ent_coef=None"),
    (["--search-space", "x.json"], "--search-space x.json applies to a new sweep only"),
], ids=["num-samples", "max-steps", "env", "set", "search-space"])
def test_resume_refuses_changed_settings(tmp_path, args, named):
    from a2c_ray.tuning.config import SweepConfig
    from a2c_ray.tuning.plan import plan

    saved = plan(SweepConfig(env="CartPole-v1", num_samples=8, max_steps=20000,
                             grace_steps=5000, name="s", storage_path=str(tmp_path)))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_text(json.dumps(saved.to_json()))
    r = subprocess.run([*TUNE, "--resume", "--name", "s", "--storage-path", str(tmp_path),
                        *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and named in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["sweep.json"]


@pytest.mark.parametrize("grace,max_t,factor", [(100_000, 1_000_000, 3), (2048, 18432, 3),
                                                (5000, 20000, 2.5), (25_000, 1_000_000, 4),
                                                (100_000, 100_000, 3)])
def test_asha_milestones_are_the_rungs_ray_compares_at(grace, max_t, factor):
    from ray.tune.schedulers import ASHAScheduler

    from a2c_ray.tuning.schedule import asha_milestones

    scheduler = ASHAScheduler(time_attr="env_steps", metric="score", mode="max", max_t=max_t,
                              grace_period=grace, reduction_factor=factor)
    rays = sorted(m for m, _ in scheduler._brackets[0]._rungs)  # Ray's own bookkeeping
    assert asha_milestones(grace, max_t, factor) == rays


def _score_read(interval, batch, report_every, mark, total, window, keep=None):
    """The latest evaluations at the first report at or past ``mark``, as run_trial reports and
    the trainer evaluates (a naive walk over its iterations)."""
    steps, evals = 0, []
    while steps < total:
        until = min(steps + report_every, (steps // interval + 1) * interval)
        while steps < until:
            before, steps = steps, steps + batch
            points = range(before // interval + 1, steps // interval + 1)
            if steps >= total or any(keep is None or k * interval in keep for k in points):
                evals.append(steps)
        if steps >= mark or steps >= total:
            return tuple(evals[-window:])
    raise AssertionError("unreachable")


def test_scored_evaluations_give_the_scores_every_evaluation_gives():
    """Wherever ASHA or the ranking reads a score, the trial that skips the other evaluations
    has the same latest evaluations as the one that makes them all (random grids, batches
    larger and smaller than the grid, marks on and off it)."""
    from a2c_ray.tuning.schedule import asha_milestones, scored_evaluations

    rng = np.random.default_rng(0)
    skipped = 0
    for _ in range(500):
        interval = int(rng.integers(5, 60)) * 10
        batch = int(rng.integers(1, 100)) * 8
        grace = int(rng.integers(interval, 6 * interval))
        total = int(rng.integers(grace, 40 * interval))
        factor = float(rng.choice([2, 2.5, 3, 4]))
        window, report_every = int(rng.integers(1, 5)), int(rng.integers(50, 400))
        marks = asha_milestones(grace, total, factor)
        keep = scored_evaluations(interval, marks, total, window, batch)
        assert all(p % interval == 0 and p > 0 for p in keep)
        skipped += len(keep) < total // interval
        for mark in [*marks, total]:
            every = _score_read(interval, batch, report_every, mark, total, window)
            assert _score_read(interval, batch, report_every, mark, total, window, keep) == (
                every), (interval, batch, report_every, mark, total, window)
    assert skipped > 250  # the check is not vacuous: most draws skip evaluations
    # the default sweep: 12 of the 40 evaluations of a trial that runs its 1M steps
    keep = scored_evaluations(25_000, asha_milestones(100_000, 1_000_000, 3), 1_000_000, 3, 256)
    assert sorted(keep) == [k * 25_000 for k in (2, 3, 4, 10, 11, 12, 34, 35, 36, 38, 39, 40)]


@pytest.mark.slow
def test_a_sweep_evaluating_at_the_rungs_scores_and_stops_as_one_evaluating_always(tmp_path):
    """The same sweep (random sampler, one trial at a time) with --eval-schedule every and
    rungs: every trial gets the same score, the same stop and the same training, and the rungs
    sweep skips the evaluations between rungs 6144 and 18432 that nothing reads."""
    from a2c_ray.results import load_curves
    from a2c_ray.tuning.schedule import asha_milestones, scored_evaluations

    outcome, evaluated = {}, {}
    for schedule in ("every", "rungs"):
        r = run(["--num-samples", "4", *SMALL, "--storage-path", str(tmp_path), "--name",
                 schedule, "--search-space", space_file(tmp_path), "--sampler", "random",
                 "--max-concurrent-trials", "1", "--eval-schedule", schedule])
        assert r.returncode == 0, r.stderr[-3000:]
        exp = tmp_path / schedule
        rows = {}
        for d in exp.glob("run_trial_*"):
            last = json.loads((d / "result.json").read_text().splitlines()[-1])
            rows[d.name.split("_")[-1]] = last
        outcome[schedule] = sorted(
            (json.dumps(last["config"], sort_keys=True), last["env_steps"], last["score"],
             last["episode_return_mean"]) for last in rows.values())
        curves = load_curves(exp).dropna(subset=["eval_return_mean"])
        # the point of the grid each evaluation passed (an iteration is at most 256 steps)
        evaluated[schedule] = {int(s) // 2048 * 2048 for s in curves["env_steps"]}
    assert outcome["every"] == outcome["rungs"]
    assert any(steps >= 18432 for _, steps, _, _ in outcome["rungs"])  # one ran its budget
    between = {8192, 10240, 12288}
    keep = scored_evaluations(2048, asha_milestones(2048, 18432, 3), 18432, 3, 256)
    assert not between & keep
    assert between <= evaluated["every"] and evaluated["rungs"] <= keep
