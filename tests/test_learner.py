"""Learner.update against a case small enough to compute by hand.

A one-unit tanh network on a 1-d observation, two actions, three steps with a truncation in
the middle. The advantages, targets and losses are written out below in plain numpy; the
gradients of the heads in closed form, every gradient by central differences of that loss;
the optimizer step by torch's RMSprop formula.
"""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from a2c_ray.core.batch import Batch
from a2c_ray.core.config import A2CConfig
from a2c_ray.learning.learner import Learner

GAMMA, LAM, ENT, VF, LR, ALPHA, EPS = 0.9, 0.5, 0.1, 0.5, 0.01, 0.99, 1e-5
WEIGHTS = {  # name -> value; critic_body only without a shared body
    "actor_body.0.weight": [[0.5]], "actor_body.0.bias": [0.1],
    "actor_head.weight": [[1.0], [-1.0]], "actor_head.bias": [0.0, 0.2],
    "critic_body.0.weight": [[0.3]], "critic_body.0.bias": [-0.2],
    "critic_head.weight": [[2.0]], "critic_head.bias": [0.5],
}
OBS = np.array([0.0, 1.0, -1.0])  # s_0, s_1, s_2 of one env
ACTIONS = np.array([0, 1, 1])
REWARDS = np.array([1.0, 0.0, 2.0])
TRUNCATED = np.array([False, True, False])  # s_1's episode hit its time limit
FINAL_OBS, LAST_OBS = 2.0, 0.5  # the truncated episode's true final state; s_3


def learner_and_batch(td_lambda, shared, **extra):
    cfg = A2CConfig(**extra, n_layers=1, layer_size=1, activation="tanh", ortho_init=False,
                    shared_network=shared, value_grad_steps=1, max_grad_norm=1e6,
                    normalize_advantage=False, gamma=GAMMA, gae_lambda=LAM,
                    td_lambda=td_lambda, ent_coef=ENT, vf_coef=VF, optimizer="rmsprop",
                    learning_rate=LR, lr_schedule="constant", rmsprop_alpha=ALPHA,
                    optimizer_eps=EPS)
    learner = Learner(cfg, spaces.Box(-np.inf, np.inf, (1,), np.float32), spaces.Discrete(2))
    weights = {k: v for k, v in WEIGHTS.items() if not (shared and k.startswith("critic_body"))}
    assert set(weights) == set(learner.model.state_dict())
    learner.model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
    batch = Batch(
        obs=OBS.reshape(3, 1, 1).astype(np.float32), actions=ACTIONS.reshape(3, 1),
        rewards=REWARDS.reshape(3, 1).astype(np.float32),
        terminated=np.zeros((3, 1), bool), truncated=TRUNCATED.reshape(3, 1),
        last_obs=np.array([[LAST_OBS]], np.float32), final_idx=np.array([[1, 0]]),
        final_obs=np.array([[FINAL_OBS]], np.float32), obs_moments=(), ret_moments=(),
        episode_returns=np.zeros(0), episode_lengths=np.zeros(0, np.int64), version=0)
    return learner, batch, {k: np.array(v, np.float64) for k, v in weights.items()}


def forward(p, x, shared):
    """logits [B, 2] and V [B] of observations x [B], in float64."""
    ha = np.tanh(p["actor_body.0.weight"][0, 0] * x + p["actor_body.0.bias"][0])
    logits = ha[:, None] * p["actor_head.weight"][:, 0] + p["actor_head.bias"]
    hc = ha if shared else np.tanh(p["critic_body.0.weight"][0, 0] * x
                                   + p["critic_body.0.bias"][0])
    return logits, hc * p["critic_head.weight"][0, 0] + p["critic_head.bias"][0], ha, hc


