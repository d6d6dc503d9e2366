"""Faults at bad moments: a resumed sweep runs exactly --num-samples trials, one to one with
its Optuna study, whichever of Tune's saved files a killed driver left newest."""

import glob
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from a2c_ray.core import SavedTrial, saved_trials, train_seeds
from tests.test_tune import SMALL, SNAPSHOT_EVERY_S, TUNE, run, space_file, study_trials


def _newest(exp: Path, pattern: str) -> Path | None:
    paths = sorted(glob.glob(str(exp / pattern)))
    return Path(paths[-1]) if paths else None


def _saved_trials(exp: Path) -> list[SavedTrial]:
    """The trials of the newest experiment state; none while Tune rewrites it."""
    try:
        return saved_trials(str(exp)) or []
    except json.JSONDecodeError:  # being replaced
        return []


def _rows(trial: Path) -> int:
    try:
        return len((trial / "result.json").read_text().splitlines())
    except FileNotFoundError:
        return 0


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root``: its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def _kill_with_trials_saved(tmp_path: Path, name: str, checkpointed: bool = False) -> Path:
    """A 4-trial sweep SIGKILLed once its saved experiment holds 3 or 4 trials, the last running
    (and, if ``checkpointed``, with a checkpoint and 8 rows)."""
    # no stop before 9216 env steps: a trial runs for seconds, not the one second a trial
    # stopped at 2048 does, so the saved experiment is seen with its last trial running
    args = ["--num-samples", "4", *SMALL, "--grace-steps", "9216", "--checkpoint-every", "1",
            "--storage-path",
            str(tmp_path), "--name", name, "--search-space", space_file(tmp_path),
            "--max-concurrent-trials", "1"]
    exp = tmp_path / name
    with (tmp_path / "out.txt").open("w") as o, (tmp_path / "err.txt").open("w") as e:
        proc = subprocess.Popen(TUNE + args, stdout=o, stderr=e, start_new_session=True,
                                env=SNAPSHOT_EVERY_S)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            trials = _saved_trials(exp)
            last = exp / trials[-1].dirname if trials else exp
            if len(trials) >= 3 and trials[-1].status == "RUNNING" and (
                    not checkpointed or ((last / "checkpoint" / "latest").is_file() and _rows(
                        last) >= 8)):
                break
            time.sleep(0.1)
        assert proc.poll() is None, (tmp_path / "err.txt").read_text()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(2)
    return exp


def _older_generator(exp: Path) -> None:
    """The generator's file from the save before: it counts one trial fewer."""
    import ray.cloudpickle as cloudpickle

    path = _newest(exp, "search_gen_state-*.json")
    state = cloudpickle.loads(path.read_bytes())
    state["counter"] -= 1
    path.write_bytes(cloudpickle.dumps(state))


def _older_experiment(exp: Path) -> None:
    """The experiment's file from before its last trial was made (the study has that one)."""
    path = _newest(exp, "experiment_state-*.json")
    data = json.loads(path.read_text())
    data["trial_data"] = data["trial_data"][:-1]
    path.write_text(json.dumps(data))


