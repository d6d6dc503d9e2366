"""The seed sets: which seeds a sweep trains on, which pick its winner, which report it.

Tune on training seeds, pick on validation seeds, report on test seeds nothing else used
(Eimer, Lindauer and Raileanu, "Hyperparameters in Reinforcement Learning and How To Tune
Them", ICML 2023). The sets never overlap:

* trial n (0, 1, ...) of a sweep run with ``--seed s`` and at most S seeds per trial trains on
  ``1,000,000 * (s + 1) + n * S + j`` for j < S (a trial that earns seeds at a rung takes the
  next of its own S), so no two trials of a sweep share a seed;
* validation seeds are 30,000, 30,001, ...: the sweep's best configurations are re-trained on
  them, and the best there is the pick;
* test seeds are 10,000, 10,001, ...: only the pick is trained on them, for the figure a table
  reports; they choose nothing. The same for every sweep, so the picks of two sweeps are
  compared on the same seeds.
"""

from __future__ import annotations

TEST_SEED_START = 10_000
VALIDATION_SEED_START = 30_000
TRAIN_SEED_BLOCK = 1_000_000
MAX_SWEEP_SEED = 1_000  # keeps training seeds below 2**31 - 1 with room for the env offsets
MAX_TEST_SEEDS = 1_000  # keeps the test seeds below the next set
MAX_VALIDATION_SEEDS = 1_000


def train_seeds(sweep_seed: int, trial_number: int, per_trial: int) -> list[int]:
    """The training seeds of trial ``trial_number`` of a sweep seeded ``sweep_seed``."""
    first = TRAIN_SEED_BLOCK * (sweep_seed + 1) + trial_number * per_trial
    return list(range(first, first + per_trial))


def test_seeds(count: int) -> list[int]:
    """The first ``count`` test seeds."""
    return list(range(TEST_SEED_START, TEST_SEED_START + count))


def validation_seeds(count: int) -> list[int]:
    """The first ``count`` validation seeds."""
    return list(range(VALIDATION_SEED_START, VALIDATION_SEED_START + count))
