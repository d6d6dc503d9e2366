"""The shipped MuJoCo presets, the benchmark's search space, and the published results tables."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from a2c_ray.core.config import A2CConfig
from a2c_ray.tuning.space import load_search_space, space_point

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "a2c_ray" / "presets").glob("*.json"))
SPACE = ROOT / "benchmarks" / "search_space_mujoco.json"


def start_point(config: A2CConfig) -> dict:
    """The values a sweep starts from: the config, with the critic's lambda resolved."""
    return {**config.to_dict(), "td_lambda": config.critic_lambda}


def test_a_preset_for_each_benchmarked_env():
    assert {p.stem for p in PRESETS} >= {"HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"}


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_is_a_valid_config_inside_the_benchmark_space(path):
    config = A2CConfig.from_json(path)
    assert config.env_id == path.stem and config.total_env_steps == 1_000_000
    assert config.normalize_obs
    space_point(load_search_space(SPACE), start_point(config))  # so a sweep can start from it


def test_mujoco_start_point_is_inside_the_benchmark_space():
    config = A2CConfig.from_json(ROOT / "benchmarks" / "mujoco_start.json")
    space_point(load_search_space(SPACE), start_point(config))


def test_preset_trains_from_the_command_line(tmp_path):
    preset = PRESETS[0]
    r = subprocess.run([sys.executable, "-m", "a2c_ray.train", "--config", str(preset),
                        "--total-steps", "3000", "--set", "eval_episodes=1", "--out",
                        str(tmp_path / "run"), "--progress", "log"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["env_id"] == preset.stem and summary["env_steps"] >= 3000


def test_readme_results_table_is_the_benchmark_report():
    r = subprocess.run([sys.executable, "benchmarks/returns/mujoco_returns.py", "--report",
                        "--figure", "-"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("|")]
    page = (ROOT / "docs" / "returns.md").read_text()
    assert len(rows) >= 5 and all(row in page for row in rows)
    # the README's short table: each env's preset on the seeds that chose nothing, as the report
    # has them, over the seed range its header names
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    header = next(ln for ln in lines if ln.startswith("| env | a2c_ray preset, seeds"))
    seeds = re.search(r"seeds (\d+ to \d+)", header).group(1)
    short = [ln for ln in lines if re.match(r"\| \w+-v5 \|", ln)]
    assert len(short) == 4
    for line in short:
        env, mean, worst, iqm = (c.strip() for c in line.strip("|").split("|"))
        row = next(r for r in rows if r.startswith(f"| {env} |"))
        assert f"seeds {seeds}: {mean}, worst {worst}" in row, (line, row)
        record = json.loads((ROOT / "benchmarks" / "results" / f"returns_{env}.json").read_text())
        assert iqm == f"{record['preset_check']['over_seeds']['iqm']:.0f}", line
