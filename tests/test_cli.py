"""The train CLI: outputs per the contract, and one-line errors with exit code 2."""

import json
import shutil
import subprocess
import sys

import pytest

TRAIN = [sys.executable, "-m", "a2c_ray.train"]
SMALL = ["--total-steps", "512", "--set", "eval_episodes=2"]


def run(args, cwd=None):
    return subprocess.run(TRAIN + args, capture_output=True, text=True, cwd=cwd, timeout=300)


def test_train_writes_contract_outputs_and_resumes(tmp_path):
    out = tmp_path / "cp"
    r = run(["--env", "CartPole-v1", "--seed", "3", "--out", str(out), *SMALL])
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"env_id", "seed", "env_steps", "eval_return_mean",
                            "eval_return_std", "wall_s", "env_steps_per_s", "config"}
    assert summary["seed"] == 3 and summary["config"]["seed"] == 3
    header = (out / "progress.csv").read_text().splitlines()[0].split(",")
    assert header[:11] == ["env_steps", "episode_return_mean", "episode_len_mean",
                           "eval_return_mean", "policy_loss", "value_loss", "entropy",
                           "explained_variance", "grad_norm", "env_steps_per_s", "time_total_s"]
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tensorboard").iterdir())
    assert (out / "checkpoint" / "latest").is_file()

    r = run(["--out", str(out), "--resume", "--max-steps", "1024"])
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "summary.json").read_text())["env_steps"] == 1024
    assert len((out / "progress.csv").read_text().splitlines()) == 1 + 4

    # Without --max-steps the saved budget holds (not the default's million steps).
    r = run(["--out", str(out), "--resume", "--set", "eval_episodes=2"])
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "summary.json").read_text())["env_steps"] == 1024


