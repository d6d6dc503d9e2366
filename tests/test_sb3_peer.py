"""The side-by-side benchmarks' runs go on after a stop: the SB3 peer's runner
(benchmarks/returns/sb3_a2c.py) from its checkpoint, the peak memory over every part.

The Atari rows of benchmarks/returns/ take hours a seed; a run cut off by the end of a
machine's session resumes on the next one. Real SB3, a real CartPole with VecNormalize.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.returns import sb3_a2c
from benchmarks.returns.side_by_side import run_logged

ROOT = Path(__file__).resolve().parents[1]


def test_a_run_saves_itself_after_an_evaluation_and_the_next_goes_on_from_there(tmp_path):
    ckpt = tmp_path / "ckpt"
    first = sb3_a2c.run("CartPole-v1", 5, 1_000, 500, 1, checkpoint=ckpt)
    state = json.loads((ckpt / "state.json").read_text())
    # the evaluation at 500 saved the run at the next rollout's start; the one at 1,000 had
    # no rollout after it, so the checkpoint holds the run at 500
    assert [p["env_steps_to"] for p in state["parts"]] == [500]
    assert state["curve"][0][:2] == [500, first["curve"]["eval_return"][0]]
    # the files of the run at 500, and no others
    assert sorted(f.name for f in ckpt.iterdir()) == [
        "model_500.zip", "state.json", "vecnormalize_500.pkl"]
    with open(ckpt / "vecnormalize_500.pkl", "rb") as f:  # VecNormalize's own pickle
        stats = pickle.load(f)
    assert stats.obs_rms.count == pytest.approx(501)  # part one: its steps and first reset

    second = sb3_a2c.run("CartPole-v1", 5, 1_500, 500, 1, checkpoint=ckpt)
    assert second["env_steps"] == 1_500
    assert [(p["env_steps_from"], p["env_steps_to"]) for p in second["parts"]] == [
        (0, 500), (500, 1_500)]
    assert all(p["env_steps_per_s"] > 0 for p in second["parts"])
    # the curve goes on from the saved one: the point at 500 is the first run's
    assert second["curve"]["env_steps"] == [500, 1_000, 1_500]
    assert second["curve"]["eval_return"][0] == first["curve"]["eval_return"][0]
    again = json.loads((ckpt / "state.json").read_text())
    assert [p["env_steps_to"] for p in again["parts"]] == [500, 1_000]
    assert again["files"]["model"] == "model_1000.zip"
    assert sorted(f.name for f in ckpt.iterdir()) == [
        "model_1000.zip", "state.json", "vecnormalize_1000.pkl"]
    with open(ckpt / "vecnormalize_1000.pkl", "rb") as f:
        stats = pickle.load(f)
    # the statistics went on from part one's: its 501, the resumed part's reset and 500 steps
    assert stats.obs_rms.count == pytest.approx(1_002)


def test_a_checkpoint_of_another_run_is_refused_in_one_line(tmp_path):
    ckpt = tmp_path / "ckpt"
    sb3_a2c.run("CartPole-v1", 5, 600, 500, 1, checkpoint=ckpt)
    before = (ckpt / "state.json").read_bytes()
    with pytest.raises(SystemExit, match="holds CartPole-v1 seed 5 --settings zoo-mujoco, not "
                                         "CartPole-v1 seed 6"):
        sb3_a2c.run("CartPole-v1", 6, 600, 500, 1, checkpoint=ckpt)
    assert (ckpt / "state.json").read_bytes() == before


def test_the_command_line_removes_its_checkpoint_once_the_json_is_written(tmp_path):
    out = tmp_path / "seed_0.json"
    subprocess.run([sys.executable, "-m", "benchmarks.returns.sb3_a2c", "--env", "CartPole-v1",
                    "--seed", "0", "--steps", "600", "--eval-every", "500", "--eval-episodes",
                    "1", "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    assert json.loads(out.read_text())["env_steps"] == 600
    assert not (tmp_path / "seed_0.ckpt").exists()


def test_the_peak_memory_of_a_run_is_kept_over_its_parts(tmp_path):
    log = tmp_path / "logs" / "a2c_ray_0.log"
    hold = [sys.executable, "-c", "import time; b = b'x' * 200_000_000; time.sleep(3)"]
    peak = run_logged(hold, log)
    assert 200_000_000 < peak == int(log.with_suffix(".peak").read_text())
    # a later part that needs less reports the run's peak, not its own
    assert run_logged([sys.executable, "-c", "import time; time.sleep(2.5)"], log) == peak
