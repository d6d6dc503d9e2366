"""FetchReachDense-v4 (gymnasium-robotics): a goal-conditioned Dict observation, for real.

gymnasium-robotics' Fetch envs need MuJoCo below 3.12, and the rest of the suite runs on
MuJoCo 4: these tests run in the robotics extra's own environment (README, "The tests"). They
skip where a Fetch env cannot be made, unless A2C_RAY_REQUIRE_ROBOTICS is set, as .ci/run sets
it where it runs them.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def _why_not() -> str | None:
    try:
        from a2c_ray.sampling.envs import make_env

        make_env("FetchReachDense-v4").close()
    except Exception as err:  # noqa: BLE001  (not installed, or a MuJoCo it fails on)
        return f"{type(err).__name__}: {err}"
    return None


if (why := _why_not()) is not None and not os.environ.get("A2C_RAY_REQUIRE_ROBOTICS"):
    pytest.skip(f"FetchReachDense-v4 cannot be made here ({why}); pip install -e "
                "'.[robotics]' in an environment of its own runs these", allow_module_level=True)


def test_fetch_observation_is_the_goals_and_the_state_in_sorted_key_order():
    from stable_baselines3.common.preprocessing import preprocess_obs
    from stable_baselines3.common.torch_layers import CombinedExtractor
    from stable_baselines3.common.utils import obs_as_tensor

    from a2c_ray.core.spaces import encode_obs, obs_dim
    from a2c_ray.sampling.envs import make_env

    env = make_env("FetchReachDense-v4")
    obs, _ = env.reset(seed=0)
    space = env.observation_space
    assert list(space.spaces) == ["achieved_goal", "desired_goal", "observation"]
    assert obs_dim(space) == 3 + 3 + 10
    ours = encode_obs(space, [obs])
    np.testing.assert_allclose(ours[0], np.concatenate(
        [obs["achieved_goal"], obs["desired_goal"], obs["observation"]]), rtol=1e-6)
    batch = {k: v[None] for k, v in obs.items()}
    theirs = CombinedExtractor(space)(preprocess_obs(obs_as_tensor(batch, "cpu"), space))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-6)
    env.close()


@pytest.mark.slow
def test_fetch_reach_learns_with_ray_rollout_actors_and_reports_its_success(tmp_path):
    """40k env steps on a Ray rollout actor, a2c_ray's defaults with observations normalised.

    benchmarks/returns/dict_obs.py's runs (in-process samplers, the same batches) evaluated a
    success rate of 0.9 or more from 20k to 40k env steps on, 1.0 on 5 of 5 seeds from 40k.
    """
    out = tmp_path / "fetch"
    r = subprocess.run([sys.executable, "-m", "a2c_ray.train", "--env", "FetchReachDense-v4",
                        "--max-steps", "40000", "--seed", "0", "--set", "normalize_obs=true",
                        "--set", "eval_episodes=10", "--num-rollout-workers", "1", "--out",
                        str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["eval_success_rate"] >= 0.9, summary
    header, *rows = (out / "progress.csv").read_text().splitlines()
    column = header.split(",").index("success_rate")
    # the training episodes' rate too: lower, their actions are drawn (std 1 at the start)
    assert 0.0 < float(rows[-1].split(",")[column]) <= 1.0


def test_a_fetch_run_resumes_exactly(tmp_path):
    """The physics (mocap included), the goal and the RNG come back from a checkpoint: the
    resumed run's last row is the unbroken run's."""
    from a2c_ray import A2CConfig
    from tests.resume import assert_resumes_exactly

    k, batch = 4, 4 * 16
    cfg = A2CConfig(env_id="FetchReachDense-v4", envs_per_worker=4, rollout_length=16,
                    eval_episodes=1, eval_interval_steps=0, normalize_obs=True,
                    lr_schedule="constant", total_env_steps=(k + 1) * batch)
    assert_resumes_exactly(cfg, tmp_path, k)


def test_panda_reach_the_courses_own_task_trains_and_reports_its_success(tmp_path):
    """PandaReachDense-v3 (panda-gym, PyBullet): the Hugging Face Deep RL course's A2C task."""
    r = subprocess.run([sys.executable, "-m", "a2c_ray.train", "--env", "PandaReachDense-v3",
                        "--max-steps", "2048", "--set", "normalize_obs=true", "--set",
                        "eval_episodes=2", "--out", str(tmp_path / "run"), "--progress", "log"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["env_steps"] >= 2048 and summary["eval_success_rate"] in (0.0, 0.5, 1.0)
