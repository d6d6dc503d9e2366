"""One driver per sweep (``tuning.driver``): a resume started while the driver before it is
still stopping waits for it, and a sweep stopped while starting can be started again."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from a2c_ray.core.config import ConfigError
from a2c_ray.tuning.config import SweepConfig
from a2c_ray.tuning.control import open_new
from a2c_ray.tuning.driver import STALE_S, DriverLock
from tests.test_tune import SMALL, SNAPSHOT_EVERY_S, TUNE, _checkpointed_unfinished, space_file


def _holder(exp: Path, **fields) -> None:
    exp.mkdir(parents=True, exist_ok=True)
    (exp / "driver.json").write_text(json.dumps(fields))


def test_a_driver_that_is_gone_holds_nothing(tmp_path):
    # one SIGKILLed on this host: its pid is gone (a child that has exited and been reaped)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    _holder(tmp_path / "s", host=socket.gethostname(), pid=child.pid, started=0.0,
            heartbeat=time.time())
    began = time.monotonic()
    with DriverLock(str(tmp_path / "s"), "s", wait_s=30):
        held = json.loads((tmp_path / "s" / "driver.json").read_text())
        assert held["pid"] == os.getpid()
    assert time.monotonic() - began < 5
    assert not (tmp_path / "s" / "driver.json").exists()  # removed at the end
    # one on another host whose heartbeat stopped STALE_S ago
    _holder(tmp_path / "s", host="elsewhere", pid=1, started=0.0,
            heartbeat=time.time() - STALE_S - 1)
    with DriverLock(str(tmp_path / "s"), "s", wait_s=30):
        pass


def test_a_running_driver_is_waited_for_then_refused(tmp_path):
    me = psutil.Process()
    # a live driver on this host: this test's own parent process, say
    parent = me.parent()
    _holder(tmp_path / "s", host=socket.gethostname(), pid=parent.pid,
            started=parent.create_time(), heartbeat=time.time())
    began = time.monotonic()
    with pytest.raises(ConfigError, match=r"SweepConfig.name='s' is still run by another driver "
                                          rf"\(pid {parent.pid} on "):
        with DriverLock(str(tmp_path / "s"), "s", wait_s=1.5):
            pass
    assert time.monotonic() - began >= 1.5
    # its file is left as it was
    assert json.loads((tmp_path / "s" / "driver.json").read_text())["pid"] == parent.pid
    # and one on another host with a fresh heartbeat
    _holder(tmp_path / "t", host="elsewhere", pid=1, started=0.0, heartbeat=time.time())
    with pytest.raises(ConfigError, match="still run by another driver"):
        with DriverLock(str(tmp_path / "t"), "t", wait_s=1.0):
            pass


def test_a_sweep_stopped_while_starting_starts_again(tmp_path):
    config = SweepConfig(env="CartPole-v1", name="again", storage_path=str(tmp_path))
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "tuner.pkl").write_bytes(b"")  # Tune's Tuner, built, then a stop
    assert open_new(config).exp.endswith("/again")
    (tmp_path / "again" / "sweep.json").write_text("{}")
    with pytest.raises(ConfigError, match="already exists"):
        open_new(config)


@pytest.mark.slow
def test_a_resume_started_while_the_driver_stops_waits_for_it(tmp_path):
    args = ["--num-samples", "4", *SMALL, "--checkpoint-every", "1", "--storage-path",
            str(tmp_path), "--name", "twice", "--search-space", space_file(tmp_path),
            "--max-concurrent-trials", "2"]
    exp = tmp_path / "twice"
    with (tmp_path / "out.txt").open("w") as o:
        first = subprocess.Popen(TUNE + args, stdout=o, stderr=subprocess.STDOUT,
                                 start_new_session=True, env=SNAPSHOT_EVERY_S)
    deadline = time.monotonic() + 600
    resume = None
    try:
        while time.monotonic() < deadline and first.poll() is None and not (
                _checkpointed_unfinished(exp) and (exp / "driver.json").is_file()):
            time.sleep(0.2)
        assert first.poll() is None, (tmp_path / "out.txt").read_text()[-3000:]
        # The clean stop takes seconds (Tune saves, trials end), a resume's start as long: the
        # first driver is held stopped, its SIGTERM pending, until the resume is at the lock,
        # so that the two overlap however busy the machine is.
        first.send_signal(signal.SIGSTOP)
        first.send_signal(signal.SIGTERM)
        err = tmp_path / "resume_err.txt"
        with (tmp_path / "resume_out.txt").open("w") as o, err.open("w") as e:
            resume = subprocess.Popen(TUNE + ["--resume", "--name", "twice", "--storage-path",
                                              str(tmp_path)], stdout=o, stderr=e,
                                      start_new_session=True)
        while time.monotonic() < deadline and resume.poll() is None and (
                "waiting for the sweep's previous driver" not in err.read_text()):
            time.sleep(0.2)
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=120) == 143
        resume.wait(timeout=900)
    finally:
        for proc in (first, resume):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    r = subprocess.CompletedProcess(resume.args, resume.returncode,
                                    (tmp_path / "resume_out.txt").read_text(), err.read_text())
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "waiting for the sweep's previous driver" in r.stderr
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["num_trials"] == 4 and summary["trials_by_status"] == {"TERMINATED": 4}
    assert not (exp / "driver.json").exists()
    for trial in exp.glob("run_trial_*"):  # one driver wrote each trial's files
        steps = [json.loads(line)["env_steps"]
                 for line in (trial / "result.json").read_text().splitlines()]
        assert steps == sorted(set(steps)), trial.name
        assert pd.read_csv(trial / "progress.csv")["env_steps"].tolist() == steps, trial.name


STOPPED_BEFORE_THE_STUDY = """
import json, sys
from a2c_ray.core import storage as st
from a2c_ray.tune import SweepConfig, open_new
from a2c_ray.tuning.tuner import new_tuner