def targets_by_hand(p, td_lambda, shared):
    """GAE advantages and critic targets, step by step, at weights p (then held fixed)."""
    _, v, _, _ = forward(p, OBS, shared)
    _, v_final, _, _ = forward(p, np.array([FINAL_OBS]), shared)
    _, v_last, _, _ = forward(p, np.array([LAST_OBS]), shared)
    next_v = np.array([v[1], v_final[0], v_last[0]])  # the truncation bootstraps from s_final
    delta = REWARDS + GAMMA * next_v - v
    adv = np.zeros(3)
    adv[2] = delta[2]
    adv[1] = delta[1]  # an episode ends at t=1: nothing from t=2 flows back
    adv[0] = delta[0] + GAMMA * LAM * adv[1]
    if td_lambda is None:
        return adv, adv + v
    lam = td_lambda  # TD(lambda) returns, G_t = r_t + gamma ((1 - lam) V(s') + lam G_{t+1})
    g = np.zeros(3)
    g[2] = REWARDS[2] + GAMMA * next_v[2]
    g[1] = REWARDS[1] + GAMMA * next_v[1]
    g[0] = REWARDS[0] + GAMMA * ((1 - lam) * next_v[0] + lam * g[1])
    return adv, g


def loss_by_hand(p, adv, tgt, shared, steps=slice(None)):
    """The A2C loss of the batch's steps (all of them, or a minibatch)."""
    logits, v, _, _ = forward(p, OBS[steps], shared)
    adv, tgt, actions = adv[steps], tgt[steps], ACTIONS[steps]
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    entropy = -(np.exp(logp) * logp).sum(axis=1).mean()
    policy_loss = -(adv * logp[np.arange(len(actions)), actions]).mean()
    value_loss = ((v - tgt) ** 2).mean()
    return policy_loss - ENT * entropy + VF * value_loss, policy_loss, value_loss, entropy


@pytest.mark.parametrize("td_lambda", [None, 0.8], ids=["gae-targets", "td-lambda-targets"])
@pytest.mark.parametrize("shared", [False, True], ids=["separate", "shared-body"])
def test_update_matches_the_hand_computed_loss_gradients_and_rmsprop_step(td_lambda, shared):
    learner, batch, p = learner_and_batch(td_lambda, shared)
    adv, tgt = targets_by_hand(p, td_lambda, shared)
    loss, policy_loss, value_loss, entropy = loss_by_hand(p, adv, tgt, shared)
    before = {k: v.detach().clone() for k, v in learner.model.state_dict().items()}

    metrics = learner.update(batch)

    assert metrics["policy_loss"] == pytest.approx(policy_loss, rel=1e-5)
    assert metrics["value_loss"] == pytest.approx(value_loss, rel=1e-5)
    assert metrics["entropy"] == pytest.approx(entropy, rel=1e-5)
    _, v, _, _ = forward(p, OBS, shared)
    assert metrics["explained_variance"] == pytest.approx(1 - np.var(tgt - v) / np.var(tgt),
                                                          rel=1e-4)
    grads = {k: q.grad.double().numpy() for k, q in learner.model.named_parameters()}

    # The heads' gradients in closed form.
    logits, _, ha, hc = forward(p, OBS, shared)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    logp = np.log(probs)
    dlogp = np.eye(2)[ACTIONS] - probs  # d log pi(a_t) / d logits
    dent = -probs * (logp + (-(probs * logp).sum(axis=1, keepdims=True)))  # dH_t / d logits
    dlogits = (-adv[:, None] * dlogp - ENT * dent) / 3  # d loss / d logits, per step
    np.testing.assert_allclose(grads["actor_head.bias"], dlogits.sum(axis=0), rtol=1e-4)
    np.testing.assert_allclose(grads["actor_head.weight"][:, 0], (dlogits * ha[:, None]).sum(0),
                               rtol=1e-4)
    dv = VF * 2 * (v - tgt) / 3  # d loss / d V(s_t), targets fixed
    np.testing.assert_allclose(grads["critic_head.bias"], [dv.sum()], rtol=1e-4)
    np.testing.assert_allclose(grads["critic_head.weight"], [[(dv * hc).sum()]], rtol=1e-4)

    # Every gradient, bodies included, by central differences of the hand-written loss.
    for name, value in p.items():
        for idx in np.ndindex(value.shape):
            up, down = {**p, name: value.copy()}, {**p, name: value.copy()}
            up[name][idx] += 1e-6
            down[name][idx] -= 1e-6
            numeric = (loss_by_hand(up, adv, tgt, shared)[0]
                       - loss_by_hand(down, adv, tgt, shared)[0]) / 2e-6
            assert grads[name][idx] == pytest.approx(numeric, rel=1e-3, abs=1e-6), (name, idx)

    # One step of torch's RMSprop from empty state: p -= lr g / (sqrt((1 - alpha) g^2) + eps).
    for name, q in learner.model.state_dict().items():
        g = grads[name]
        expected = before[name].double().numpy() - LR * g / (np.sqrt((1 - ALPHA) * g**2) + EPS)
        np.testing.assert_allclose(q.double().numpy(), expected, rtol=1e-5, atol=1e-7)
    assert learner.version == 1


