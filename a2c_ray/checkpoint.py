"""Checkpoints that load without unpickling anything.

A checkpoint is a directory:

* ``config.json``: the A2CConfig;
* ``learner.pt``: model and optimizer state dicts, read with ``torch.load(weights_only=True)``;
* ``state.json`` + ``arrays.npz``: counters, normaliser statistics, RNG and environment states
  as plain JSON with numpy arrays beside it (read with ``allow_pickle=False``).

A checkpoint from an untrusted bucket therefore cannot run code when loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2c_ray.config import A2CConfig

FILES = ("config.json", "learner.pt", "state.json", "arrays.npz")


def is_checkpoint(path: str | Path) -> bool:
    """Whether a local directory holds every file of a checkpoint."""
    return all((Path(path) / f).is_file() for f in FILES)


class CheckpointError(ValueError):
    """A path is not a readable a2c_ray checkpoint."""


def _split(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Replace numpy arrays by references into ``arrays``; make everything else JSON-able."""
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): _split(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_split(v, arrays) for v in obj]
    return obj


def _join(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _join(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, arrays) for v in obj]
    return obj


def save_checkpoint(
    path: str | Path, config: A2CConfig, learner: dict[str, Any], state: dict[str, Any]
) -> Path:
    """Write a checkpoint directory atomically: readers never see a half-written one.

    Args:
        path: directory to write (replaced if it exists).
        config: the run's configuration.
        learner: ``Learner.state_dict()``; its model and optimizer go to learner.pt.
        state: everything else, plain values and numpy arrays.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        torch.save({"model": learner["model"], "optimizer": learner["optimizer"]},
                   tmp / "learner.pt")
        rest = {k: v for k, v in learner.items() if k not in ("model", "optimizer")}
        arrays: dict[str, np.ndarray] = {}
        tree = _split({"learner": rest, **state}, arrays)
        np.savez(tmp / "arrays.npz", **arrays)
        (tmp / "state.json").write_text(json.dumps(tree))
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> tuple[A2CConfig, dict[str, Any], dict[str, Any]]:
    """Read a checkpoint: (config, learner state dict, the rest of the state)."""
    path = Path(path)
    missing = [f for f in FILES if not (path / f).is_file()]  # named in the error
    if missing:
        raise CheckpointError(
            f"{str(path)!r} is not an a2c_ray checkpoint: missing {', '.join(missing)}"
        )
    config = A2CConfig.from_json(path / "config.json")
    learner = torch.load(path / "learner.pt", weights_only=True)
    with np.load(path / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    state = _join(json.loads((path / "state.json").read_text()), arrays)
    learner.update(state.pop("learner"))
    return config, learner, state
