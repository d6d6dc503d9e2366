import itertools
import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from a2c_ray import A2CConfig, Trainer, train
from a2c_ray.core.spaces import ACTION_SPACES, SpaceError, check_spaces, encode_obs, obs_dim
from a2c_ray.model.distributions import make_action_dist

B = 6


def brute_force(space, params):
    """log-probs of every joint action and the exact entropy, by enumeration."""
    if isinstance(space, spaces.Discrete):
        values = [(a,) for a in range(space.n)]
        logits = [params]
    elif isinstance(space, spaces.MultiDiscrete):
        values = list(itertools.product(*[range(n) for n in space.nvec]))
        logits = torch.split(params, list(map(int, space.nvec)), -1)
    else:  # MultiBinary as n two-way categoricals with logits (0, x)
        values = list(itertools.product(range(2), repeat=space.n))
        logits = [torch.stack([torch.zeros_like(params[:, i]), params[:, i]], -1)
                  for i in range(space.n)]
    logp = torch.stack([
        sum(torch.log_softmax(lg, -1)[:, v] for lg, v in zip(logits, combo, strict=True))
        for combo in values
    ], -1)  # [B, n_joint]
    entropy = -(logp.exp() * logp).sum(-1)
    return values, logp, entropy


DISCRETE_KINDS = [spaces.Discrete(4), spaces.MultiDiscrete([3, 2, 4]), spaces.MultiBinary(3)]


@pytest.mark.parametrize("space", DISCRETE_KINDS, ids=lambda s: type(s).__name__)
def test_discrete_kinds_against_enumeration(space):
    dist = make_action_dist(space)
    g = torch.Generator().manual_seed(0)
    params = torch.randn(B, dist.n_params, generator=g)
    values, ref_logp, ref_entropy = brute_force(space, params)
    actions = dist.sample(params, g)
    assert tuple(actions.shape) == (B, *dist.action_shape)
    assert dist.log_prob(params, actions).shape == (B,)
    for j, combo in enumerate(values):
        a = torch.tensor(combo).reshape(1, *dist.action_shape).expand(B, *dist.action_shape)
        torch.testing.assert_close(dist.log_prob(params, a), ref_logp[:, j])
    torch.testing.assert_close(dist.entropy(params), ref_entropy)
    # the mode is the most likely joint action
    best = ref_logp.argmax(-1)
    mode = dist.mode(params).reshape(B, -1)
    for i in range(B):
        assert tuple(mode[i].tolist()) == tuple(values[best[i]])


@pytest.mark.parametrize("space", DISCRETE_KINDS, ids=lambda s: type(s).__name__)
def test_sampling_frequencies_match_probabilities(space):
    dist = make_action_dist(space)
    g = torch.Generator().manual_seed(1)
    params = torch.randn(1, dist.n_params, generator=g)
    values, ref_logp, _ = brute_force(space, params)
    n = 20000
    torch_draws = dist.sample(params.expand(n, -1), g)
    numpy_draws = dist.numpy_sampler()(params.expand(n, -1).numpy(), np.random.default_rng(0))
    for draws in (torch_draws.numpy(), numpy_draws):
        assert draws.shape == (n, *dist.action_shape)
        counts = {tuple(v): 0 for v in values}
        for s in draws.reshape(n, -1).tolist():
            counts[tuple(s)] += 1
        freq = np.array([counts[tuple(v)] for v in values]) / n
        np.testing.assert_allclose(freq, ref_logp[0].exp().numpy(), atol=0.02)


def test_gaussian_against_torch_normal():
    space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    dist = make_action_dist(space, log_std_init=-0.5)
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(B, 3, generator=g)
    actions = dist.sample(mean, g)
    assert actions.shape == (B, 3)
    ref = torch.distributions.Normal(mean, torch.full((3,), math.exp(-0.5)))
    torch.testing.assert_close(dist.log_prob(mean, actions), ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(mean), ref.entropy().sum(-1))
    torch.testing.assert_close(dist.mode(mean), mean)
    draws = dist.numpy_sampler()(np.tile(mean[:1].numpy(), (20000, 1)), np.random.default_rng(0))
    np.testing.assert_allclose(draws.mean(0), mean[0].numpy(), atol=0.02)
    np.testing.assert_allclose(draws.std(0), math.exp(-0.5), atol=0.02)
    big = np.array([[5.0, -5.0, 0.2]], np.float32)
    np.testing.assert_allclose(dist.to_env(big), [[1.0, -1.0, 0.2]], rtol=1e-6)  # clipped