def test_ortho_init_false_keeps_torch_default_init():
    cfg = dict(n_layers=2, layer_size=8)
    box, disc = spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(2)
    ortho = Learner(A2CConfig(**cfg), box, disc).model
    plain = Learner(A2CConfig(**cfg, ortho_init=False), box, disc).model
    # Orthogonal init zeroes the biases and scales the policy head by 0.01; PyTorch's
    # default (uniform within 1/sqrt(fan_in)) does neither.
    assert not ortho.actor_body[0].bias.any() and plain.actor_body[0].bias.abs().sum() > 0
    assert ortho.actor_head.weight.abs().max() < 0.02 < plain.actor_head.weight.abs().max()
    w = ortho.actor_body[2].weight.detach()
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(8), atol=1e-5, rtol=0)


def grad_by_hand(p, adv, tgt, steps):
    """Every gradient of the minibatch loss, by central differences."""
    grads = {}
    for name, value in p.items():
        grads[name] = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            up, down = {**p, name: value.copy()}, {**p, name: value.copy()}
            up[name][idx] += 1e-6
            down[name][idx] -= 1e-6
            grads[name][idx] = (loss_by_hand(up, adv, tgt, False, steps)[0]
                                - loss_by_hand(down, adv, tgt, False, steps)[0]) / 2e-6
    return grads


def test_epochs_of_minibatches_step_on_each_with_the_advantages_of_the_rollout():
    learner, batch, p = learner_and_batch(None, False, epochs_per_rollout=2, minibatch_size=2)
    adv, tgt = targets_by_hand(p, None, False)  # from the weights before the update, held fixed
    order = torch.Generator().manual_seed(learner.config.seed)  # the learner's shuffle
    square_avg = {k: np.zeros_like(v) for k, v in p.items()}
    policy_losses = []
    for _epoch in range(2):
        perm = torch.randperm(3, generator=order).numpy()
        for steps in (perm[:2], perm[2:]):  # every step once per epoch, the last minibatch short
            policy_losses.append(loss_by_hand(p, adv, tgt, False, steps)[1])
            for name, g in grad_by_hand(p, adv, tgt, steps).items():  # torch's RMSprop
                square_avg[name] = ALPHA * square_avg[name] + (1 - ALPHA) * g**2
                p[name] = p[name] - LR * g / (np.sqrt(square_avg[name]) + EPS)

    metrics = learner.update(batch)

    for name, q in learner.model.state_dict().items():
        np.testing.assert_allclose(q.double().numpy(), p[name], rtol=1e-4, atol=1e-6)
    assert metrics["policy_loss"] == pytest.approx(np.mean(policy_losses), rel=1e-4)
    assert learner.version == 1


def test_a_checkpoint_keeps_the_loading_processs_adam_implementation():
    from a2c_ray.sampling.envs import make_env

    cfg = A2CConfig(env_id="Pendulum-v1")
    env = make_env(cfg.env_id)
    saved = Learner(cfg, env.observation_space, env.action_space).state_dict()
    for group in saved["optimizer"]["param_groups"]:  # as a foreach-Adam checkpoint has them
        group.update(fused=None, foreach=True)
    learner = Learner(cfg, env.observation_space, env.action_space)
    learner.load_state_dict(saved)
    wanted = {k: learner.optimizer.defaults.get(k) for k in ("fused", "foreach")}
    assert all({k: g.get(k) for k in wanted} == wanted for g in learner.optimizer.param_groups)
