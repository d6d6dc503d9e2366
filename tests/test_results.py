"""Results for people: loaders, notebooks, evaluate with GIFs, the HTML report."""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from a2c_ray.results import (
    export_parquet,
    load_confirmation,
    load_curves,
    load_trials,
    tune_trial_states,
)
from tests import shared_sweep
from tests.notebooks import NOTEBOOKS, run_notebook

ROOT = Path(__file__).resolve().parents[1]
SPACE = shared_sweep.SPACE
TRIALS = shared_sweep.NUM_SAMPLES


@pytest.fixture(scope="module")
def sweep(finished_sweep):
    """The suite's shared sweep (tests/shared_sweep.py): its trials of two seeds, the best
    re-trained on 2 validation seeds, the pick on 2 test seeds; the tests here only read it."""
    return finished_sweep.path


@pytest.mark.slow
def test_load_trials_one_typed_row_per_trial(sweep):
    trials = load_trials(sweep)
    assert len(trials) == TRIALS and trials["trial_id"].is_unique
    assert set(trials["status"]) == {"TERMINATED"}
    assert {f"config/{k}" for k in SPACE} | {"config/env_id"} <= set(trials.columns)
    assert pd.api.types.is_float_dtype(trials["config/learning_rate"])
    assert pd.api.types.is_integer_dtype(trials["env_steps"])
    assert (trials["config/env_id"] == "CartPole-v1").all()
    confirm = load_trials(sweep / "confirm")
    # validation seeds: they pick; test seeds only measure the pick
    assert len(confirm) == 2 and set(confirm["config/seed"]) == {30000, 30001}
    assert {"score", "score_std", "score_min"} <= set(trials.columns)
    confirmation = json.loads((sweep / "confirmation.json").read_text())[0]
    assert confirmation["seeds"] == [30000, 30001] and len(confirmation["returns"]) == 2
    assert confirmation["seed_set"] == "validation"
    assert confirmation["mean"] == pytest.approx(np.mean(confirmation["returns"]))
    assert confirmation["worst"] == min(confirmation["returns"])
    assert {"sem", "iqm", "std", "config"} <= set(confirmation)
    # the pick, and only it, on the test seeds, which chose nothing
    test = json.loads((sweep / "test.json").read_text())
    assert test["seeds"] == [10000, 10001] and test["seed_set"] == "test"
    assert test["sweep_trial_id"] == confirmation["sweep_trial_id"]
    assert test["chosen_on"] == "validation seeds 30000..30001"
    assert test["config"] == confirmation["config"]
    assert set(load_trials(sweep / "test")["config/seed"]) == {10000, 10001}
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["test"]["mean"] == pytest.approx(np.mean(test["returns"]))
    # the reader a notebook uses: one row per configuration and seed set, intervals beside
    fresh = load_confirmation(sweep)
    assert list(fresh["seed_set"]) == ["validation", "test"] and list(fresh["rank"]) == [1, 1]
    assert fresh["iqm_lo"].iloc[1] == test["iqm_ci95"][0]
    assert fresh["returns"].iloc[0] == confirmation["returns"]
    for row in fresh.itertuples():
        assert row.mean_lo <= row.mean <= row.mean_hi and row.iqm_lo <= row.iqm <= row.iqm_hi


@pytest.mark.slow
def test_tunes_private_experiment_state_is_still_read(sweep):
    # core.tune_state is the one reader of Tune's experiment_state-*.json, a private
    # format: if a Ray upgrade changes it, this fails instead of every status going missing.
    states = tune_trial_states(str(sweep))
    trial_dirs = {Path(d).name for d in load_trials(sweep)["trial_dir"]}
    assert states is not None and set(states) == trial_dirs
    for state in states.values():
        assert state["status"] == "TERMINATED" and state["trial_id"]
        assert set(state["params"]) == set(SPACE) | {"seeds"}  # and the training seeds
        # wall-clock times, the trial's start before its last result (benchmarks/cost/sweep_cost.py)
        assert 1.7e9 < state["started_at"] < state["last_result_at"] < time.time()