@pytest.mark.parametrize("command", ["a2c_ray.train", "a2c_ray.tune"])
def test_an_observation_space_not_supported_exits_2_naming_it_before_ray(tmp_path, command):
    out = ["--out", str(tmp_path / "run")] if command == "a2c_ray.train" else [
        "--storage-path", str(tmp_path), "--name", "text"]
    r = subprocess.run([sys.executable, "-m", command, "--env", "tests.toy_envs:TextObs-v0",
                        *out], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "observation space Text(" in r.stderr and "expected one of Box (a uint8" in r.stderr
    assert "Dict or Tuple" in r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, no Ray started in it


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A finished 512-step CartPole-v1 run (seed 3), trained in-process; copy before use."""
    from a2c_ray import A2CConfig, train

    out = tmp_path_factory.mktemp("small") / "cp"
    train(A2CConfig(seed=3, total_env_steps=512, eval_episodes=2), out, show_progress=False)
    return out


@pytest.mark.parametrize("args,named", [
    (["--set", "learning_rate=0.01"], "learning_rate is 0.001 in the run at"),
    (["--env", "Acrobot-v1"], "env_id is 'CartPole-v1' in the run at"),
    (["--seed", "4"], "seed is 3 in the run at"),
    (["--num-rollout-workers", "2"], "num_rollout_workers is 0 in the run at"),
], ids=["set", "env", "seed", "workers"])
def test_resume_refuses_a_changed_config(tmp_path, small_run, args, named):
    out = shutil.copytree(small_run, tmp_path / "cp")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    r = run(["--out", str(out), "--resume", *args])
    assert r.returncode == 2 and named in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("damage", ["learner.pt", "arrays.npz", "state.json", "config.json"])
def test_damaged_checkpoint_exits_2_naming_the_file(tmp_path, small_run, damage):
    out = shutil.copytree(small_run, tmp_path / "cp")
    latest = out / "checkpoint" / (out / "checkpoint" / "latest").read_text().strip()
    (latest / damage).write_bytes(b"\x80\x04garbage")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for cmd in (TRAIN + ["--out", str(out), "--resume", "--max-steps", "1024"],
                [sys.executable, "-m", "a2c_ray.evaluate", "--checkpoint", str(out)]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and f"{damage} is damaged" in r.stderr, \
            r.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_config_file_and_overrides(tmp_path):
    cfg = tmp_path / "best_config.json"
    cfg.write_text(json.dumps({"env_id": "CartPole-v1", "gamma": 0.95, "layer_size": 16}))
    out = tmp_path / "run"
    r = run(["--config", str(cfg), "--set", "layer_size=32", "--out", str(out), *SMALL])
    assert r.returncode == 0, r.stderr
    config = json.loads((out / "summary.json").read_text())["config"]
    assert (config["gamma"], config["layer_size"]) == (0.95, 32)


TIMING = ["env_steps_per_s", "time_total_s", "eval_time_s"]  # the wall clock's columns


def _progress(run_dir):
    import pandas as pd

    return pd.read_csv(run_dir / "progress.csv").drop(columns=TIMING)


def test_several_seeds_train_at_once_each_as_if_alone(tmp_path):
    import pandas as pd

    args = ["--env", "CartPole-v1", "--total-steps", "3072", "--set", "eval_episodes=2",
            "--set", "eval_interval_steps=1024", "--set", "checkpoint_interval=4"]
    r = run([*args, "--seed", "0", "1", "2", "--out", str(tmp_path / "m")])
    assert r.returncode == 0, r.stderr
    combined = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert combined["seeds"] == [0, 1, 2]
    finals = [json.loads((tmp_path / "m" / f"seed_{s}" / "summary.json").read_text())[
        "eval_return_mean"] for s in (0, 1, 2)]
    assert combined["eval_return_mean"] == pytest.approx(sum(finals) / 3)
    assert combined["eval_return_worst"] == min(finals)
    lo, hi = combined["iqm_ci95"]
    assert lo <= combined["eval_return_iqm"] <= hi
    alone = run([*args, "--seed", "1", "--out", str(tmp_path / "alone")])
    assert alone.returncode == 0, alone.stderr
    pd.testing.assert_frame_equal(_progress(tmp_path / "m" / "seed_1"),
                                  _progress(tmp_path / "alone"))
    # one after another, as before: the same runs
    seq = run([*args, "--seed", "0", "1", "2", "--out", str(tmp_path / "seq"), "--sequential"])
    assert seq.returncode == 0, seq.stderr
    for s in (0, 2):
        pd.testing.assert_frame_equal(_progress(tmp_path / "m" / f"seed_{s}"),
                                      _progress(tmp_path / "seq" / f"seed_{s}"))
    # resumed together to a larger budget, each from its own checkpoint, as a seed alone
    more = run([*args, "--total-steps", "4096", "--seed", "0", "1", "2", "--out",
                str(tmp_path / "m"), "--resume"])
    assert more.returncode == 0, more.stderr
    again = run([*args, "--total-steps", "4096", "--seed", "1", "--out", str(tmp_path / "alone"),
                 "--resume"])
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(_progress(tmp_path / "m" / "seed_1"),
                                  _progress(tmp_path / "alone"))


BAD = [  # each kind of error once through the command; the config's own rules: test_config.py
    (["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["--env", "no_such_module:Env-v0"], "no_such_module:Env-v0"),
    (["--env", "CartPole-v1", "--set", "no_such_key=1"], "no_such_key"),
    (["--env", "CartPole-v1", "--total-steps", "ten"], "ten"),
    (["--env", "CartPole-v1", "--total-steps", "0"], "total_env_steps=0"),
    (["--config", "missing.json"], "missing.json"),
    (["--env", "CartPole-v1", "--set", "network=no_such_module:mlp"], "network="),
    (["--env", "CartPole-v1", "--set", "use_sde=true"], "use_sde"),
    (["--env", "CartPole-v1", "--resume"], "no checkpoint"),
]


@pytest.mark.parametrize("args,named", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(tmp_path, args, named):
    out = tmp_path / "out"
    r = run([*args, "--out", str(out)], cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "error:" in lines[0] and named in lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists()  # nothing half-written


def test_existing_run_is_never_overwritten(tmp_path):
    out = tmp_path / "cp"
    assert run(["--env", "CartPole-v1", "--out", str(out), *SMALL]).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    r = run(["--env", "CartPole-v1", "--out", str(out), *SMALL])
    assert r.returncode == 2 and "--resume" in r.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_help_exits_0():
    r = run(["--help"])
    assert r.returncode == 0 and "--total-steps" in r.stdout
