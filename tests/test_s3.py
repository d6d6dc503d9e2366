"""Sweeps on s3://, against a real S3 endpoint on this machine (moto's server).

The credentials are fake and the endpoint is set through the environment, which the sweep's
driver and its Ray workers inherit, as they would inherit a cluster node's settings.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import imageio.v3 as iio
import optuna
import pytest

from a2c_ray.core import storage as st
from a2c_ray.results import load_curves, load_trials, tune_trial_states
from tests.notebooks import NOTEBOOKS, run_notebook
from tests.s3_endpoint import S3Endpoint

ROOT = Path(__file__).resolve().parents[1]
TUNE = [sys.executable, "-m", "a2c_ray.tune"]
SPACE = {"learning_rate": {"type": "float", "low": 3e-4, "high": 3e-3, "log": True}}
SWEEP = "s3://sweeps/a2c/s3t"


@pytest.fixture(scope="module")
def s3():
    endpoint = S3Endpoint()
    endpoint.start()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in endpoint.env.items():
            mp.setenv(key, value)
        boto3.client("s3").create_bucket(Bucket="sweeps")
        yield endpoint.env
    endpoint.stop()


def _keys(prefix: str) -> list[str]:
    s3 = boto3.client("s3")
    return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket="sweeps", Prefix=prefix) for o in page.get("Contents", [])]


def _text(key: str) -> str:
    return boto3.client("s3").get_object(Bucket="sweeps", Key=key)["Body"].read().decode()


def _state(prefix: str) -> tuple[dict[str, str], bool]:
    """Finished trials' result.json texts, and whether an unfinished trial has a checkpoint.

    Unfinished as Tune's own snapshot in the bucket has it: the driver uploads that snapshot
    every 10 s or so, so a trial started, checkpointed or ended since is not yet in it, and a
    driver killed then resumes from the older picture (a trial it had not yet saved as
    started is drawn again, under a new name, and starts over).
    """
    keys = _keys(prefix)
    finished = {}
    for key in keys:
        if key.endswith("/result.json"):
            text = _text(key)
            if text.strip() and json.loads(text.strip().splitlines()[-1]).get("done"):
                finished[key] = text
    checkpointed = {k.split("/")[2] for k in keys if k.endswith("/checkpoint/latest")}
    saved = tune_trial_states(f"s3://sweeps/{prefix.rstrip('/')}") or {}
    unfinished = {name for name, trial in saved.items() if trial["status"] != "TERMINATED"}
    return finished, bool((checkpointed & unfinished) - {k.split("/")[2] for k in finished})


@pytest.fixture(scope="module")
def sweep(s3, tmp_path_factory):
    """A CartPole sweep on S3, its driver SIGKILLed mid-way, resumed with a confirmation."""
    tmp = tmp_path_factory.mktemp("s3sweep")
    space = tmp / "space.json"
    space.write_text(json.dumps(SPACE))
    args = ["--env", "CartPole-v1", "--num-samples", "4", "--max-steps", "16384",
            "--grace-steps", "16384", "--set", "eval_episodes=2", "--checkpoint-every", "5",
            "--seeds-per-trial", "2", "--confirm-top", "0", "--storage-path", "s3://sweeps/a2c",
            "--name", "s3t",
            "--search-space", str(space)]
    env = {**os.environ, "HOME": str(tmp / "home")}  # the Optuna study's local file is there
    with (tmp / "first.log").open("w") as log:
        proc = subprocess.Popen(TUNE + args, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=tmp, env=env)
    deadline = time.monotonic() + 600
    try:
        finished, checkpointed = {}, False
        while time.monotonic() < deadline and proc.poll() is None and not (
                finished and checkpointed):
            time.sleep(0.5)
            finished, checkpointed = _state("a2c/s3t/")
        assert finished and checkpointed, (tmp / "first.log").read_text()[-3000:]
        assert proc.poll() is None, "the sweep ended before it could be killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(2)
    first_rows = {k: _text(k).splitlines()[0] for k in _keys("a2c/s3t/")
                  if k.endswith("/result.json") and _text(k).strip()}
    r = subprocess.run(TUNE + ["--resume", "--name", "s3t", "--storage-path", "s3://sweeps/a2c",
                               "--confirm-top", "1", "--confirm-seeds", "2"],
                       capture_output=True, text=True, timeout=900, cwd=tmp, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return {"finished": finished, "first_rows": first_rows, "resume": r, "cwd": tmp}


@pytest.mark.slow
def test_sweep_killed_and_resumed_on_s3(sweep):
    assert "resumes from s3://sweeps/a2c/s3t/run_trial_" in sweep["resume"].stdout
    summary = json.loads(st.read_text(f"{SWEEP}/summary.json"))
    errors = [st.read_text(e.uri)[-2000:] for d in st.list_dir(SWEEP) if d.is_dir
              for e in st.list_dir(d.uri) if e.name == "error.txt"]
    assert summary["num_trials"] == 4 and summary["trials_by_status"] == {"TERMINATED": 4}, (
        errors, sweep["resume"].stdout[-3000:])
    for key, text in sweep["finished"].items():  # kept as they were, not re-run
        now, last = _text(key), json.loads(text.splitlines()[-1])
        assert now.startswith(text), key
        # a kill between a trial's last report and Tune's next snapshot of the experiment
        # leaves the trial unfinished there: restored at its budget, it reports its saved
        # final metrics once more and trains nothing (the loaders keep one row per env_steps)
        again = [json.loads(line) for line in now[len(text):].splitlines()]
        assert len(again) <= 1, key
        for row in again:
            same = ("env_steps", "iteration", "score", "score_min", "eval_return_last")
            assert {k: row[k] for k in same} == {k: last[k] for k in same}, key
    for key, row in sweep["first_rows"].items():  # the resumed trial kept its rows too
        assert _text(key).splitlines()[0] == row, key
    # the study: every trial that ran ended COMPLETE (no ASHA rung before the budget here);
    # one the killed driver asked for but never ran may be closed as FAIL, none left RUNNING
    url = json.loads(st.read_text(f"{SWEEP}/sweep.json"))["optuna_storage"]
    trials = optuna.load_study(study_name="s3t", storage=url).trials
    states = [t.state for t in trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4, (
        [(t.number, t.state.name, t.user_attrs, sorted(t.intermediate_values)) for t in trials],
        (sweep["cwd"] / "first.log").read_text()[-4000:], sweep["resume"].stdout[-4000:],
        sweep["resume"].stderr[-4000:])
    assert optuna.trial.TrialState.RUNNING not in states
    assert "already reported" not in sweep["resume"].stdout + sweep["resume"].stderr
    confirmation = json.loads(st.read_text(f"{SWEEP}/confirmation.json"))
    assert len(confirmation) == 1 and len(confirmation[0]["returns"]) == 2
    assert json.loads(st.read_text(f"{SWEEP}/best_config.json"))["env_id"] == "CartPole-v1"
    # nothing written to the working directory in the bucket's place: only the test's files
    assert sorted(p.name for p in Path(sweep["cwd"]).iterdir()) == [
        "first.log", "home", "space.json"]


@pytest.mark.slow
def test_loaders_read_the_s3_sweep(sweep):
    trials = load_trials(SWEEP)
    assert len(trials) == 4 and set(trials["status"]) == {"TERMINATED"}
    assert trials["trial_dir"].str.startswith("s3://sweeps/a2c/s3t/run_trial_").all()
    assert (trials["env_steps"] >= 12288).all()
    curves = load_curves(SWEEP)
    assert set(curves["trial_id"]) == set(trials["trial_id"])
    assert curves.groupby("trial_id")["env_steps"].max().min() >= 12288
    assert (curves.groupby("trial_id")["seed"].nunique() == 2).all()  # two seeds each
    assert len(load_trials(f"{SWEEP}/confirm")) == 2


@pytest.mark.slow
def test_evaluate_and_report_on_the_s3_sweep(sweep, tmp_path):
    gif = tmp_path / "best.gif"
    r = subprocess.run([sys.executable, "-m", "a2c_ray.evaluate", "--checkpoint", SWEEP,
                        "--episodes", "2", "--gif", str(gif), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["checkpoint"].startswith("s3://sweeps/a2c/s3t/run_trial_")
    assert iio.imread(gif).shape[0] > 10
    r = subprocess.run([sys.executable, "-m", "a2c_ray.report", SWEEP, "--no-gif"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    page = st.read_text(f"{SWEEP}/report.html")
    assert "Best configuration" in page and "data:image/png;base64," in page


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_read_the_s3_sweep(sweep, tmp_path, monkeypatch, name):
    outputs = run_notebook(name, SWEEP, tmp_path, monkeypatch)
    text = "".join(o.get("text", "") for o in outputs)
    assert SWEEP in text  # the first cell prints which sweep it reads


BAD = {  # what goes wrong -> (storage path, environment changes, words in the error)
    "missing bucket": ("s3://no-such-bucket/a2c", {}, "no-such-bucket"),
    "unreachable endpoint": ("s3://sweeps/a2c", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
                             "connect"),
    "no credentials": ("s3://sweeps/a2c", {"AWS_ACCESS_KEY_ID": None,
                                           "AWS_SECRET_ACCESS_KEY": None,
                                           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                                           "AWS_CONFIG_FILE": "/nonexistent",
                                           "AWS_EC2_METADATA_DISABLED": "true"}, "credentials"),
}


@pytest.mark.parametrize("what", list(BAD))
def test_bad_s3_storage_exits_2_before_anything_starts(s3, tmp_path, what):
    uri, changes, words = BAD[what]
    env = {**os.environ, "HOME": str(tmp_path)}
    for key, value in changes.items():
        env.pop(key, None) if value is None else env.__setitem__(key, value)
    r = subprocess.run(TUNE + ["--env", "CartPole-v1", "--num-samples", "2", "--storage-path",
                               uri, "--name", "bad"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-3000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and uri in lines[0] and words in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no local stand-in, no study
