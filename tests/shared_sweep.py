"""One finished sweep that several test files read, run once per test session.

``python -m a2c_ray.tune`` on CartPole-v1 as a user runs it: 6 trials of two seeds each, rungs
at 2048 and 6144 env steps (ASHA stops some at the first), a ``--start-from`` configuration, a
user's own network, tracked in MLflow (a SQLite store beside the sweep), then the best trial
re-trained on 2 validation seeds and the pick on 2 test seeds. tests/test_tune.py checks what
the sweep did; tests/test_results.py reads it as a user's notebook, the report and ``evaluate``
would; tests/test_tracking.py opens it in MLflow and optuna-dashboard. None writes into it.

With pytest-xdist the workers share it: the first to ask runs it under a file lock, the other
finds it made (the pattern pytest-xdist's docs give for a session fixture made once). A sweep
that failed fails every test that asked for it, with its stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
NAME = "cp"
SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
    "gamma": {"type": "categorical", "values": [0.95, 0.99]},
    "rollout_length": {"type": "categorical", "values": [5, 32]},
    "value_grad_steps": {"type": "categorical", "values": [1, 5]},
    "epochs_per_rollout": {"type": "categorical", "values": [1, 2]},
}
# a full config: only its searched fields are used
PRESET = {"env_id": "Acrobot-v1", "learning_rate": 2e-3, "gamma": 0.95, "rollout_length": 32,
          "value_grad_steps": 5, "epochs_per_rollout": 2}
NETWORK = "tests.networks:layer_norm_mlp"
NUM_SAMPLES = 6
MAX_STEPS = 6144


@dataclass(frozen=True)
class FinishedSweep:
    """The sweep's directory, where it was stored, what the command printed, and its MLflow
    tracking URI."""

    path: Path
    storage: Path
    stdout: str

    @property
    def mlflow_uri(self) -> str:
        return mlflow_uri(self.storage)


def mlflow_uri(storage: Path) -> str:
    """The sweep's MLflow store: a SQLite file beside the sweep, not in it."""
    return f"sqlite:///{storage / 'mlflow.db'}"


def args(storage: Path) -> list[str]:
    """The command line's arguments, its files written under ``storage``."""
    space, preset = storage / "space.json", storage / "preset.json"
    space.write_text(json.dumps(SPACE))
    preset.write_text(json.dumps(PRESET))
    return ["--num-samples", str(NUM_SAMPLES), "--env", "CartPole-v1", "--max-steps",
            str(MAX_STEPS), "--grace-steps", "2048", "--reduction-factor", "3",
            "--seeds-per-trial", "2", "--set", "eval_episodes=2", "--checkpoint-every", "5",
            "--search-space", str(space), "--start-from", str(preset),
            "--set", f"network={NETWORK}", "--confirm-top", "1", "--confirm-seeds", "2",
            "--test-seeds", "2", "--track", "mlflow", "--storage-path", str(storage),
            "--name", NAME]


def finished_sweep(root: Path) -> FinishedSweep:
    """The sweep under ``root``: run by the first caller, read by the rest."""
    storage = root / "shared_sweep"
    ran = storage / "ran.json"
    with FileLock(str(root / "shared_sweep.lock")):
        if not ran.exists():
            storage.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri(storage)}
            r = subprocess.run([sys.executable, "-m", "a2c_ray.tune", *args(storage)],
                               capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
            ran.write_text(json.dumps({"returncode": r.returncode, "stdout": r.stdout,
                                       "stderr": r.stderr}))
    result = json.loads(ran.read_text())
    assert result["returncode"] == 0, result["stderr"][-3000:]
    return FinishedSweep(storage / NAME, storage, result["stdout"])