@pytest.mark.slow
def test_load_curves_long_form(sweep, tmp_path):
    curves = load_curves(sweep)
    trials = load_trials(sweep).set_index("trial_id")
    assert list(curves.columns[:3]) == ["trial_id", "seed", "env_steps"]
    assert set(curves["trial_id"]) == set(trials.index)
    assert {"episode_return_mean", "eval_return_mean", "policy_loss", "score"} <= set(
        curves.columns)
    for (tid, seed), g in curves.groupby(["trial_id", "seed"]):
        assert g["env_steps"].is_monotonic_increasing and g["env_steps"].is_unique
        assert seed in list(trials.loc[tid, "config/seeds"])
    for tid, g in curves.groupby("trial_id"):  # one row per seed and report
        assert g["seed"].nunique() == 2
        last = g[g["env_steps"] == g["env_steps"].max()]
        assert len(last) == 2
        # the default score: the seeds' mean less its standard error
        assert trials.loc[tid, "score"] == pytest.approx(last["score"].mean() - last["score"].sem())
    trials_pq, curves_pq = export_parquet(sweep, tmp_path)
    assert len(pd.read_parquet(trials_pq)) == TRIALS
    assert len(pd.read_parquet(curves_pq)) == len(curves)


@pytest.mark.slow
def test_loaders_read_a_running_sweep(sweep, tmp_path):
    running = tmp_path / "running"
    shutil.copytree(sweep, running, ignore=shutil.ignore_patterns("checkpoint", "confirm"))
    trial = next(running.glob("run_trial_*"))
    with open(trial / "result.json", "a") as f:
        f.write('{"env_steps": 99999, "trunc')  # a line still being written
    with open(trial / "progress.csv", "a") as f:
        f.write("0.1,0.2,")
    assert len(load_trials(running)) == TRIALS
    assert len(load_curves(running)) == len(load_curves(sweep))


def test_load_train_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "a2c_ray.train", "--env", "CartPole-v1",
                        "--total-steps", "512", "--seed", "0", "1", "--out", str(tmp_path / "m"),
                        "--set", "eval_episodes=2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    trials = load_trials(tmp_path / "m")
    assert sorted(trials["trial_id"]) == ["seed_0", "seed_1"]
    assert sorted(trials["config/seed"]) == [0, 1]


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_execute(sweep, tmp_path, monkeypatch, name):
    outputs = run_notebook(name, sweep, tmp_path, monkeypatch)
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert ("image/gif" if name == "policy" else "image/png") in kinds


