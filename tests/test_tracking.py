"""Trackers and dashboards against the real libraries: MLflow, W&B offline, optuna-dashboard.

The UIs are served on loopback and looked at in headless Chromium, as a user would open them
(skipped where Chromium is missing).
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import shared_sweep
from tests.browser import dump_dom

mlflow = pytest.importorskip("mlflow")
wandb_proto = pytest.importorskip("wandb.proto.wandb_internal_pb2")

TUNE = [sys.executable, "-m", "a2c_ray.tune"]
TRAIN = [sys.executable, "-m", "a2c_ray.train"]
SPACE = {"learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True}}
# the W&B sweep: 2 trials, rungs at 2048 (grace) and the budget 6144
SWEEP = ["--num-samples", "2", "--env", "CartPole-v1", "--max-steps", "6144", "--grace-steps",
         "2048", "--seeds-per-trial", "2", "--set", "eval_episodes=2", "--sampler", "random",
         "--max-concurrent-trials", "1", "--confirm-top", "0"]
SMALL_TRAIN = ["--env", "CartPole-v1", "--max-steps", "2048", "--set", "eval_episodes=2",
               "--progress", "log"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _beside_python(tool: str) -> str:
    """A console script of this interpreter's environment, activated or not."""
    path = Path(sys.executable).parent / tool
    return str(path) if path.exists() else tool


def _serve(cmd: list[str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError(f"{cmd[0]} did not listen on {port}: {log.read_text()[-2000:]}")


def _text(url: str, tmp_path: Path) -> str:
    """The page's text once its JavaScript ran, in headless Chromium."""
    dom = dump_dom(url, tmp_path, "1400,900", budget_ms=20000, timeout=180)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def _wandb_runs(root: Path) -> dict[str, dict]:
    """W&B's offline runs under ``root``: each run's group, config and history rows.

    A run's .wandb file is a LevelDB-style log of protobuf records (W&B's own format since
    wandb-core): 7-byte header, 32 KiB blocks of records with a 7-byte header each.
    """
    runs = {}
    for path in root.glob("wandb/offline-run-*/run-*.wandb"):
        data, pos, buf = path.read_bytes(), 7, b""
        history, config, name, group = [], {}, None, None
        while pos + 7 <= len(data):
            left = 32768 - pos % 32768
            if left < 7:
                pos += left
                continue
            length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
            chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
            if kind in (2, 3):  # first and middle parts of a record
                buf = chunk if kind == 2 else buf + chunk
                continue
            if kind not in (1, 4):
                continue
            record = wandb_proto.Record()
            record.ParseFromString(chunk if kind == 1 else buf + chunk)
            which = record.WhichOneof("record_type")
            if which == "history":
                history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                for i in record.history.item})
            elif which == "run":
                name, group = record.run.display_name, record.run.run_group
                config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        runs[name] = {"group": group, "config": config, "history": history}
    return runs


@pytest.fixture(scope="module")
def tracked_sweep(finished_sweep):
    """The suite's shared sweep (tests/shared_sweep.py), tracked in MLflow, its best trial
    re-trained on validation seeds: the tests here only read it."""
    return finished_sweep


NAME = shared_sweep.NAME


@pytest.mark.slow
def test_a_tracked_sweep_is_in_mlflow_trial_by_trial(tracked_sweep):
    client = mlflow.MlflowClient(tracked_sweep.mlflow_uri)
    experiment = client.get_experiment_by_name(NAME)
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    trials = [n for n in runs if n.startswith("run_trial_")]
    assert len(trials) == shared_sweep.NUM_SAMPLES and f"{NAME} summary" in runs
    for name in trials:
        run = runs[name]
        params = run.data.params
        assert params["env_id"] == "CartPole-v1" and "learning_rate" in params  # whole config
        result = [json.loads(line) for line in
                  (tracked_sweep.path / name / "result.json").read_text().splitlines()]
        history = client.get_metric_history(run.info.run_id, "score")
        # every report with a score (once every seed was evaluated) at its env step
        scored = [row for row in result if row["score"] == row["score"]]
        assert [m.step for m in history] == [row["env_steps"] for row in scored]
        assert [m.value for m in history] == pytest.approx([row["score"] for row in scored])
        steps = client.get_metric_history(run.info.run_id, "env_steps")
        assert [m.step for m in steps] == [row["env_steps"] for row in result]
        assert not any(k.startswith("config/") for k in run.data.metrics)  # params, not metrics
        seeds = list(result[-1]["per_seed"])
        assert {f"per_seed/{s}/score" for s in seeds} <= set(run.data.metrics)
    summary = runs[f"{NAME} summary"]
    artifacts = {a.path for a in client.list_artifacts(summary.info.run_id)}
    assert {"summary.json", "best_config.json", "confirmation.json", "report.html"} <= artifacts
    assert summary.data.params["best_trial_id"] == json.loads(
        (tracked_sweep.path / "summary.json").read_text())["best_trial_id"]


@pytest.mark.slow
def test_the_mlflow_ui_shows_the_sweeps_runs(tracked_sweep, tmp_path):
    port = _free_port()
    server = _serve([_beside_python("mlflow"), "server", "--backend-store-uri",
                     tracked_sweep.mlflow_uri, "--host", "127.0.0.1",
                     "--port", str(port), "--workers", "1"], port, tmp_path / "mlflow.log")
    try:
        client = mlflow.MlflowClient(f"http://127.0.0.1:{port}")
        experiment = client.get_experiment_by_name(NAME)
        text = _text(f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}/runs",
                     tmp_path)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    trials = [d.name for d in tracked_sweep.path.glob("run_trial_*")]
    assert f"{NAME} summary" in text and all(t in text for t in trials), text[-3000:]


