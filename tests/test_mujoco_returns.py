"""benchmarks/returns/mujoco_returns.py stopped with Ctrl-C, packed, and resumed elsewhere
(--unpack)."""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from a2c_ray.results import seed_stats
from benchmarks.returns import mujoco_returns
from tests.test_tune import (
    SMALL,
    SNAPSHOT_EVERY_S,
    TUNE,
    _checkpointed_unfinished,
    _finished,
    run,
    space_file,
    study_trials,
)

ROOT = Path(__file__).resolve().parents[1]
ENV = "Walker2d-v5"  # the name the script gives the sweep; the trials here train CartPole-v1
NAME = f"returns_{ENV}"


@pytest.mark.slow
def test_an_interrupted_sweep_packed_here_resumes_unpacked_elsewhere(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    exp = work / NAME
    # a checkpoint every iteration, so that some trial is unfinished with one when another ends
    args = ["--num-samples", "6", *SMALL, "--checkpoint-every", "1", "--storage-path",
            str(work), "--name", NAME, "--search-space", space_file(tmp_path),
            "--max-concurrent-trials", "2"]
    with (tmp_path / "out.txt").open("w") as out:
        proc = subprocess.Popen(TUNE + args, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=SNAPSHOT_EVERY_S)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None and not (
                _finished(exp) and _checkpointed_unfinished(exp)):
            time.sleep(0.2)
        assert proc.poll() is None and _finished(exp), "no trial finished while another ran"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finished = {p.relative_to(work): text for p, text in _finished(exp).items()}
    states = [t.state for t in study_trials(exp, NAME)]
    peer = work / "sb3" / ENV / "seed_10000.json"  # a finished peer run travels too
    peer.parent.mkdir(parents=True)
    peer.write_text(json.dumps({"seed": 10000, "eval_return_last": 1.0}))
    stopped = peer.with_name("seed_10001.ckpt")  # and an unfinished one's checkpoint
    stopped.mkdir()
    (stopped / "state.json").write_text("{}")

    packed = tmp_path / "carry" / f"{NAME}.tar.gz"
    r = subprocess.run([sys.executable, "benchmarks/returns/mujoco_returns.py", "--env", ENV,
                        "--work-dir", str(work), "--pack", str(packed)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    with tarfile.open(packed) as tar:
        names = set(tar.getnames())
    assert any("events.out.tfevents" in p.name for p in exp.rglob("*"))
    assert not any("events.out.tfevents" in n for n in names)  # TensorBoard's files stay
    assert "sb3/Walker2d-v5/seed_10000.json" in names and f"{NAME}/optuna.db" in names
    assert "sb3/Walker2d-v5/seed_10001.ckpt/state.json" in names
    for trial in exp.glob("run_trial_*"):
        store = trial / "checkpoint"
        kept = {n for n in names if n.startswith(f"{NAME}/{trial.name}/checkpoint/")
                and n.count("/") == 3}
        if trial.relative_to(work) / "result.json" in finished:
            assert kept == set(), trial  # a finished trial's checkpoints are not needed
        elif (store / "latest").is_file():  # only the latest of an unfinished one
            latest = (store / "latest").read_text().strip()
            assert kept == {f"{NAME}/{trial.name}/checkpoint/{x}" for x in ("latest", latest)}

    a = argparse.Namespace(env=ENV)
    mujoco_returns.unpack(a, elsewhere, packed)
    assert (elsewhere / "sb3" / ENV / "seed_10001.ckpt" / "state.json").read_text() == "{}"
    before = sorted(elsewhere.rglob("*"))
    with pytest.raises(SystemExit) as stop:  # never over a sweep already there
        mujoco_returns.unpack(a, elsewhere, packed)
    assert stop.value.code == 2 and sorted(elsewhere.rglob("*")) == before
    r = run(["--resume", "--name", NAME, "--storage-path", str(elsewhere)])
    assert r.returncode == 0, r.stderr[-3000:]
    moved = elsewhere / NAME
    summary = json.loads((moved / "summary.json").read_text())
    assert summary["trials_by_status"] == {"TERMINATED": 6}
    assert summary["optuna_storage"] == f"sqlite:///{moved / 'optuna.db'}"
    for path, text in finished.items():  # finished trials were kept, not run again
        assert (elsewhere / path).read_text() == text
    # the copy wrote to its own study, never to the one of the sweep it was packed from
    assert not (exp / "summary.json").exists()
    assert [t.state for t in study_trials(exp, NAME)] == states


@pytest.mark.slow
def test_ctrl_c_lets_the_sweep_stop_cleanly_and_counts_its_wall_time(tmp_path):
    # Ctrl-C in a terminal signals the script and its sweep alike; the script must wait for
    # the sweep to save its state (subprocess.run killed it after a quarter of a second).
    work = tmp_path / "work"
    cmd = [sys.executable, "benchmarks/returns/mujoco_returns.py", "--env", "Walker2d-v5",
           "--work-dir", str(work), "--num-samples", "2", "--max-steps", "50000",
           "--grace-steps", "25000", "--seeds-per-trial", "1", "--confirm-top", "1",
           "--seeds", "1", "--max-concurrent", "1"]
    exp, err_file = work / NAME, tmp_path / "err.txt"
    with err_file.open("w") as e:  # a file: a full pipe would block
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=e, cwd=ROOT,
                                start_new_session=True)  # its own group, as a terminal's
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None and not any(
                p.stat().st_size for p in exp.glob("run_trial_*/result.json")):
            time.sleep(0.5)
        assert proc.poll() is None, err_file.read_text()[-3000:]
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = err_file.read_text()
    assert proc.returncode == 1 and "the sweep was interrupted" in err, err[-3000:]
    log = (work / "logs" / f"{NAME}.log").read_text()
    assert "\ninterrupted: " in log and "interrupted again" not in log, log[-3000:]
    assert float((exp / "bench_wall_s.txt").read_text()) > 0


def _main(argv: list[str], capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> tuple[int | str | None, str]:
    monkeypatch.setattr(sys, "argv", ["mujoco_returns.py", *argv])
    with pytest.raises(SystemExit) as stop:
        mujoco_returns.main()
    return stop.value.code, capsys.readouterr().err


def test_pack_and_unpack_refuse_bad_input_in_one_line_and_write_nothing(
        tmp_path, capsys, monkeypatch):
    work, out = tmp_path / "work", tmp_path / "out.tar.gz"
    code, err = _main(["--env", ENV, "--work-dir", str(work), "--pack", str(out)], capsys,
                      monkeypatch)
    assert code == 2 and err.count("\n") == 1 and f"no sweep of {ENV} in {work}" in err
    assert not out.exists() and not work.exists()

    missing = tmp_path / "missing.tar.gz"
    code, err = _main(["--env", ENV, "--work-dir", str(work), "--unpack", str(missing)],
                      capsys, monkeypatch)
    assert code == 2 and err.count("\n") == 1 and f"no file {missing}" in err

    not_tar = tmp_path / "notes.tar.gz"
    not_tar.write_text("not an archive")
    code, err = _main(["--env", ENV, "--work-dir", str(work), "--unpack", str(not_tar)],
                      capsys, monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "is not a tar archive" in err

    other = tmp_path / "other.tar.gz"  # another env's protocol: nothing of it is extracted
    (tmp_path / "returns_Ant-v5").mkdir()
    (tmp_path / "returns_Ant-v5" / "sweep.json").write_text("{}")
    with tarfile.open(other, "w:gz") as tar:
        tar.add(tmp_path / "returns_Ant-v5", arcname="returns_Ant-v5")
    code, err = _main(["--env", ENV, "--work-dir", str(work), "--unpack", str(other)],
                      capsys, monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "returns_Ant-v5" in err
    assert not work.exists() or not any(work.rglob("*"))


def run_of(seed: int, value: float, **more: object) -> dict:
    """One seed's run as a record holds it."""
    return {"seed": seed, "eval_return_last": value, "wall_s": 60.0 + seed % 10,
            "curve": {"env_steps": [50_000, 100_000], "eval_return": [0.0, value]}, **more}


SB3_SETTINGS = {"policy": "MlpPolicy", "normalize": True, "norm_reward": True}


@pytest.fixture
def committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict, str]:
    """A committed record of ENV (its preset's runs made up) and the preset, in tmp_path.

    The record's budget is 1,024 env steps: a preset check trains two updates of the preset.
    """
    results, presets = tmp_path / "results", tmp_path / "presets"
    results.mkdir()
    presets.mkdir()
    preset = (ROOT / "a2c_ray" / "presets" / f"{ENV}.json").read_text()
    (presets / f"{ENV}.json").write_text(preset)
    monkeypatch.setattr(mujoco_returns, "RESULTS", results)
    monkeypatch.setattr(mujoco_returns, "PRESETS", presets)
    old = {
        "env_id": ENV, "env_steps": 1024, "eval_episodes": 10, "machine": {"cpus": 2},
        "method": {"kind": "sweep", "trials": 30},
        "ours": {"config": json.loads(preset),
                 "runs": [run_of(10000, 2000.0), run_of(10001, 2600.0)],
                 **seed_stats([2000.0, 2600.0])},
        "sb3": {"settings": {**SB3_SETTINGS, "norm_reward": False},
                "runs": [run_of(10000, 300.0), run_of(10001, 100.0, **{"from": "elsewhere"})]},
        "sb3_norm_reward": {"settings": SB3_SETTINGS,
                            "runs": [run_of(10000, 50.0), run_of(10001, 80.0)]},
        "rllib": {"settings": None, "runs": []},
        "anchors": {"zoo": "582 +- 128"},
        "preset_check": {"seed": 20000, "eval_return_last": 1900.0, "within_one_std": True},
    }
    record = results / f"returns_{ENV}.json"
    record.write_text(json.dumps(old))
    return record, old, preset


def test_peers_only_records_a_peer_seed_added_by_hand_and_keeps_our_side(
        tmp_path, monkeypatch, capsys, committed):
    record, old, preset = committed
    presets, work, settings = mujoco_returns.PRESETS, tmp_path / "work", SB3_SETTINGS
    added = work / "sb3_norm_reward" / ENV / "seed_10002.json"  # run by hand, as documented
    added.parent.mkdir(parents=True)
    added.write_text(json.dumps({**run_of(10002, 170.0), "env_id": ENV, "settings": settings}))

    monkeypatch.setattr(sys, "argv", ["mujoco_returns.py", "--env", ENV, "--work-dir",
                                      str(work), "--peers-only", "--sb3-seeds", "2"])
    mujoco_returns.main()
    new = json.loads(record.read_text())
    for key in set(old) - {"sb3", "sb3_norm_reward", "rllib"}:
        assert new[key] == old[key], key  # our side, the check and the sweep's method stay
    assert (presets / f"{ENV}.json").read_text() == preset  # no preset written
    assert not (work / f"check_{ENV}").exists() and not (work / f"returns_{ENV}").exists()

    norm = new["sb3_norm_reward"]
    assert [r["seed"] for r in norm["runs"]] == [10000, 10001, 10002]
    assert [r.get("from") for r in norm["runs"]] == [str(record), str(record), None]
    values = [50.0, 80.0, 170.0]
    assert norm["n"] == 3 and norm["worst"] == 50.0
    assert norm["mean"] == pytest.approx(sum(values) / 3)
    assert norm["std"] == pytest.approx(statistics.stdev(values))
    assert norm["settings"] == settings
    sb3 = new["sb3"]  # the committed runs come back as they were, each saying where from
    assert [(r["seed"], r["eval_return_last"], r["from"]) for r in sb3["runs"]] == [
        (10000, 300.0, str(record)), (10001, 100.0, "elsewhere")]
    assert sb3["mean"] == pytest.approx(200.0) and new["rllib"]["n"] == 0
    assert "sb3: 200; sb3_norm_reward: 100;" in capsys.readouterr().out


def test_peers_only_refuses_an_env_with_no_record_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(mujoco_returns, "RESULTS", tmp_path / "results")
    work = tmp_path / "work"
    code, err = _main(["--env", ENV, "--work-dir", str(work), "--peers-only"], capsys,
                      monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "--peers-only: no record" in err
    assert not work.exists() and not (tmp_path / "results").exists()
    code, err = _main(["--env", ENV, "--peers-only", "--transfer-from", "x.json"], capsys,
                      monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "--transfer-from" in err


def test_check_only_trains_the_missing_check_seeds_and_keeps_the_rest(
        tmp_path, monkeypatch, capsys, committed):
    record, old, preset = committed
    work = tmp_path / "work"
    argv = ["mujoco_returns.py", "--env", ENV, "--work-dir", str(work), "--check-only",
            "--check-seeds", "3", "--jobs", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    mujoco_returns.main()
    new = json.loads(record.read_text())
    for key in set(old) - {"preset_check"}:
        assert new[key] == old[key], key  # our side, the peers and the sweep's method stay
    assert (mujoco_returns.PRESETS / f"{ENV}.json").read_text() == preset
    assert not (work / f"check_{ENV}").exists()  # seed 20000 is the record's, not trained

    got = {s: json.loads((work / f"check_{ENV}_{s}" / "summary.json").read_text())
           for s in (20001, 20002)}
    assert all(g["env_steps"] >= 1024 and g["config"]["seed"] == s for s, g in got.items())
    chk = new["preset_check"]
    values = [1900.0, got[20001]["eval_return_mean"], got[20002]["eval_return_mean"]]
    assert [(r["seed"], r["eval_return_last"], r.get("from")) for r in chk["runs"]] == [
        (20000, 1900.0, str(record)), (20001, values[1], None), (20002, values[2], None)]
    # a new run says what ran it: the seed fixes a run on that kind of CPU only
    assert all(r["machine"]["torch_cpu"] and r["machine"]["cpus"] for r in chk["runs"][1:])
    # the one-seed check is as it was, and says how to train all three
    assert (chk["seed"], chk["eval_return_last"], chk["within_one_std"]) == (20000, 1900.0, True)
    assert chk["command"] == (f"python -m a2c_ray.train --config a2c_ray/presets/{ENV}.json "
                              f"--seed 20000 20001 20002 --out runs/check_{ENV}")
    over = chk["over_seeds"]
    assert {k: over[k] for k in ("mean", "std", "sem", "worst", "iqm", "n")} == pytest.approx(
        seed_stats(values))
    gap = 2300.0 - statistics.mean(values)  # the test mean, 2000 and 2600, less theirs
    se = (old["ours"]["sem"] ** 2 + statistics.stdev(values) ** 2 / 3) ** 0.5
    assert over["test_mean_minus_mean"] == pytest.approx(gap)
    assert over["se_of_difference"] == pytest.approx(se)
    assert over["within_two_se"] == (abs(gap) <= 2 * se)
    assert f"seeds 20000 to 20002: {over['mean']:.0f}" in capsys.readouterr().out

    # a run the record holds is not trained again: from the first record, with seed 20001
    # stopped after its last checkpoint and 20003 before its first, 20001 resumes to the same
    # return, 20003 starts again and 20002 is not touched
    record.write_text(json.dumps(old))
    (work / f"check_{ENV}_20001" / "summary.json").unlink()
    stale = work / f"check_{ENV}_20003"
    stale.mkdir()
    (stale / "progress.csv").write_text("env_steps\n512\n")
    kept = (work / f"check_{ENV}_20002" / "summary.json").stat().st_mtime_ns
    monkeypatch.setattr(sys, "argv", [*argv[:-3], "4", "--jobs", "2"])
    mujoco_returns.main()
    again = json.loads(record.read_text())["preset_check"]
    assert [r["seed"] for r in again["runs"]] == [20000, 20001, 20002, 20003]
    assert again["runs"][:3] == chk["runs"]
    assert (work / f"check_{ENV}_20002" / "summary.json").stat().st_mtime_ns == kept
    assert "starting it again" in capsys.readouterr().out
    assert (stale / "summary.json").exists()
    # fewer --check-seeds than the record holds: nothing recorded is dropped
    monkeypatch.setattr(sys, "argv", argv[:-4])
    mujoco_returns.main()
    assert [r["seed"] for r in json.loads(record.read_text())["preset_check"]["runs"]] == [
        20000, 20001, 20002, 20003]


def test_check_only_refuses_bad_input_in_one_line_and_writes_nothing(
        tmp_path, capsys, monkeypatch, committed):
    record, old, _ = committed
    work = tmp_path / "work"
    for argv, says in (
            (["--check-seeds", "0"], "--check-seeds 0: give 1 or more seeds"),
            (["--check-only", "--peers-only"], "not allowed with argument"),
    ):
        code, err = _main(["--env", ENV, "--work-dir", str(work), *argv], capsys, monkeypatch)
        assert code == 2 and err.count("\n") == 1 and says in err, err
    preset = mujoco_returns.PRESETS / f"{ENV}.json"
    preset.write_text(json.dumps({**old["ours"]["config"], "learning_rate": 0.5}))
    code, err = _main(["--env", ENV, "--work-dir", str(work), "--check-only"], capsys,
                      monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "is not the configuration" in err
    assert json.loads(record.read_text()) == old and not work.exists()
    record.unlink()
    code, err = _main(["--env", ENV, "--work-dir", str(work), "--check-only"], capsys,
                      monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "--check-only: no record" in err
    assert not work.exists()
