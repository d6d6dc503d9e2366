"""Ray rollout actors: the same math as in-process sampling, and surviving faults."""

import csv
import os
import signal

import numpy as np
import pytest
import ray

from a2c_ray import A2CConfig, train
from a2c_ray.core.batch import Batch
from a2c_ray.learning.learner import Learner
from a2c_ray.run.actors import LocalSampler, RaySampler, trial_bundles
from a2c_ray.sampling.envs import EnvFailure
from tests.processes import descendants_named


@pytest.fixture(scope="module")
def local_ray():
    # "local": a new Ray even where a `ray start` cluster (or a stale record of one) exists
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def config(**kw):
    base = dict(env_id="CartPole-v1", num_rollout_workers=2, envs_per_worker=3,
                rollout_length=16, eval_episodes=2, eval_interval_steps=0,
                normalize_obs=True, normalize_reward=True)
    return A2CConfig(**{**base, **kw})


@pytest.mark.parametrize("extra", [
    {},
    # gSDE, its matrices redrawn mid-rollout; a user's network, sampled in torch, minibatches
    {"env_id": "Pendulum-v1", "use_sde": True, "sde_sample_freq": 5},
    {"network": "tests.networks:layer_norm_mlp", "epochs_per_rollout": 2, "minibatch_size": 40},
], ids=["mlp", "gsde", "own-network"])
def test_actor_batches_are_bit_identical_to_in_process(local_ray, extra):
    cfg = config(**extra)
    from a2c_ray.sampling.envs import env_spaces

    learners = [Learner(cfg, *env_spaces(cfg.env_id)) for _ in range(2)]
    samplers = [LocalSampler(cfg, 2), RaySampler(cfg)]
    try:
        for _ in range(4):
            batches = []
            for learner, sampler in zip(learners, samplers, strict=True):
                sampler.submit(learner.broadcast())
                batches.append(Batch.concat(sampler.collect()))
            local, remote = batches
            for key in ("obs", "actions", "rewards", "terminated", "truncated", "last_obs",
                        "final_idx", "final_obs", "episode_returns", "episode_lengths"):
                np.testing.assert_array_equal(getattr(local, key), getattr(remote, key),
                                              err_msg=key)
            m_local, m_remote = (lr.update(b) for lr, b in zip(learners, batches, strict=True))
            for key, value in m_local.items():
                assert value == m_remote[key] or (np.isnan(value) and np.isnan(m_remote[key]))
    finally:
        for s in samplers:
            s.close()


def rows(path):
    with open(path / "progress.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_learning_curves_identical_with_and_without_ray(local_ray, tmp_path):
    cfg = config(total_env_steps=2 * 3 * 16 * 6)
    train(cfg, tmp_path / "local", use_ray=False, show_progress=False)
    train(cfg, tmp_path / "ray", use_ray=True, show_progress=False)
    for a, b in zip(rows(tmp_path / "local"), rows(tmp_path / "ray"), strict=True):
        for key in a:
            if key not in ("env_steps_per_s", "time_total_s", "eval_time_s"):
                assert a[key] == b[key], key


def rollout_worker_pids():
    """This test process's rollout actors: its local Ray's workers, never another Ray's."""
    return [p.pid for p in descendants_named(os.getpid(), "ray::RolloutWorker")]


def test_training_survives_sigkill_of_an_actor(local_ray, tmp_path):
    killed = []

    def kill_one(metrics, _save):
        if metrics["iteration"] == 3:
            pids = rollout_worker_pids()
            assert len(pids) == 2  # the processes are named ray::RolloutWorker
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    cfg = config(total_env_steps=2 * 3 * 16 * 10)
    summary = train(cfg, tmp_path, on_iteration=kill_one, show_progress=False)
    assert killed and summary["env_steps"] == cfg.total_env_steps
    last = rows(tmp_path)[-1]
    assert int(last["worker_failures"]) == 1 and int(last["iteration"]) == 10


def test_env_errors_name_env_and_worker_after_retries(local_ray):
    cfg = config(env_id="tests.toy_envs:Exploding-v0", num_rollout_workers=1)
    with pytest.raises(EnvFailure, match=r"Exploding-v0.*\(worker 0, env 0\) raised in step"):
        train(cfg.replace(total_env_steps=1000), show_progress=False)


def test_trial_bundles():
    assert trial_bundles(config(num_rollout_workers=3)) == [{"CPU": 1.0}] * 4
