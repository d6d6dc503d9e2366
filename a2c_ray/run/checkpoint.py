"""Checkpoints that load without unpickling, local or s3://.

A checkpoint is a directory:

* ``config.json``: the A2CConfig;
* ``learner.pt``: model and optimizer state dicts, read with ``torch.load(weights_only=True)``;
* ``state.json`` + ``arrays.npz``: counters, normaliser statistics, RNG and environment states
  as plain JSON with numpy arrays beside it (read with ``allow_pickle=False``).

A checkpoint from an untrusted bucket therefore cannot run code when loaded. A sweep's trial
of several seeds saves them together: ``seeds.json`` (the seeds, written last) and one such
directory per seed, ``seed-<seed>/``.

A run keeps its checkpoints in a ``CheckpointStore``: ``RUN/checkpoint/`` for a train run,
``TRIAL/checkpoint/`` for a sweep's trial. Each save is a new subdirectory named by its
iteration, and the small file ``latest`` naming it is written last, so a run killed while
saving (or a store on S3, where nothing can be renamed atomically) always leaves the previous
checkpoint whole and named. Every reader of a checkpoint goes through ``resolve`` here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from a2c_ray.core import A2CConfig
from a2c_ray.core import storage as st

FILES = ("config.json", "learner.pt", "state.json", "arrays.npz")
LATEST = "latest"  # in a store: the name of its newest complete checkpoint
SEEDS = "seeds.json"  # in a checkpoint of several seeds: their list; one directory each


class CheckpointError(ValueError):
    """A path is not a readable a2c_ray checkpoint."""


def seed_dirname(seed: int) -> str:
    """The directory of one seed in a checkpoint of several."""
    return f"seed-{seed}"


def _complete(uri: str) -> bool:
    names = {e.name for e in st.list_dir(uri) if not e.is_dir}
    if names >= set(FILES):
        return True
    return SEEDS in names and all(_complete(u) for u in seed_checkpoints(uri))


def seed_checkpoints(uri: str) -> list[str]:
    """The one-seed checkpoints in a checkpoint: each seed's directory, or ``uri`` itself."""
    if not st.exists(st.join(uri, SEEDS)):
        return [uri]
    try:
        seeds = json.loads(st.read_text(st.join(uri, SEEDS)))
    except ValueError:
        raise CheckpointError(f"checkpoint file {st.join(uri, SEEDS)} is damaged") from None
    return [st.join(uri, seed_dirname(int(s))) for s in seeds]


class CheckpointStore:
    """A run's checkpoints under one directory or URI, the newest ``keep`` of them kept."""

    def __init__(self, uri: str | Path, keep: int = 2) -> None:
        self.uri = st.resolve(uri)
        self.keep = keep

    def save(self, iteration: int, write: Callable[[Path], Any]) -> str:
        """Write checkpoint ``iteration`` with ``write(local_dir)``; returns its URI."""
        name = f"{iteration:09d}"
        target = st.join(self.uri, name)
        if st.is_remote(self.uri):
            with tempfile.TemporaryDirectory() as tmp:
                write(Path(tmp) / name)
                st.copy_dir(str(Path(tmp) / name), target)
        else:
            write(Path(target))
        st.write_text(st.join(self.uri, LATEST), name)  # the checkpoint exists once named
        for entry in self._checkpoints()[: -self.keep]:
            if entry.name != name:
                st.delete_dir(entry.uri)
        return target

    def _checkpoints(self) -> list[st.Entry]:
        return [e for e in st.list_dir(self.uri) if e.is_dir and e.name.isdigit()]

    def latest(self) -> str | None:
        """The newest complete checkpoint: the one ``latest`` names, else the newest whole one."""
        pointer = st.join(self.uri, LATEST)
        if st.exists(pointer):
            named = st.join(self.uri, st.read_text(pointer).strip())
            if _complete(named):
                return named
        for entry in reversed(self._checkpoints()):
            if _complete(entry.uri):
                return entry.uri
        return None


def resolve(path: str | Path) -> str | None:
    """The checkpoint a path means: a checkpoint directory itself, or a store's newest one.

    Also takes the directory that holds a store (a train run or a sweep trial). Returns None
    where there is none.
    """
    uri = st.resolve(path)
    if _complete(uri):
        return uri
    for store in (uri, st.join(uri, "checkpoint")):
        found = CheckpointStore(store).latest()
        if found is not None:
            return found
    return None


def is_checkpoint(path: str | Path) -> bool:
    """Whether a path (checkpoint, store, run or trial directory) resolves to a checkpoint."""
    return resolve(path) is not None


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local directory holding the checkpoint at ``uri`` (downloaded if it is remote)."""
    if not st.is_remote(uri):
        yield Path(uri)
        return
    with tempfile.TemporaryDirectory() as tmp:
        st.copy_dir(uri, tmp)
        yield Path(tmp)


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
    import torch

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


def _require(path: str | Path) -> str:
    """The one-seed checkpoint a path means: of a trial of several seeds, its first seed's."""
    uri = resolve(path)
    if uri is None:
        raise CheckpointError(
            f"{str(path)!r} holds no a2c_ray checkpoint: expected a checkpoint directory (files "
            f"{', '.join(FILES)}), or a run or trial directory holding one"
        )
    return seed_checkpoints(uri)[0]


def load_checkpoint(path: str | Path) -> tuple[A2CConfig, dict[str, Any], dict[str, Any]]:
    """Read a checkpoint: (config, learner state dict, the rest of the state).

    ``path`` is anything ``resolve`` takes, local or remote. A file that cannot be read
    raises CheckpointError naming it; nothing is written.
    """
    uri = _require(path)
    with local_copy(uri) as local:
        return _load(local, uri)


def load_config(path: str | Path) -> A2CConfig:
    """Only the config of a checkpoint (or of a run or trial directory holding one)."""
    uri = _require(path)
    return _read(uri, "config.json",
                 lambda name: A2CConfig.from_json_text(st.read_text(st.join(uri, name)), name))


def _read(uri: str, name: str, read: Callable[[str], Any]) -> Any:
    """``read(name)``, with any failure turned into one line naming the file in ``uri``."""
    try:
        return read(name)
    except Exception as err:  # noqa: BLE001  (torch, numpy and json each raise their own)
        first = " ".join(str(err).split()).split(". ")[0][:100]  # torch's run to pages
        cause = type(err).__name__ + (f": {first}" if first else "")
        raise CheckpointError(f"checkpoint file {st.join(uri, name)} is damaged or not an "
                              f"a2c_ray checkpoint ({cause})") from err


def _load(local: Path, uri: str) -> tuple[A2CConfig, dict[str, Any], dict[str, Any]]:
    import torch

    def npz(name: str) -> dict[str, np.ndarray]:
        with np.load(local / name, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    def torch_file(name: str) -> Any:
        with warnings.catch_warnings():  # the error says it; torch would warn as well
            warnings.simplefilter("ignore")
            return torch.load(local / name, weights_only=True, map_location="cpu")

    config = _read(uri, "config.json", lambda name: A2CConfig.from_json(local / name))
    learner = _read(uri, "learner.pt", torch_file)
    arrays = _read(uri, "arrays.npz", npz)
    state = _read(uri, "state.json",
                  lambda name: _join(json.loads((local / name).read_text()), arrays))
    if not isinstance(learner, dict) or not isinstance(state, dict) or "learner" not in state:
        raise CheckpointError(f"checkpoint {uri} is not an a2c_ray checkpoint: its learner.pt or "
                              "state.json lacks the expected entries")
    learner.update(state.pop("learner"))
    return config, learner, state
