import numpy as np
import pytest

from a2c_ray.gae import compute_gae, td_lambda_returns


def random_rollout(seed, T=40, N=5):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, N))
    values = rng.normal(size=(T, N))
    next_values = rng.normal(size=(T, N))
    terminated = rng.random((T, N)) < 0.08
    truncated = (rng.random((T, N)) < 0.08) & ~terminated
    # As in a real rollout, the next state of a step that did not end its episode is the
    # state of the following step (only then does lambda=1 telescope to a return).
    done = terminated | truncated
    next_values[:-1] = np.where(done[:-1], next_values[:-1], values[1:])
    return rewards, values, next_values, terminated, truncated


def naive_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Per env, per step: sum of discounted deltas up to and including the episode's end."""
    T, N = rewards.shape
    adv = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, weight = 0.0, 1.0
            for k in range(t, T):
                boot = 0.0 if terminated[k, n] else gamma * next_values[k, n]
                total += weight * (rewards[k, n] + boot - values[k, n])
                if terminated[k, n] or truncated[k, n]:
                    break
                weight *= gamma * lam
            adv[t, n] = total
    return adv


def naive_return_to_go(rewards, values, next_values, terminated, truncated, gamma):
    """Discounted return to the episode's end, bootstrapped at truncation and rollout end."""
    T, N = rewards.shape
    out = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            g, disc = 0.0, 1.0
            for k in range(t, T):
                g += disc * rewards[k, n]
                disc *= gamma
                if terminated[k, n]:
                    break
                if truncated[k, n] or k == T - 1:
                    g += disc * next_values[k, n]
                    break
            out[t, n] = g
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.5), (1.0, 0.8)])
def test_gae_matches_naive_reference(seed, gamma, lam):
    data = random_rollout(seed)
    got = compute_gae(*data, gamma, lam)
    np.testing.assert_allclose(got, naive_gae(*data, gamma, lam), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_lambda_zero_is_td_error(seed):
    r, v, nv, term, trunc = random_rollout(seed)
    td = r + 0.97 * (1 - term) * nv - v
    np.testing.assert_allclose(compute_gae(r, v, nv, term, trunc, 0.97, 0.0), td, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_lambda_one_is_return_minus_value(seed):
    r, v, nv, term, trunc = random_rollout(seed)
    expected = naive_return_to_go(r, v, nv, term, trunc, 0.97) - v
    np.testing.assert_allclose(compute_gae(r, v, nv, term, trunc, 0.97, 1.0), expected,
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_td_lambda_returns(lam):
    r, v, nv, term, trunc = random_rollout(3)
    got = td_lambda_returns(r, v, nv, term, trunc, 0.95, lam)
    np.testing.assert_allclose(got, naive_gae(r, v, nv, term, trunc, 0.95, lam) + v, atol=1e-10)
    if lam == 0.0:
        np.testing.assert_allclose(got, r + 0.95 * (1 - term) * nv, atol=1e-12)
    if lam == 1.0:
        np.testing.assert_allclose(got, naive_return_to_go(r, v, nv, term, trunc, 0.95),
                                   atol=1e-10)


def test_hand_computed_small_case():
    # One env, 3 steps: terminated after step 1, rollout continues into a new episode.
    r = np.array([[1.0], [2.0], [3.0]])
    v = np.array([[0.5], [0.4], [0.3]])
    nv = np.array([[0.4], [9.0], [0.7]])  # 9.0 must be ignored: step 1 terminated
    term = np.array([[False], [True], [False]])
    trunc = np.zeros_like(term)
    g, lam = 0.9, 0.5
    d2 = 3.0 + g * 0.7 - 0.3
    d1 = 2.0 - 0.4
    d0 = 1.0 + g * 0.4 - 0.5
    expected = np.array([[d0 + g * lam * d1], [d1], [d2]])
    np.testing.assert_allclose(compute_gae(r, v, nv, term, trunc, g, lam), expected)


def test_truncation_bootstraps_and_stops():
    r = np.array([[1.0], [1.0]])
    v = np.zeros((2, 1))
    nv = np.array([[5.0], [7.0]])  # 5.0 = V(final obs) of the truncated episode
    trunc = np.array([[True], [False]])
    term = np.zeros_like(trunc)
    adv = compute_gae(r, v, nv, term, trunc, 0.5, 1.0)
    np.testing.assert_allclose(adv, [[1.0 + 0.5 * 5.0], [1.0 + 0.5 * 7.0]])


def test_shape_mismatch_is_an_error():
    r = np.zeros((3, 2))
    with pytest.raises(ValueError, match="values has shape"):
        compute_gae(r, np.zeros((3, 1)), r, r.astype(bool), r.astype(bool), 0.9, 0.9)
