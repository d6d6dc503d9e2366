"""Learning on real tasks, with the default configuration (slow; CI runs them)."""

import json
import subprocess
import sys

import pytest

from a2c_ray import A2CConfig, train


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_cartpole_reaches_475_within_100k_steps(tmp_path, seed):
    # Through the CLI, exactly as the README runs it.
    out = tmp_path / "cp"
    r = subprocess.run([sys.executable, "-m", "a2c_ray.train", "--env", "CartPole-v1",
                        "--total-steps", "100000", "--seed", str(seed), "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] <= 100_000 + 256
    assert summary["eval_return_mean"] >= 475, summary


@pytest.mark.slow
def test_inverted_pendulum_reaches_1000_within_200k_steps():
    summary = train(A2CConfig(env_id="InvertedPendulum-v5", total_env_steps=200_000, seed=0),
                    show_progress=False)
    assert summary["eval_return_mean"] >= 1000, summary


@pytest.mark.slow
def test_your_own_network_learns_cartpole_within_100k_steps():
    summary = train(A2CConfig(env_id="CartPole-v1", total_env_steps=100_000, seed=0,
                              network="tests.networks:layer_norm_mlp"), show_progress=False)
    assert summary["eval_return_mean"] >= 475, summary
