"""Suite-wide set-up: the suite runs in two pytest-xdist workers (pyproject's addopts)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Before the workers start, make sure Ray's default auth token exists.

    Ray 2.60 turns on token authentication for a local cluster that ``ray.init()`` starts and,
    on a machine that has none, writes a new token to ~/.ray/auth_token (the path Ray's
    token-auth docs give). Two workers starting their first clusters at once on a fresh machine
    would each write one, and a cluster could find the other's token in the file. Written once
    here, before any worker runs, every cluster of the suite reads the same token.
    """
    if hasattr(config, "workerinput") or os.environ.get("RAY_AUTH_MODE", "") == "disabled":
        return  # a worker (the controller did it), or Ray's token auth turned off
    token = Path.home() / ".ray" / "auth_token"
    if not token.exists():
        token.parent.mkdir(parents=True, exist_ok=True)
        token.write_text(secrets.token_hex(32))


# The test files that start sweeps, about in the order of their time on 2 cores (`pytest
# --durations=0`: from 210-240 s for test_tune.py down to 20-30 s for test_actors.py; files
# near each other swap places from run to run). pytest-xdist hands each file to the worker
# that is free (pyproject's `--dist loadfile`, in collection order there), so the long files
# go first and the two workers end together instead of one running the last long file alone.
LONGEST_FIRST = (
    "test_tune.py", "test_selection.py", "test_faults.py", "test_tracking.py", "test_s3.py",
    "test_fault_soak.py", "test_driver.py", "test_results.py", "test_peer_sweep.py",
    "test_cli.py", "test_images.py",
    "test_mujoco_returns.py", "test_cluster.py", "test_learning.py", "test_lockstep.py",
    "test_sweep_config.py", "test_actors.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the files as ``LONGEST_FIRST`` has them, the rest after in their own order."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory, worker_id: str):
    """The suite's one shared, finished sweep (tests/shared_sweep.py), made once per run.

    Under pytest-xdist each worker's temporary directory sits in one the run's workers share;
    in one process (``-n 0``) the run's own directory is the shared one.
    """
    from tests.shared_sweep import finished_sweep

    root = tmp_path_factory.getbasetemp()
    return finished_sweep(root if worker_id == "master" else root.parent)
