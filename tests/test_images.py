"""Image observations and Atari: the CNN, uint8 to the learner, and what only training sees."""

import json
import subprocess
import sys

import numpy as np
import pytest
import ray
import torch
from gymnasium import spaces

from a2c_ray.core import A2CConfig, ConfigError, RunningMeanStd
from a2c_ray.core.spaces import (
    encode_obs,
    image_parts,
    image_shape,
    obs_dim,
    obs_dtype,
    obs_layout,
    vector_columns,
)
from a2c_ray.learning.learner import Learner
from a2c_ray.model import ActorCritic
from a2c_ray.model.network import NatureCNN, NumpyActor
from a2c_ray.sampling.envs import EnvVector, is_atari, make_env
from a2c_ray.sampling.rollout import RolloutWorker, run_episodes

ATARI = A2CConfig.from_json("a2c_ray/atari.json")
FRAMES = spaces.Box(0, 255, (4, 84, 84), np.uint8)


def pixels(shape, n=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


# --- which spaces are images, and how they are encoded ---------------------------------------

def test_a_uint8_box_bounded_by_0_and_255_is_an_image_channels_the_smallest_dimension():
    assert image_shape(FRAMES) == (4, 84, 84)
    assert image_shape(spaces.Box(0, 255, (210, 160, 3), np.uint8)) == (3, 210, 160)
    assert image_shape(spaces.Box(0, 255, (84, 84), np.uint8)) == (1, 84, 84)
    # a float Box stays a vector whatever its shape, and so does uint8 with other bounds
    assert image_shape(spaces.Box(0.0, 1.0, (3, 64, 64), np.float32)) is None
    assert image_shape(spaces.Box(0, 1, (3, 64, 64), np.uint8)) is None
    assert obs_dtype(FRAMES) == np.uint8
    assert obs_dtype(spaces.Box(0.0, 1.0, (3, 64, 64), np.float32)) == np.float32


def test_channels_last_images_are_encoded_channel_first_as_uint8():
    space = spaces.Box(0, 255, (6, 5, 3), np.uint8)
    obs = pixels((6, 5, 3))
    enc = encode_obs(space, obs)
    assert enc.dtype == np.uint8 and enc.shape == (3, 90) and obs_dim(space) == 90
    np.testing.assert_array_equal(enc.reshape(3, 3, 6, 5), obs.transpose(0, 3, 1, 2))


def test_a_dict_with_an_image_is_float_its_pixels_kept_and_only_its_vector_normalised():
    space = spaces.Dict({"camera": spaces.Box(0, 255, (8, 8, 1), np.uint8),
                         "state": spaces.Box(-1.0, 1.0, (3,), np.float32)})
    assert image_parts(space) == {"camera": (1, 8, 8)}
    assert obs_layout(space) == {"camera": slice(0, 64), "state": slice(64, 67)}
    assert obs_dtype(space) == np.float32
    obs = {"camera": pixels((8, 8, 1), n=4), "state": np.ones((4, 3), np.float32) * 5}
    enc = encode_obs(space, obs)
    columns = vector_columns(space)
    assert columns.sum() == 3 and not columns[:64].any()
    rms = RunningMeanStd.zeros((67,))
    rms.update(np.zeros((2, 67)))
    normed = rms.normalize(enc, 10.0, columns)
    np.testing.assert_array_equal(normed[:, :64], enc[:, :64])  # pixels untouched
    np.testing.assert_allclose(normed[:, 64:], 10.0)  # 5 / ~0 std, clipped
    assert vector_columns(FRAMES) is None or not vector_columns(FRAMES).any()


# --- the CNN ----------------------------------------------------------------------------------

def test_nature_cnn_shapes_as_sb3s():
    cnn = NatureCNN((4, 84, 84))
    assert cnn.linear[0].in_features == 3136  # 64 x 7 x 7, as in the Nature DQN paper
    assert cnn(torch.from_numpy(pixels((4, 84, 84)))).shape == (3, 512)
    sb3 = pytest.importorskip("stable_baselines3.common.torch_layers")
    theirs = sb3.NatureCNN(spaces.Box(0, 255, (4, 84, 84), np.uint8), features_dim=512)
    assert sum(p.numel() for p in cnn.parameters()) == sum(p.numel() for p in theirs.parameters())


def _orthogonal(weight: torch.Tensor, gain: float) -> bool:
    w = weight.reshape(weight.shape[0], -1)
    small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    return torch.allclose(small, gain**2 * torch.eye(small.shape[0]), atol=1e-4)


@pytest.mark.parametrize("shared", [True, False])
def test_actor_critic_on_images_shapes_init_and_sharing(shared):
    model = ActorCritic(FRAMES, spaces.Discrete(6), ATARI.replace(shared_encoder=shared))
    obs = torch.from_numpy(pixels((4 * 84 * 84,), n=5))
    assert model.policy_params(obs).shape == (5, 6) and model.value(obs).shape == (5,)
    assert (model.actor_encoder is model.critic_encoder) == shared
    convs = [m for m in model.actor_encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 and all(_orthogonal(c.weight, np.sqrt(2)) for c in convs)
    assert all(torch.all(c.bias == 0) for c in convs)
    assert _orthogonal(model.actor_head.weight, 0.01) and _orthogonal(model.critic_head.weight, 1)
    assert model.actor_head.in_features == 512  # n_layers 0: the heads read the features
    critic = {id(p) for p in model.critic_parameters()}
    assert {id(p) for p in model.critic_encoder.parameters()} <= critic
    assert any(id(p) not in critic for p in model.actor_head.parameters())
    assert not NumpyActor(model).numpy  # a CNN's forward pass runs in torch


def test_normalize_obs_on_images_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^A2CConfig.normalize_obs=True does not apply to image "
                       r"observations .*: expected normalize_obs=false"):
        ActorCritic(FRAMES, spaces.Discrete(4), ATARI.replace(normalize_obs=True))


# --- Atari -------------------------------------------------------------------------------------

def test_atari_evaluates_stochastic_unless_asked_and_everything_else_deterministic():
    from a2c_ray.sampling import eval_deterministic

    assert not eval_deterministic("ALE/Breakout-v5", "auto")
    assert eval_deterministic("CartPole-v1", "auto")
    assert eval_deterministic("ALE/Breakout-v5", "deterministic")
    assert not eval_deterministic("CartPole-v1", "stochastic")


def test_atari_env_is_preprocessed_and_stacked():
    assert is_atari("ALE/Pong-v5") and not is_atari("CartPole-v1")
    env = make_env("ALE/Pong-v5")
    try:
        obs, _ = env.reset(seed=1)
        assert env.observation_space.shape == (4, 84, 84) and obs.dtype == np.uint8
        assert env.unwrapped.ale.getInt("frame_skip") == 1  # AtariPreprocessing skips instead
    finally:
        env.close()


def test_life_loss_and_reward_sign_are_the_learners_only():
    """MsPacman: pellets score 10, a random player loses its 3 lives in a few hundred steps."""
    vec = EnvVector("ALE/MsPacman-v5", 1, seed=3, life_loss=True, sign_rewards=True)
    vec.reset()
    rng = np.random.default_rng(0)
    signs, lives_lost, ended_at = [], 0, None
    for t in range(5000):
        _, rew, term, trunc, finals = vec.step(rng.integers(0, 9, size=1))
        signs.append(rew[0])
        if finals:
            ended_at = t
            break
        lives_lost += int(term[0])
    assert ended_at is not None and lives_lost == 2  # the third life ends the game itself
    returns, lengths, _ = vec.pop_episodes()
    assert set(np.unique(signs)) <= {0.0, 1.0} and returns[0] >= 10 * sum(signs) > 0
    assert lengths == [ended_at + 1]  # one episode: the lives lost did not end it
    vec.close()


def test_evaluation_plays_whole_games_with_their_scores():
    config = ATARI.replace(env_id="ALE/MsPacman-v5")
    env = make_env("ALE/MsPacman-v5")
    model = ActorCritic(env.observation_space, env.action_space, config)
    env.close()
    returns, lengths, _, _ = run_episodes(model, "ALE/MsPacman-v5", 1, seed=5,
                                          deterministic=False)
    assert returns[0] % 10 == 0 and returns[0] > 1  # the game's points, not their signs
    assert lengths[0] > 100  # three lives, one episode


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_frames_stay_uint8_through_the_object_store_to_the_learner(local_ray):
    config = ATARI.replace(env_id="ALE/Pong-v5", envs_per_worker=2, rollout_length=4)
    worker = ray.remote(RolloutWorker).remote(config.to_dict(), 0)
    env = make_env("ALE/Pong-v5")
    learner = Learner(config, env.observation_space, env.action_space)
    env.close()
    batch = ray.get(worker.sample.remote(learner.broadcast()))
    assert batch.obs.dtype == np.uint8 and batch.obs.shape == (4, 2, 4 * 84 * 84)
    assert batch.last_obs.dtype == np.uint8 and batch.final_obs.dtype == np.uint8
    assert batch.obs.nbytes == 4 * 2 * 28_224  # a step's four 84x84 frames, 28 KB
    before = [p.detach().clone() for p in learner.model.parameters()]
    stats = learner.update(batch)
    assert np.isfinite(stats["policy_loss"]) and np.isfinite(stats["value_loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.model.parameters(),
                                                      strict=True))


def test_a_short_atari_run_trains_evaluates_and_retrains_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "a2c_ray.train", "--config", "a2c_ray/atari.json",
                        "--env", "ALE/Pong-v5", "--total-steps", "800", "--set",
                        "eval_episodes=1", "--out", str(run), "--progress", "log"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env_steps"] >= 800 and summary["eval_return_mean"] <= 21
    r = subprocess.run([sys.executable, "-m", "a2c_ray.evaluate", "--checkpoint", str(run),
                        "--episodes", "1", "--gif", str(tmp_path / "pong.gif"),
                        "--max-frames", "20", "--json"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    # Atari evaluates drawing from the policy (eval_policy auto), reproducibly: the run's own
    assert result["episodes"] == 1 and "stochastic (seeded)" in result["protocol"]
    import imageio.v3 as iio

    assert iio.imread(tmp_path / "pong.gif").shape[1:3] == (210, 160)  # the game's own screen


def test_normalize_obs_on_atari_exits_2_before_ray(tmp_path):
    r = subprocess.run([sys.executable, "-m", "a2c_ray.train", "--env", "ALE/Pong-v5", "--set",
                        "normalize_obs=true", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "normalize_obs=True does not apply to image observations" in lines[-1]
    assert not (tmp_path / "run").exists()


def test_an_atari_run_resumes_exactly(tmp_path):
    """The emulator (with the RNG of its sticky actions), the max-pool buffers and the stacked
    frames come back from a checkpoint: the resumed run's last row is the unbroken run's."""
    from tests.resume import assert_resumes_exactly

    k, batch = 4, 4 * 16
    cfg = ATARI.replace(env_id="ALE/Pong-v5", envs_per_worker=4, rollout_length=16,
                        eval_episodes=1, eval_interval_steps=0, total_env_steps=(k + 1) * batch)
    assert_resumes_exactly(cfg, tmp_path, k)


def test_a_sweep_on_atari_searches_the_atari_space_and_its_best_config_retrains(tmp_path):
    """Images take search_space_atari.json and atari.json's fixed values by default."""
    r = subprocess.run([sys.executable, "-m", "a2c_ray.tune", "--env", "ALE/Pong-v5",
                        "--num-samples", "2", "--max-steps", "640", "--grace-steps", "320",
                        "--reduction-factor", "2", "--set", "eval_episodes=1",
                        "--seeds-per-trial", "1", "--confirm-top", "0", "--storage-path",
                        str(tmp_path), "--name", "pong"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "searching search_space_atari.json" in r.stdout + r.stderr
    exp = tmp_path / "pong"
    best = json.loads((exp / "best_config.json").read_text())
    atari = json.loads(open("a2c_ray/atari.json").read())
    space = json.loads(open("a2c_ray/search_space_atari.json").read())
    assert best["env_id"] == "ALE/Pong-v5" and best["n_layers"] == 0
    for key in ("value_grad_steps", "optimizer_eps", "normalize_obs", "atari_life_loss"):
        assert best[key] == atari[key], key  # not searched: the Atari configuration's
    params = [json.loads((d / "params.json").read_text()) for d in exp.glob("run_trial_*")]
    assert len(params) == 2 and all(set(space) <= set(p) for p in params)
    r = subprocess.run([sys.executable, "-m", "a2c_ray.train", "--config",
                        str(exp / "best_config.json"), "--total-steps", "320", "--out",
                        str(tmp_path / "again"), "--progress", "log"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["env_steps"] >= 320


def test_the_cnn_policy_computes_what_sb3s_cnnpolicy_computes_with_the_same_weights():
    """a2c_ray's actor-critic at the Atari settings against SB3's A2C ``CnnPolicy`` (NatureCNN
    shared by the heads, no hidden layers), its weights copied in: the same logits, values,
    log-probabilities and entropies for the same frames."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    theirs = ActorCriticCnnPolicy(FRAMES, spaces.Discrete(6), lambda _: 7e-4)
    ours = ActorCritic(FRAMES, spaces.Discrete(6), ATARI)
    extractor = theirs.features_extractor
    cnn = ours.actor_encoder.cnns["0"]
    pairs = [(cnn.convs[i], extractor.cnn[i]) for i in (0, 2, 4)]
    pairs += [(cnn.linear[0], extractor.linear[0]), (ours.actor_head, theirs.action_net),
              (ours.critic_head, theirs.value_net)]
    with torch.no_grad():
        for mine, sb3_module in pairs:
            mine.weight.copy_(sb3_module.weight)
            mine.bias.copy_(sb3_module.bias)
    frames = pixels((4, 84, 84), n=5, seed=3)
    actions = torch.tensor([0, 1, 2, 3, 5])
    with torch.no_grad():
        values, log_prob, entropy = theirs.evaluate_actions(torch.from_numpy(frames), actions)
        params, value = ours.params_and_value(torch.from_numpy(frames.reshape(5, -1)))
    torch.testing.assert_close(value, values.squeeze(-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.dist.log_prob(params, actions), log_prob, rtol=1e-5,
                               atol=1e-5)
    torch.testing.assert_close(ours.dist.entropy(params), entropy, rtol=1e-5, atol=1e-5)
