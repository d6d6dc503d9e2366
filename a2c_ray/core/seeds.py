"""Which seeds train in a sweep and which are kept for testing.

Tune on training seeds, report on test seeds nothing else used (Eimer, Lindauer and
Raileanu, "Hyperparameters in Reinforcement Learning and How To Tune Them", ICML 2023):

* trial n (0, 1, ...) of a sweep run with ``--seed s`` and S seeds per trial trains on
  ``1,000,000 * (s + 1) + n * S + j`` for j < S, so no two trials of a sweep share a seed;
* test seeds are 10,000, 10,001, ...: the same for every sweep, so the winners of two sweeps
  are compared on the same seeds, and no sweep trains on them.
"""

from __future__ import annotations

TEST_SEED_START = 10_000
TRAIN_SEED_BLOCK = 1_000_000
MAX_SWEEP_SEED = 1_000  # keeps training seeds below 2**31 - 1 with room for the env offsets
MAX_TEST_SEEDS = 1_000  # keeps the test seeds below the first training seed


def train_seeds(sweep_seed: int, trial_number: int, per_trial: int) -> list[int]:
    """The training seeds of trial ``trial_number`` of a sweep seeded ``sweep_seed``."""
    first = TRAIN_SEED_BLOCK * (sweep_seed + 1) + trial_number * per_trial
    return list(range(first, first + per_trial))


def test_seeds(count: int) -> list[int]:
    """The first ``count`` test seeds."""
    return list(range(TEST_SEED_START, TEST_SEED_START + count))