def _rows_before_checkpoint(exp: Path) -> None:
    """A running trial's files without the rows of its last reports before its newest
    checkpoint, nor those from the checkpoint on: result.json 3 rows short, with half of the
    next row, progress.csv 2 rows shorter still.

    The driver writes a trial's rows some reports behind the trial: one killed after the trial
    checkpointed and reported, before it wrote the rows of the reports it had. It uploads the
    files one after the other while it writes them: one killed in an upload leaves them cut at
    different rows, the last one cut off in the middle.
    """
    from a2c_ray.run.checkpoint import CheckpointStore

    running = {t.trial_id for t in _saved_trials(exp) if t.status == "RUNNING"}
    for trial in sorted(exp.glob("run_trial_*")):
        if trial.name.removeprefix("run_trial_") not in running:
            continue  # kept as it is: a resumed sweep runs it no further
        latest = CheckpointStore(str(trial / "checkpoint")).latest()
        if latest is None or not (trial / "result.json").is_file():
            continue
        iteration = int(Path(latest).name)
        lines = (trial / "result.json").read_text().splitlines()
        before = [json.loads(ln)["iteration"] for ln in lines
                  if json.loads(ln)["iteration"] < iteration]
        if len(before) < 6:
            continue
        last = before[-4]  # the last row the driver wrote
        kept = [ln for ln in lines if json.loads(ln)["iteration"] <= last]
        cut = lines[len(kept)][:len(lines[len(kept)]) // 2]
        (trial / "result.json").write_text("".join(ln + "\n" for ln in kept) + cut)
        csv = pd.read_csv(trial / "progress.csv")
        csv[csv["iteration"] <= before[-6]].to_csv(trial / "progress.csv", index=False)
        return
    raise AssertionError("no running trial with rows at or past its newest checkpoint")


MOMENTS = {  # which of Tune's files the killed driver left from an earlier save
    "the generator's": _older_generator,  # resumed, it made a 5th trial
    "the experiment's": _older_experiment,  # resumed, the sweep lost the trial and never ended
    "a trial's rows": _rows_before_checkpoint,  # resumed, the rows before the checkpoint lost
}


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> Path:
    """One sweep killed with its last trial running, checkpointed and 8 rows in: each moment
    resumes a copy of it (a copied sweep keeps to its own files and study:
    ``core.storage.moved_study``), which saves two kills."""
    return _kill_with_trials_saved(tmp_path_factory.mktemp("killed"), "fault", checkpointed=True)


@pytest.mark.slow
@pytest.mark.parametrize("older", list(MOMENTS))
def test_a_resumed_sweep_runs_num_samples_trials_whichever_file_is_older(tmp_path, killed,
                                                                         older):
    original = _tree(killed)
    exp = Path(shutil.copytree(killed, tmp_path / "fault"))
    MOMENTS[older](exp)
    r = run(["--resume", "--name", "fault", "--storage-path", str(tmp_path)])
    assert r.returncode == 0, r.stderr[-3000:]
    assert _tree(killed) == original  # the resume wrote to its copy alone
    summary = json.loads((exp / "summary.json").read_text())
    tune_trials = _saved_trials(exp)
    assert summary["num_trials"] == 4 and len(tune_trials) == 4
    if older != "a trial's rows":
        assert "the saved search counted" in r.stderr  # the log says what it corrected
    # the study holds the same 4 trials, each ended as Tune ended it; the redraws of a
    # repeated configuration and a trial the experiment lost are FAIL and say why
    trials = study_trials(exp, "fault")
    marked = [t for t in trials if {"duplicate_of", "lost_at_restore"} & set(t.user_attrs)]
    assert all(t.state == optuna.trial.TrialState.FAIL for t in marked)
    ran = [t for t in trials if t not in marked]
    assert len(ran) == 4
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
               for t in ran)
    assert sorted(tuple(train_seeds(0, t.number, 1)) for t in ran) == sorted(
        tuple(t.config["seeds"]) for t in tune_trials)
    for trial in exp.glob("run_trial_*"):  # each trial's files hold each env step once
        if not (trial / "result.json").is_file():
            continue  # killed before its first report
        rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        steps = [row["env_steps"] for row in rows]
        assert steps == sorted(set(steps)), trial.name
        # none missing: a report every batch here (1/200 of the budget is less than one), the
        # last one where the budget ends
        batch = rows[0]["env_steps"]
        assert steps[:-1] == list(range(batch, batch * len(steps), batch)), trial.name
        assert 0 < steps[-1] - steps[-2] <= batch if len(steps) > 1 else True, trial.name
        progress = pd.read_csv(trial / "progress.csv")["env_steps"].tolist()
        assert progress == steps, trial.name
    if older == "the experiment's":  # its running trial was asked, then lost with the file
        assert any("lost_at_restore" in t.user_attrs for t in marked)
        # and its files, which no trial of the sweep owns, set aside where a reader that
        # lists run_trial_* does not count them
        assert sorted(p.name for p in exp.glob("run_trial_*")) == sorted(
            f"run_trial_{t.trial_id}" for t in tune_trials)
        assert len(list((exp / "lost_trials").glob("run_trial_*"))) == 1
        assert "set aside" in r.stderr


def test_a_stored_file_copied_back_while_s3_is_away_waits_for_it(tmp_path, monkeypatch):
    """The fault soak stopped the S3 endpoint while a resumed driver copied a trial's
    result.json back: pyarrow's OSError ended the driver with a traceback."""
    import threading

    import boto3

    from a2c_ray.core import storage as st
    from a2c_ray.tuning.console import copy_back
    from tests.s3_endpoint import S3Endpoint

    endpoint = S3Endpoint()
    endpoint.start()
    try:
        for key, value in endpoint.env.items():
            monkeypatch.setenv(key, value)
        boto3.client("s3").create_bucket(Bucket="away")
        st.write_text("s3://away/exp/trial/result.json", '{"env_steps": 1}\n')
        fs, path = st.filesystem("s3://away/exp/trial/result.json")
        endpoint.stop()
        back = threading.Timer(8.0, endpoint.start)
        back.start()
        began = time.monotonic()
        copy_back(path, fs, tmp_path / "result.json")
        back.join()
        assert time.monotonic() - began >= 7.5  # it waited for the endpoint
        assert (tmp_path / "result.json").read_text() == '{"env_steps": 1}\n'
        copy_back(path.replace("trial", "none"), fs, tmp_path / "none.json")  # nothing yet
        assert not (tmp_path / "none.json").exists()
    finally:
        endpoint.stop()