@pytest.mark.slow
def test_optuna_dashboard_shows_the_pruned_trials_and_their_env_steps(tracked_sweep, tmp_path):
    import optuna

    url = f"sqlite:///{tracked_sweep.path / 'optuna.db'}"
    study = optuna.load_study(study_name=NAME, storage=url)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "the sweep stopped no trial early"
    port = _free_port()
    server = _serve([_beside_python("optuna-dashboard"), url, "--host", "127.0.0.1", "--port",
                     str(port)], port, tmp_path / "dashboard.log")
    try:
        trial = pruned[0]
        text = _text(f"http://127.0.0.1:{port}/dashboard/studies/{study._study_id}/trials"
                     f"?numbers={trial.number}", tmp_path)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    assert f"{len(study.trials)} Trials" in text and "Pruned" in text, text[-3000:]
    shown = re.search(rf"Trial {trial.number} \(trial_id=\d+\) Pruned.*?Intermediate Values "
                      r"(.*?) Parameter", text)
    assert shown, text[-3000:]
    pairs = shown.group(1).split()
    steps = [int(s) for s in pairs[::2]]
    assert steps == sorted(trial.intermediate_values)  # keyed by env steps, not iterations
    assert max(steps) >= 2048


@pytest.mark.slow
def test_train_runs_in_mlflow_and_in_wandb_offline(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    r = subprocess.run([*TRAIN, *SMALL_TRAIN, "--seed", "0", "1", "--out",
                        str(tmp_path / "cp"), "--track", "mlflow"], capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("cp")
    runs = {x.info.run_name: x for x in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"seed_0", "seed_1"}
    for seed in (0, 1):
        run = runs[f"seed_{seed}"]
        assert run.data.params["seed"] == str(seed)
        rows = (tmp_path / "cp" / f"seed_{seed}" / "progress.csv").read_text().splitlines()[1:]
        history = client.get_metric_history(run.info.run_id, "episode_return_mean")
        assert [m.step for m in history] == [int(row.split(",")[0]) for row in rows]
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"summary.json"}

    wenv = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wb"),
            "WANDB_SILENT": "true", "WANDB_PROJECT": "a2c_ray_tests"}
    (tmp_path / "wb").mkdir()
    r = subprocess.run([*TRAIN, *SMALL_TRAIN, "--seed", "0", "--out", str(tmp_path / "cpw"),
                        "--track", "wandb"], capture_output=True, text=True, timeout=600,
                       env=wenv)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = _wandb_runs(tmp_path / "wb")
    assert set(runs) == {"seed_0"} and runs["seed_0"]["group"] == "cpw"
    run = runs["seed_0"]
    assert run["config"]["seed"] == 0
    rows = (tmp_path / "cpw" / "progress.csv").read_text().splitlines()[1:]
    assert [h["env_steps"] for h in run["history"]] == [int(r.split(",")[0]) for r in rows]


@pytest.mark.slow
def test_a_sweep_tracked_in_wandb_offline(tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wb"),
           "WANDB_SILENT": "true", "WANDB_PROJECT": "a2c_ray_tests"}
    (tmp_path / "wb").mkdir()
    r = subprocess.run([*TUNE, *SWEEP, "--search-space", str(space),
                        "--storage-path", str(tmp_path), "--name", "wbs", "--track", "wandb"],
                       capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = _wandb_runs(tmp_path / "wb")
    trials = {n: v for n, v in runs.items() if n.startswith("run_trial_")}
    assert len(trials) == 2 and "wbs summary" in runs
    for name, run in trials.items():
        assert run["group"] == "wbs"
        assert "env_id" in run["config"] and "learning_rate" in run["config"]
        result = [json.loads(line) for line in
                  (tmp_path / "wbs" / name / "result.json").read_text().splitlines()]
        assert [h["env_steps"] for h in run["history"]] == [row["env_steps"] for row in result]
        assert any(k.startswith("per_seed/") and k.endswith("/score") for k in run["history"][-1])


def _fake_missing(tmp_path: Path, name: str) -> dict[str, str]:
    shadow = tmp_path / "shadow" / name
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(f"raise ImportError('No module named {name}')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path / "shadow"), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize("command", ["train", "tune"])
@pytest.mark.parametrize("case", ["mlflow missing", "mlflow unreachable", "wandb not logged in"])
def test_a_tracker_that_cannot_work_is_one_line_and_exit_2_before_anything(tmp_path, case,
                                                                              command):
    kind = case.split()[0]
    if case == "mlflow missing":
        env = _fake_missing(tmp_path, "mlflow")
        named = "mlflow is not installed"
    elif case == "mlflow unreachable":
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_free_port()}"}
        named = "cannot be reached"
    else:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
        env.update(HOME=str(tmp_path), WANDB_MODE="online")
        named = "not logged in"
    out = tmp_path / "store"
    args = ([*TRAIN, "--env", "CartPole-v1", "--out", str(out / "run")] if command == "train"
            else [*TUNE, "--env", "CartPole-v1", "--storage-path", str(out)])
    r = subprocess.run([*args, "--track", kind], capture_output=True, text=True, timeout=180,
                       env=env, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and named in lines[0] and f"--track {kind}" in lines[0], r.stderr
    assert not out.exists()
