"""gSDE against Stable-Baselines3's StateDependentNoiseDistribution, and its noise schedule."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import StateDependentNoiseDistribution

from a2c_ray.core.config import A2CConfig, ConfigError
from a2c_ray.learning.learner import Learner
from a2c_ray.model.distributions import StateDependentNoise
from a2c_ray.model.network import ActorCritic, NumpyActor
from a2c_ray.sampling.rollout import RolloutWorker

B, L, A = 7, 5, 3  # batch, feature and action sizes
BOX = spaces.Box(-1.0, 1.0, (A,), np.float32)


def same_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    log_std = torch.rand(L, A, generator=g) * 3.5 - 3.0  # every entry its own, in [-3, 0.5]
    mean = torch.randn(B, A, generator=g)
    latent = torch.randn(B, L, generator=g)
    actions = torch.randn(B, A, generator=g)
    return log_std, mean, latent, actions


def sb3_and_ours(log_std, mean, latent):
    sb3 = StateDependentNoiseDistribution(A)  # full_std, no expln, no squashing: SB3's defaults
    _, sb3_log_std = sb3.proba_distribution_net(latent_dim=L, log_std_init=-2.0)
    sb3_log_std.data.copy_(log_std)
    sb3.proba_distribution(mean, sb3_log_std, latent)
    ours = StateDependentNoise(BOX, L, -2.0)
    ours.log_std.data.copy_(log_std)
    return sb3, sb3_log_std, ours, torch.cat([mean, latent], dim=-1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_prob_and_entropy_agree_with_sb3(seed):
    log_std, mean, latent, actions = same_inputs(seed)
    sb3, _, ours, params = sb3_and_ours(log_std, mean, latent)
    with torch.no_grad():
        torch.testing.assert_close(ours.log_prob(params, actions), sb3.log_prob(actions),
                                   rtol=0, atol=1e-5)
        torch.testing.assert_close(ours.entropy(params), sb3.entropy(), rtol=0, atol=1e-5)
        torch.testing.assert_close(ours.mode(params), sb3.mode(), rtol=0, atol=0)


def test_noise_from_the_same_matrices_agrees_with_sb3():
    log_std, mean, latent, _ = same_inputs()
    sb3, sb3_log_std, ours, params = sb3_and_ours(log_std, mean, latent)
    torch.manual_seed(0)
    sb3.sample_weights(sb3_log_std, batch_size=B)
    with torch.no_grad():
        sb3_actions = (mean + sb3.get_noise(latent)).numpy()
    matrices = sb3.exploration_matrices.detach().numpy()  # [B, L, A], one per env
    np.testing.assert_allclose(ours.numpy_sampler()(params.numpy(), matrices), sb3_actions,
                               rtol=0, atol=1e-5)


def test_noise_matrices_have_the_learned_std():
    ours = StateDependentNoise(BOX, L, -2.0)
    log_std = same_inputs()[0]
    ours.log_std.data.copy_(log_std)
    draws = ours.numpy_noise(40_000, np.random.default_rng(0))  # [n, L, A]
    np.testing.assert_allclose(draws.std(axis=0), log_std.exp().numpy(), rtol=0.03)
    assert abs(draws.mean(axis=0)).max() < 0.03


def sde_config(**kw):
    return A2CConfig(**{**dict(env_id="Pendulum-v1", envs_per_worker=2, rollout_length=4,
                               use_sde=True, n_layers=2, layer_size=L), **kw})


def test_the_model_gives_mean_and_detached_features_and_numpy_mirrors_torch():
    cfg = sde_config()
    obs_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    model = ActorCritic(obs_space, BOX, cfg)
    obs = np.random.default_rng(0).standard_normal((B, 3)).astype(np.float32)
    params = model.policy_params(torch.from_numpy(obs))
    assert params.shape == (B, A + L) and model.dist.log_std.shape == (L, A)
    mean, latent = model.dist.split(params)
    torch.testing.assert_close(latent, model.actor_body(torch.from_numpy(obs)))
    # No gradient reaches the body through the features (SB3's learn_features=False).
    latent.sum().backward(retain_graph=True)
    assert all(q.grad is None or not q.grad.any() for q in model.actor_body.parameters())
    np.testing.assert_allclose(NumpyActor(model).params(obs), params.detach().numpy(),
                               rtol=0, atol=1e-5)
    deterministic = model.act(obs, None, deterministic=True)  # evaluation: the mean
    np.testing.assert_array_equal(deterministic, mean.detach().numpy())
    mean.sum().backward()  # the mean trains the body
    assert all(q.grad is not None and q.grad.any() for q in model.actor_body.parameters())


@pytest.mark.parametrize("freq", [-1, 3])
def test_noise_matrices_are_redrawn_on_schedule_and_restored_exactly(freq):
    cfg = sde_config(sde_sample_freq=freq)
    worker = RolloutWorker(cfg)
    broadcast = Learner(cfg, worker.vec.obs_space, worker.vec.action_space).broadcast()
    a = worker.model.dist.action_dim

    def noise_of(batch, t):  # action minus mean, and the features z, of every env at step t
        params = worker.actor.params(batch.obs[t])
        return batch.actions[t] - params[:, :a], params[:, a:]

    first = worker.sample(broadcast)
    held = worker.sde_noise.copy()  # [N, L, A]
    state = worker.get_state()
    second = worker.sample(broadcast)
    # Steps 4..7 of the worker: -1 redraws at step 4, 3 redraws at step 6 (6 % 3 == 0), so
    # steps 4 and 5 still use the matrices drawn at step 3, in the previous rollout.
    for t in range(4):
        noise, z = noise_of(second, t)
        reused = freq == 3 and t < 2
        expected = np.einsum("nl,nla->na", z, held if reused else worker.sde_noise)
        np.testing.assert_allclose(noise, expected, rtol=0, atol=1e-5)
    assert not np.array_equal(held, worker.sde_noise)
    noise, z = noise_of(first, 3)  # the first rollout's last step used the matrices held
    np.testing.assert_allclose(noise, np.einsum("nl,nla->na", z, held), rtol=0, atol=1e-5)

    restored = RolloutWorker(cfg)
    restored.set_state(state)
    again = restored.sample(broadcast)
    np.testing.assert_array_equal(again.actions, second.actions)
    np.testing.assert_array_equal(again.obs, second.obs)


def test_gsde_needs_box_actions_and_the_built_in_network():
    with pytest.raises(ConfigError, match=r"use_sde=True needs a Box action space, not "
                                          r"Discrete\(2\)"):
        ActorCritic(BOX, spaces.Discrete(2), A2CConfig(use_sde=True))
    with pytest.raises(ConfigError, match="use_sde=True needs the built-in MLP"):
        A2CConfig(use_sde=True, network="tests.networks:layer_norm_mlp")
    with pytest.raises(ConfigError, match="sde_sample_freq=0 is not allowed"):
        A2CConfig(sde_sample_freq=0)
