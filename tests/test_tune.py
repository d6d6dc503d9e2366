"""The sweep service end to end on a real local Ray, with real Optuna storage."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

TUNE = [sys.executable, "-m", "a2c_ray.tune"]
SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
    "gamma": {"type": "categorical", "values": [0.95, 0.99]},
    "rollout_length": {"type": "categorical", "values": [5, 32]},
    "value_grad_steps": {"type": "categorical", "values": [1, 5]},
}
# rungs at 2048, 6144 and 18432 env steps
SMALL = ["--env", "CartPole-v1", "--max-steps", "18432", "--grace-steps", "2048",
         "--reduction-factor", "3", "--set", "eval_episodes=2", "--checkpoint-every", "5"]


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
def test_cartpole_sweep(tmp_path):
    preset = tmp_path / "preset.json"  # a full config: only its searched fields are used
    preset.write_text(json.dumps({"env_id": "Acrobot-v1", "learning_rate": 2e-3,
                                  "gamma": 0.95, "rollout_length": 32, "value_grad_steps": 5}))
    r = run(["--num-samples", "8", *SMALL, "--storage-path", str(tmp_path), "--name", "cp",
             "--search-space", space_file(tmp_path), "--max-concurrent-trials", "2",
             "--start-from", str(preset)])
    assert r.returncode == 0, r.stderr[-3000:]
    exp = tmp_path / "cp"
    summary = json.loads((exp / "summary.json").read_text())
    assert set(summary) >= {"metric", "mode", "best_trial_id", "best_config", "best_metric",
                            "num_trials", "trials_by_status"}
    assert summary["num_trials"] == 8 and summary["trials_by_status"] == {"TERMINATED": 8}
    assert summary["stopped_early"] >= 1  # ASHA stopped some trials before max_t
    trial_dirs = [d for d in exp.iterdir() if d.name.startswith("run_trial_")]
    assert len(trial_dirs) == 8
    assert all((d / "params.json").is_file() and (d / "progress.csv").is_file()
               for d in trial_dirs)
    trials = study_trials(exp, "cp")
    assert len(trials) == 8
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # the first trial is the --start-from config, the second SB3's default A2C
    assert trials[0].params == {"learning_rate": 2e-3, "gamma": 0.95, "rollout_length": 32,
                                "value_grad_steps": 5}
    assert trials[1].params == {"learning_rate": 7e-4, "gamma": 0.99, "rollout_length": 5,
                                "value_grad_steps": 1}
    best = json.loads((exp / "best_config.json").read_text())
    assert best["env_id"] == "CartPole-v1" and best["total_env_steps"] == 18432
    assert "python -m a2c_ray.train --config" in r.stdout
    # an existing name is never overwritten
    again = run(["--num-samples", "2", *SMALL, "--storage-path", str(tmp_path), "--name", "cp"])
    assert again.returncode == 2 and "--resume" in again.stderr


@pytest.mark.slow
def test_sweep_survives_sigkill_and_resumes(tmp_path):
    args = ["--num-samples", "6", *SMALL, "--storage-path", str(tmp_path), "--name", "kill",
            "--search-space", space_file(tmp_path), "--max-concurrent-trials", "2"]
    exp = tmp_path / "kill"
    proc = subprocess.Popen(TUNE + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    finished: dict[Path, str] = {}
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and len(finished) < 2:
            time.sleep(1)
            for result in exp.glob("run_trial_*/result.json"):
                lines = result.read_text().splitlines()
                if lines and json.loads(lines[-1]).get("done"):
                    finished[result] = result.read_text()
        assert len(finished) >= 2, "no trial finished in time"
        assert proc.poll() is None, "the sweep ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(2)
    r = run(["--resume", "--name", "kill", "--storage-path", str(tmp_path)])
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["num_trials"] == 6
    errors = {d.name: (d / "error.txt").read_text()[-2000:]
              for d in exp.glob("run_trial_*") if (d / "error.txt").is_file()}
    assert summary["trials_by_status"] == {"TERMINATED": 6}, errors
    for path, text in finished.items():  # finished results are kept, not re-run
        assert path.read_text() == text
    # the study holds every trial; one a killed driver asked for but never ran is closed
    states = [t.state for t in study_trials(exp, "kill")]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 6
    assert optuna.trial.TrialState.RUNNING not in states


def test_resume_skips_gone_and_incomplete_checkpoints(tmp_path):
    """A killed sweep can leave Tune's checkpoint deleted, or a newer one half copied."""
    from ray import tune as ray_tune

    from a2c_ray.checkpoint import FILES
    from a2c_ray.tune import _available_checkpoint

    trial = tmp_path / "run_trial_0"
    for index, files in ((1, FILES), (2, FILES), (3, FILES[:2])):  # 3: killed mid-copy
        (trial / f"checkpoint_00000{index}" / "checkpoint").mkdir(parents=True)
        for name in files:
            (trial / f"checkpoint_00000{index}" / "checkpoint" / name).write_text("x")

    def resolved(index: int) -> str:
        found = _available_checkpoint(ray_tune.Checkpoint(str(trial / f"checkpoint_00000{index}")))
        return Path(found.path).name

    assert resolved(1) == "checkpoint_000001"  # complete: used as Tune gives it
    assert resolved(3) == "checkpoint_000002"  # incomplete: the newest complete one
    assert resolved(4) == "checkpoint_000002"  # deleted by num_to_keep: likewise
    for d in trial.iterdir():
        (d / "checkpoint" / "state.json").unlink(missing_ok=True)
    assert _available_checkpoint(ray_tune.Checkpoint(str(trial / "checkpoint_000004"))) is None


@pytest.mark.slow
def test_nan_trial_errors_while_others_finish(tmp_path):
    space = {"log_std_init": {"type": "categorical", "values": [-4.0, 2.0]}}
    r = run(["--num-samples", "4", "--env", "tests.toy_envs:NanReward-v0", "--max-steps", "2048",
             "--grace-steps", "2048", "--set", "eval_episodes=2", "--max-failures", "0",
             "--storage-path", str(tmp_path), "--name", "nan", "--seed", "0",
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
]


@pytest.mark.parametrize("args,named", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2(tmp_path, args, named):
    r = run([*args, "--storage-path", str(tmp_path / "store")], timeout=120, cwd=tmp_path)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and named in lines[0], r.stderr
    assert not (tmp_path / "store").exists()


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
