"""Sampling: same-step autoreset, truncation bootstrapping, env failures, statistics merge."""

import numpy as np
import pytest
import torch

from a2c_ray import A2CConfig
from a2c_ray.core.batch import Batch
from a2c_ray.core.stats import RunningMeanStd
from a2c_ray.learning.learner import Learner
from a2c_ray.sampling.envs import EnvFailure
from a2c_ray.sampling.rollout import RolloutWorker


def worker(env_id, T, n_envs=1, **kw):
    cfg = A2CConfig(env_id=env_id, rollout_length=T, envs_per_worker=n_envs, **kw)
    return cfg, RolloutWorker(cfg, 0)


def test_truncation_keeps_final_obs_and_no_reset_transition():
    cfg, w = worker("tests.toy_envs:Counter-v0", T=12)  # time limit 5
    b = w.sample(Learner(cfg, w.vec.obs_space, w.vec.action_space).broadcast())
    obs = b.obs[:, 0, 0]
    # observations count 0..4 within each episode; the reset obs 0 follows the last step
    np.testing.assert_allclose(obs, [0, .1, .2, .3, .4, 0, .1, .2, .3, .4, 0, .1], atol=1e-6)
    assert b.truncated[:, 0].nonzero()[0].tolist() == [4, 9]
    assert not b.terminated.any()
    assert b.final_idx.tolist() == [[4, 0], [9, 0]]
    np.testing.assert_allclose(b.final_obs[:, 0], [0.5, 0.5])  # true final states
    np.testing.assert_allclose(b.last_obs[:, 0], [0.2], atol=1e-6)
    assert b.episode_returns.tolist() == [5.0, 5.0]
    assert b.episode_lengths.tolist() == [5, 5]


def test_terminated_episodes_do_not_bootstrap():
    cfg, w = worker("tests.toy_envs:CounterTerminal-v0", T=9)  # terminates at t == 7
    learner = Learner(cfg, w.vec.obs_space, w.vec.action_space)
    b = w.sample(learner.broadcast())
    assert b.terminated[:, 0].nonzero()[0].tolist() == [6]
    assert b.final_idx.shape == (0, 2)


def test_learner_bootstraps_truncation_from_final_observation():
    cfg, w = worker("tests.toy_envs:Counter-v0", T=12)
    learner = Learner(cfg, w.vec.obs_space, w.vec.action_space)
    b = Batch.concat([w.sample(learner.broadcast())])
    values, next_values, _, _ = learner._values(b)
    with torch.no_grad():
        v = lambda x: learner.model.value(torch.tensor([[x]], dtype=torch.float32)).item()  # noqa: E731
    assert next_values[4, 0] == pytest.approx(v(0.5), abs=1e-6)  # V(final), not V(reset obs)
    assert next_values[3, 0] == pytest.approx(values[4, 0], abs=1e-6)
    assert next_values[11, 0] == pytest.approx(v(0.2), abs=1e-6)  # V(last obs)


def test_concat_shifts_final_indices_by_earlier_envs():
    cfg = A2CConfig(env_id="tests.toy_envs:Counter-v0", rollout_length=6, envs_per_worker=2,
                    num_rollout_workers=2)
    workers = [RolloutWorker(cfg, i) for i in range(2)]
    learner = Learner(cfg, workers[0].vec.obs_space, workers[0].vec.action_space)
    batch = Batch.concat([w.sample(learner.broadcast()) for w in workers])
    assert batch.obs.shape == (6, 4, 1)
    assert sorted(map(tuple, batch.final_idx.tolist())) == [(4, 0), (4, 1), (4, 2), (4, 3)]


def test_workers_seed_their_envs_differently():
    cfg = A2CConfig(env_id="CartPole-v1", rollout_length=4, envs_per_worker=2)
    a, b = RolloutWorker(cfg, 0), RolloutWorker(cfg, 1)
    firsts = np.concatenate([a.obs, b.obs])
    assert len({tuple(o) for o in firsts.round(6)}) == 4
    again = RolloutWorker(cfg, 1)
    np.testing.assert_array_equal(again.obs, b.obs)


def test_env_failure_names_env_and_worker():
    cfg = A2CConfig(env_id="tests.toy_envs:Exploding-v0", rollout_length=8)
    w = RolloutWorker(cfg, 3)
    learner = Learner(cfg, w.vec.obs_space, w.vec.action_space)
    with pytest.raises(EnvFailure, match=r"Exploding-v0.*worker 3, env 0\) raised in step"):
        w.sample(learner.broadcast())


def test_parallel_moments_merge_equals_whole_batch():
    rng = np.random.default_rng(0)
    parts = [rng.normal(i, 1 + i, size=(n, 3)) for i, n in enumerate([5, 50, 1, 200])]
    rms = RunningMeanStd.zeros((3,))
    for p in parts:
        rms.merge(*RunningMeanStd.moments(p))
    whole = np.concatenate(parts)
    np.testing.assert_allclose(rms.mean, whole.mean(0))
    np.testing.assert_allclose(rms.var, whole.var(0))
    assert rms.count == len(whole)


def test_normalized_observations_use_the_broadcast_statistics():
    cfg, w = worker("CartPole-v1", T=4, normalize_obs=True)
    learner = Learner(cfg, w.vec.obs_space, w.vec.action_space)
    learner.obs_rms = RunningMeanStd(np.full(4, 1.0), np.full(4, 4.0), 10.0)
    raw = w.obs.copy()
    b = w.sample(learner.broadcast())
    np.testing.assert_allclose(b.obs[0], (raw - 1.0) / np.sqrt(4.0 + 1e-8), rtol=1e-5)
    (count, mean, _), = b.obs_moments
    assert count == 4 and mean.shape == (4,)


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "CartPole-v1"])
def test_evaluation_episodes_match_a_one_env_torch_reference(env_id):
    from a2c_ray.core.spaces import encode_obs
    from a2c_ray.model.network import ActorCritic
    from a2c_ray.sampling.envs import make_env
    from a2c_ray.sampling.rollout import run_episodes

    cfg = A2CConfig(env_id=env_id, seed=3)
    probe = make_env(env_id)
    torch.manual_seed(3)
    model = ActorCritic(probe.observation_space, probe.action_space, cfg)
    with torch.no_grad():  # actions far from zero, so that a wrong one shows in the return
        model.actor_head.weight.mul_(100.0)
    returns, lengths, _, _ = run_episodes(model, env_id, 3, seed=100)
    for k in range(3):  # the naive loop: one env, the torch model's mean or most likely action
        env = make_env(env_id)
        obs, _ = env.reset(seed=100 + k)
        total, steps, done = 0.0, 0, False
        while not done:
            x = encode_obs(env.observation_space, obs[None])
            action = model.dist.to_env(model.act(x, None, deterministic=True))[0]
            obs, reward, term, trunc, _ = env.step(action)
            total, steps, done = total + reward, steps + 1, term or trunc
        assert lengths[k] == steps
        assert returns[k] == pytest.approx(total, rel=1e-4, abs=1e-4)
    again, _, _, _ = run_episodes(model, env_id, 3, seed=100, deterministic=False)
    assert np.array_equal(again, run_episodes(model, env_id, 3, seed=100,
                                              deterministic=False)[0])