def test_to_env_forms():
    discrete = make_action_dist(spaces.Discrete(3, start=-1))
    assert discrete.to_env(np.array([0, 2])).tolist() == [-1, 1]
    mb = make_action_dist(spaces.MultiBinary([2, 2])).to_env(np.ones((1, 4), np.int64))
    assert mb.shape == (1, 2, 2) and mb.dtype == np.int8
    md = make_action_dist(spaces.MultiDiscrete([3, 3], start=[1, 1]))
    assert md.to_env(np.zeros((1, 2), np.int64)).tolist() == [[1, 1]]


def test_observation_encoding():
    assert obs_dim(spaces.Box(0, 1, (2, 3))) == 6
    np.testing.assert_array_equal(
        encode_obs(spaces.Discrete(3), np.array([2, 0])), [[0, 0, 1], [1, 0, 0]]
    )
    assert encode_obs(spaces.Box(0, 1, (2, 3)), np.zeros((4, 2, 3))).shape == (4, 6)


def test_unsupported_spaces_name_the_supported_ones():
    with pytest.raises(SpaceError, match="Box, Discrete, MultiDiscrete, MultiBinary"):
        make_action_dist(spaces.Dict({"a": spaces.Discrete(2)}))
    with pytest.raises(SpaceError, match="Box, Discrete, MultiDiscrete, MultiBinary"):
        check_spaces(spaces.Discrete(2), spaces.Dict({"a": spaces.Discrete(2)}))


def test_every_supported_action_space_has_a_distribution():
    examples = [spaces.Box(-1, 1, (2,)), spaces.Discrete(3), spaces.MultiDiscrete([2, 3]),
                spaces.MultiBinary(4)]
    assert sorted(type(s).__name__ for s in examples) == sorted(t.__name__ for t in ACTION_SPACES)
    for space in examples:
        check_spaces(spaces.Discrete(2), space)
        make_action_dist(space)
    with pytest.raises(SpaceError, match=r"observation space Text\(.*\) is not supported: "
                       r"expected one of Box \(a uint8 HxWxC, CxHxW or HxW Box is an image\), "
                       "Discrete, MultiDiscrete, MultiBinary, or a Dict"):
        obs_dim(spaces.Text(5))
    with pytest.raises(SpaceError, match=r"its part 'seq', Sequence\(.*\), is not supported"):
        obs_dim(spaces.Dict({"a": spaces.Discrete(2), "seq": spaces.Sequence(spaces.Discrete(2))}))


def test_dict_observations_are_flattened_as_sb3s_combined_extractor_does():
    """Each part encoded (one-hot for Discrete and MultiDiscrete, flat for Box and
    MultiBinary) and concatenated in the Dict's key order, which gymnasium sorts: the same
    vector as SB3's preprocessing and CombinedExtractor on the same observations."""
    from stable_baselines3.common.preprocessing import preprocess_obs
    from stable_baselines3.common.torch_layers import CombinedExtractor
    from stable_baselines3.common.utils import obs_as_tensor

    box = spaces.Box(-5.0, 5.0, (3,), np.float32)
    space = spaces.Dict({"observation": spaces.Box(-5.0, 5.0, (2, 2), np.float32),
                         "phase": spaces.Discrete(3), "desired_goal": box, "achieved_goal": box,
                         "code": spaces.MultiDiscrete([2, 3]), "bits": spaces.MultiBinary(2)})
    assert list(space.spaces) == sorted(space.spaces)
    space.seed(0)
    observations = [space.sample() for _ in range(6)]
    ours = encode_obs(space, observations)
    assert ours.dtype == np.float32
    assert ours.shape == (6, obs_dim(space)) == (6, 3 + 2 + (2 + 3) + 3 + 4 + 3)
    batch = {k: np.stack([o[k] for o in observations]) for k in space.spaces}
    np.testing.assert_array_equal(encode_obs(space, batch), ours)  # a dict of batches alike
    with torch.no_grad():
        theirs = CombinedExtractor(space)(preprocess_obs(obs_as_tensor(batch, "cpu"), space))
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6)
    # by hand, for the first observation
    o = observations[0]
    hand = np.concatenate([
        o["achieved_goal"], o["bits"], np.eye(2)[o["code"][0]], np.eye(3)[o["code"][1]],
        o["desired_goal"], o["observation"].reshape(-1), np.eye(3)[o["phase"]]])
    np.testing.assert_allclose(ours[0], hand)


def test_tuple_and_nested_dict_observations_are_flattened_in_order():
    inner = spaces.Dict({"z": spaces.Discrete(2, start=1), "a": spaces.Box(0, 1, (1,))})
    space = spaces.Tuple([spaces.Box(0, 1, (2,)), inner])
    assert obs_dim(space) == 2 + 1 + 2
    obs = [(np.array([0.1, 0.2], np.float32), {"a": np.array([0.5], np.float32), "z": 2})]
    np.testing.assert_allclose(encode_obs(space, obs), [[0.1, 0.2, 0.5, 0.0, 1.0]])