plan = open_new(SweepConfig(**json.loads(sys.argv[1])))
new_tuner(plan, 1)  # as the sweep's driver does: the Tuner, then sweep.json, then the run
st.write_text(st.join(plan.exp, "sweep.json"), json.dumps(plan.to_json(), indent=2))
"""


@pytest.mark.slow
def test_a_sweep_stopped_before_its_study_was_made_resumes(tmp_path):
    """A driver stopped after writing sweep.json, before the Optuna study was made: its resume
    refused, saying the study was not on this machine, and the sweep could not go on."""
    # as a sweep saved before the defaults re-trained the best trials on validation seeds
    fields = {"env": "CartPole-v1", "num_samples": 2, "max_steps": 4096, "grace_steps": 2048,
              "seeds_per_trial": 1, "storage_path": str(tmp_path), "name": "early",
              "search_space": space_file(tmp_path), "overrides": {"eval_episodes": 2},
              "confirm_top": 0}
    subprocess.run([sys.executable, "-c", STOPPED_BEFORE_THE_STUDY, json.dumps(fields)],
                   check=True, timeout=300)
    exp = tmp_path / "early"
    assert (exp / "sweep.json").is_file() and not (exp / "optuna.db").exists()
    r = subprocess.run(TUNE + ["--resume", "--name", "early", "--storage-path", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["num_trials"] == 2 and summary["trials_by_status"] == {"TERMINATED": 2}
    # resumed as it started: the CLI's default confirmation is not the saved sweep's
    assert json.loads((exp / "sweep.json").read_text())["confirm_top"] == 0
    assert not (exp / "confirmation.json").exists()
    # where Tune saved the experiment's state, a missing study is one left on another machine
    (exp / "optuna.db").rename(tmp_path / "elsewhere.db")
    r = subprocess.run(TUNE + ["--resume", "--name", "early", "--storage-path", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "is not on this machine" in r.stderr, r.stderr[-2000:]
