"""A user's own actor and critic (A2CConfig.network): loading, checks, sampling in torch."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from a2c_ray.core.config import A2CConfig, ConfigError
from a2c_ray.model.network import ActorCritic, NumpyActor

OBS = spaces.Box(-1.0, 1.0, (4,), np.float32)


@pytest.mark.parametrize("path,message", [
    ("tests.networks:raises", "raises(obs_dim=4, n_params=2) raised ValueError: no network for "
                              "4 inputs"),
    ("tests.networks:wrong_shapes", "maps a [2, 4] batch to actor [2, 3], critic [2, 2]: "
                                    "expected actor [2, 2], critic [2, 1]"),
    ("tests.networks:not_modules", "returned (str, str): expected (actor, critic), two "
                                   "torch.nn.Module"),
    ("tests.networks:fails_forward", "a forward pass on a [2, 4] batch raised RuntimeError"),
    ("tests.networks:missing", "cannot be imported: AttributeError"),
    ("no_such_package.nets:mlp", "cannot be imported: ModuleNotFoundError: No module named "
                                 "'no_such_package'"),
])
def test_a_bad_factory_is_one_line_naming_the_field(path, message):
    with pytest.raises(ConfigError) as err:
        ActorCritic(OBS, spaces.Discrete(2), A2CConfig(network=path))
    assert str(err.value).startswith(f"A2CConfig.network={path!r}")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["tests.networks", ":mlp", "tests.networks:"])
def test_a_network_that_is_no_import_path_is_refused_by_the_config(text):
    with pytest.raises(ConfigError, match="is not an import path: expected "
                                          "'package.module:function'"):
        A2CConfig(network=text)


@pytest.mark.parametrize("action_space,n_params", [
    (spaces.Discrete(3), 3), (spaces.Box(-1.0, 1.0, (2,), np.float32), 2),
    (spaces.MultiDiscrete([2, 3]), 5), (spaces.MultiBinary(4), 4),
])
def test_the_factory_is_the_policy_and_value_and_samples_in_torch(action_space, n_params):
    model = ActorCritic(OBS, action_space, A2CConfig(network="tests.networks:layer_norm_mlp"))
    assert model.dist.n_params == n_params
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    x = torch.from_numpy(obs)
    torch.testing.assert_close(model.policy_params(x), model.actor(x))
    torch.testing.assert_close(model.value(x), model.critic(x).squeeze(-1))
    assert {id(q) for q in model.critic_parameters()} == {id(q) for q in model.critic.parameters()}
    actor = NumpyActor(model)  # the rollout workers' actor: the forward pass stays in torch
    assert not actor.numpy
    np.testing.assert_array_equal(actor.params(obs), model.actor(x).detach().numpy())
    actions = actor.act(obs, np.random.default_rng(0))
    assert actions.shape == (5, *model.dist.action_shape)