@pytest.mark.slow
def test_evaluate_writes_an_animated_gif(sweep, tmp_path):
    gif = tmp_path / "best.gif"
    r = subprocess.run([sys.executable, "-m", "a2c_ray.evaluate", "--checkpoint", str(sweep),
                        "--episodes", "3", "--seed", "7", "--gif", str(gif), "--json"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["episodes"] == 3 and len(result["returns"]) == 3
    assert result["protocol"] == "3 deterministic episodes, reset seeds 7 to 9"
    frames = iio.imread(gif)  # [frames, H, W, 3]
    # CartPole renders 600 x 400, mostly white: cropped to the band where the cart moves
    assert frames.shape[0] > 10 and frames.shape[2:] == (600, 3) and frames.shape[1] < 300
    assert (frames[0] != frames[-1]).any()


@pytest.mark.slow
def test_evaluate_by_default_repeats_the_runs_own_evaluation(sweep):
    from a2c_ray.evaluate import evaluate
    from a2c_ray.results import best_trials

    best = best_trials(sweep).iloc[0]  # the confirmed configuration's sweep trial
    result = evaluate(sweep)
    assert result["checkpoint"].startswith(str(best["trial_dir"]))
    assert result["episodes"] == 2 and result["protocol"].endswith("the run's own evaluation")
    # a trial of several seeds: the first seed's policy, as that seed last evaluated it
    first = list(best["config/seeds"])[0]
    assert result["checkpoint"].endswith(f"seed-{first}")
    curves = load_curves(sweep)
    mine = curves[(curves["trial_id"] == best["trial_id"]) & (curves["seed"] == first)]
    assert result["return_mean"] == pytest.approx(mine["eval_return_last"].iloc[-1], abs=1e-6)


@pytest.mark.slow
def test_results_cli_prints_metric_and_searched_fields_best_first(sweep):
    r = subprocess.run([sys.executable, "-m", "a2c_ray.results", str(sweep)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.strip().splitlines()
    assert header.split() == ["trial_id", "status", "env_steps", "score", "score_std",
                              "score_min", *SPACE]  # no constants, no config/ prefix
    assert "..." not in r.stdout and len(rows) == TRIALS
    values = [float(row.split()[3]) for row in rows]
    assert values == sorted(values, reverse=True)


def test_results_cli_reads_one_train_run(tmp_path):
    out = tmp_path / "cp"
    subprocess.run([sys.executable, "-m", "a2c_ray.train", "--env", "CartPole-v1",
                    "--total-steps", "512", "--out", str(out), "--set", "eval_episodes=2"],
                   check=True, capture_output=True, timeout=300)
    r = subprocess.run([sys.executable, "-m", "a2c_ray.results", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:4] == ["trial_id", "status", "env_steps", "eval_return_mean"]
    assert r.stdout.split()[4:6] == ["cp", "TERMINATED"]
    empty = subprocess.run([sys.executable, "-m", "a2c_ray.results", str(tmp_path / "cp" /
                                                                       "tensorboard")],
                           capture_output=True, text=True, timeout=120)
    assert empty.returncode == 2 and "holds no sweep and no train run" in empty.stderr


@pytest.mark.slow
def test_figures_plot_data_with_labels(sweep):
    from a2c_ray.results.analysis import seed_bands_figure, top_curves_figure

    for fig in (top_curves_figure(str(sweep)), seed_bands_figure(str(sweep))):
        for ax in fig.axes:
            assert ax.get_xlabel() == "env steps" and ax.get_ylabel()
            steps = {x for line in ax.get_lines() for x in line.get_xdata()}
            assert len(steps) > 1  # a curve, not a sliver at one env-step value


@pytest.mark.slow
def test_param_importances_weigh_each_searched_field_the_same_every_time(sweep):
    from a2c_ray.results.analysis import param_importances

    imp = param_importances(str(sweep))
    assert set(imp.index) == set(SPACE)
    assert (imp >= 0).all() and imp.sum() == pytest.approx(1.0)
    assert imp.equals(param_importances(str(sweep)))  # no unseeded forest: the same figures


def test_evaluate_mujoco_gif_and_bad_checkpoint(tmp_path):
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "a2c_ray.train", "--env", "InvertedPendulum-v5",
                    "--total-steps", "512", "--out", str(out), "--set", "eval_episodes=1"],
                   check=True, capture_output=True, timeout=300)
    gif = tmp_path / "ip.gif"
    r = subprocess.run([sys.executable, "-m", "a2c_ray.evaluate", "--checkpoint", str(out),
                        "--episodes", "2", "--gif", str(gif), "--size", "96"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    frames = iio.imread(gif)
    assert frames.shape[0] > 10 and frames.shape[1:] == (96, 96, 3)
    bad = subprocess.run([sys.executable, "-m", "a2c_ray.evaluate", "--checkpoint",
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert str(tmp_path) in bad.stderr


@pytest.mark.slow
def test_report_is_one_self_contained_html(sweep, tmp_path):
    out = tmp_path / "report.html"
    r = subprocess.run([sys.executable, "-m", "a2c_ray.report", str(sweep), "--out", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) >= 6  # curves, spread, confirmation, profiles, importances, GIF
    assert all(s.startswith("data:image/") for s in sources)
    assert "data:image/gif;base64," in page and "Best configuration" in page
    assert "picked on validation seeds" in page  # the sweep ran --confirm-top
    assert "performance profile" in page and "iqm_lo" in page  # intervals, profiles
    assert "2 training seeds" in page  # what the score is
    assert "{'TERMINATED'" not in page  # statuses in words, not a Python dict
    assert not re.search(r'(href|src)="(?!data:)', page)  # nothing outside the file
    assert _overflow_at_1280px(out, tmp_path) <= 0


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _overflow_at_1280px(page: Path, tmp_path: Path) -> int:
    """How many pixels the page is wider than a 1280-pixel window, in headless Chromium."""
    if CHROMIUM is None:
        pytest.skip("needs Chromium (apt-get install chromium), as .ci/run installs it")
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", (
        "<script>document.body.dataset.overflow = document.documentElement.scrollWidth - "
        "document.documentElement.clientWidth;</script></body>")))
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,900",
                        "--dump-dom", probe.as_uri()],
                       capture_output=True, text=True, timeout=120)
    found = re.search(r'data-overflow="(-?\d+)"', r.stdout)
    assert found, r.stderr[-2000:]
    return int(found.group(1))
