"""What the side-by-side benchmarks against SB3 share (dict_obs.py, atari.py).

Each trains two rows (a2c_ray and SB3's A2C) on the same seeds, one subprocess a run, keeps a
JSON record that a stopped measurement continues from, and draws each row's evaluation curve
as the mean over seeds with the min to max shaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


def run_logged(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Run ``cmd`` from the repository root, its output appended to ``log``.

    Returns the peak resident memory of its process tree in bytes (sampled every 2 s); exits
    naming the log where the command fails. The peak is kept beside the log as it rises
    (``NAME.peak``), so that a run stopped and resumed by a later call (a machine's session
    ended) reports the peak over all its parts.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    print("$", " ".join(cmd), f"  (log: {log})", flush=True)
    kept = log.with_suffix(".peak")
    peak = [int(kept.read_text()) if kept.exists() else 0]
    with log.open("a") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **(env or {})})
        done = threading.Event()

        def watch() -> None:
            while not done.wait(2.0):
                rss = _tree_rss(proc.pid)
                if rss > peak[0]:
                    peak[0] = rss
                    tmp = kept.with_suffix(".peak.tmp")
                    tmp.write_text(str(rss))
                    tmp.replace(kept)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        code = proc.wait()
        done.set()
        watcher.join()
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}: see {log}")
    return peak[0]


def run_rows(record: dict[str, Any], path: Path, jobs: list[tuple[str, int]],
             train: dict[str, Callable[[int], dict[str, Any]]], n_jobs: int,
             say: Callable[[dict[str, Any]], str]) -> None:
    """Train every (row, seed) of ``jobs``, ``n_jobs`` at a time; the record after each.

    ``train[row](seed)`` returns the run's result, kept as ``record["rows"][row][seed]``; the
    record is written whole after each run (one writer at a time, replaced atomically), so a
    stopped measurement continues with the runs it lacks. ``say`` words a result for the log.
    """
    lock = threading.Lock()

    def one(job: tuple[str, int]) -> None:
        row, seed = job
        result = train[row](seed)
        with lock:
            record["rows"][row][str(seed)] = result
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=1))
            tmp.replace(path)
        print(f"{row} seed {seed}: {say(result)}", flush=True)

    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with ThreadPoolExecutor(n_jobs) as pool:
        list(pool.map(one, jobs))
    print(f"{len(jobs)} runs in {time.monotonic() - start:.0f} s; record: {path}")


def curve_band(runs: list[dict[str, Any]], key: str) -> tuple[list[int], np.ndarray]:
    """The evaluation points every run has, in order, and the runs' values there [runs, points]."""
    steps = sorted(set.intersection(*(set(r["curve"]["env_steps"]) for r in runs)))
    values = np.array([[dict(zip(r["curve"]["env_steps"], r["curve"][key], strict=True))[s]
                        for s in steps] for r in runs])
    return steps, values