def test_a_goal_conditioned_dict_env_learns_and_reports_its_success_rate():
    """tests/toy_envs.py's GoalReach: a nested Dict observation, ``is_success`` in its info.

    A random policy ends within reach of the goal in few episodes; 40k steps of A2C's
    defaults (but the learning rate) reach it in most, and the run reports the success rate
    of its training episodes and of its evaluation beside the return.
    """
    import gymnasium as gym

    from tests import toy_envs  # noqa: F401  (registers GoalReach-v0)

    env = gym.make("GoalReach-v0")
    env.action_space.seed(0)
    random_successes = []
    for k in range(100):
        env.reset(seed=k)
        for _ in range(20):
            *_, info = env.step(env.action_space.sample())
        random_successes.append(info["is_success"])
    assert np.mean(random_successes) < 0.1
    config = A2CConfig(env_id="tests.toy_envs:GoalReach-v0", total_env_steps=40_000,
                       eval_episodes=20, eval_interval_steps=0, learning_rate=3e-3)
    with Trainer(config, show_progress=False) as trainer:
        metrics = trainer.run()
    assert metrics["eval_success_rate"] >= 0.8, metrics
    assert 0.0 < metrics["success_rate"] <= 1.0
    assert trainer.summary()["eval_success_rate"] == metrics["eval_success_rate"]


# A few training iterations on a small env of each kind. The matching envs are easy enough
# that 8k steps must beat a random policy by a wide margin (random: 16 for CodeMatch, 24 for
# BitMatch; best: 48).
@pytest.mark.parametrize("env_id,steps,beats", [
    ("Pendulum-v1", 2048, None),
    ("CartPole-v1", 2048, None),
    ("FrozenLake-v1", 2048, None),  # Discrete observations, one-hot encoded
    ("Blackjack-v1", 2048, None),  # a Tuple of Discrete observations
    ("tests.toy_envs:CodeMatch-v0", 8192, 30.0),
    ("tests.toy_envs:BitMatch-v0", 8192, 36.0),
])
def test_training_runs_on_each_space_kind(env_id, steps, beats):
    config = A2CConfig(env_id=env_id, total_env_steps=steps, eval_episodes=4,
                       eval_interval_steps=0, learning_rate=3e-3)
    summary = train(config, show_progress=False)
    assert summary["env_steps"] >= steps
    assert np.isfinite(summary["eval_return_mean"])
    assert "eval_success_rate" not in summary  # none of them reports is_success
    if beats is not None:
        assert summary["eval_return_mean"] > beats


@pytest.mark.parametrize("activation", ["tanh", "relu", "elu", "silu", "gelu"])
def test_numpy_actor_matches_torch_forward(activation):
    from a2c_ray.model.network import ActorCritic, NumpyActor

    space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    model = ActorCritic(spaces.Box(-1, 1, (5,)), space, A2CConfig(activation=activation))
    actor = NumpyActor(model)
    actor.sample = lambda params, rng: params  # expose the distribution parameters
    obs = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    with torch.no_grad():
        expected = model.policy_params(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(actor.act(obs, None), expected, rtol=1e-5, atol=1e-6)


def test_a_network_factory_that_takes_the_observation_space_splits_a_dict_by_its_layout():
    """``obs_space`` goes to a factory that takes it; ``obs_layout`` says where each part is."""
    import gymnasium as gym

    from a2c_ray.core.spaces import obs_layout
    from a2c_ray.model.network import ActorCritic
    from tests import toy_envs  # noqa: F401  (registers GoalReach-v0)

    env = gym.make("GoalReach-v0")
    space = env.observation_space
    layout = obs_layout(space)
    assert layout == {"achieved_goal": slice(0, 2), "desired_goal": slice(2, 4),
                      "observation.phase": slice(4, 7), "observation.point": slice(7, 9)}
    assert obs_layout(spaces.Box(0, 1, (2, 3))) == {"": slice(0, 6)}
    obs, _ = env.reset(seed=3)
    x = torch.from_numpy(encode_obs(space, [obs]))
    np.testing.assert_allclose(x[0, layout["observation.point"]], obs["observation"]["point"])
    config = A2CConfig(env_id="tests.toy_envs:GoalReach-v0", network="tests.networks:goal_relative")
    model = ActorCritic(space, env.action_space, config)
    features = model.actor[0](x)
    np.testing.assert_allclose(features[0, :2], obs["desired_goal"] - obs["achieved_goal"],
                               rtol=1e-6)
    summary = train(config.replace(total_env_steps=40_000, eval_episodes=20,
                                   eval_interval_steps=0, learning_rate=3e-3), show_progress=False)
    assert summary["eval_success_rate"] >= 0.8, summary
