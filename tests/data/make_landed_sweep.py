"""Make tests/data/landed_sweep: a sweep that an earlier a2c_ray saved and a SIGKILL stopped.

    git worktree add /tmp/landed 46a9158    # the version whose files the test must resume
    python tests/data/make_landed_sweep.py --code /tmp/landed

Runs ``python -m a2c_ray.tune`` from ``--code`` (3 one-seed trials of CartPole-v1, one at a
time), kills the driver and its Ray with SIGKILL once Tune's saved state holds a finished trial
and a running one, and keeps the directory without TensorBoard's event files.
tests/test_sweep_config.py resumes a copy of it with today's code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
NAME = "landed_sweep"


def saved_states(exp: Path) -> list[str]:
    """Trial statuses in Tune's newest saved experiment state."""
    states = sorted(exp.glob("experiment_state-*.json"))
    if not states:
        return []
    try:
        saved = json.loads(states[-1].read_text())
    except json.JSONDecodeError:  # being written
        return []
    return [json.loads(t[0])["status"] if isinstance(t, list) else "?"
            for t in saved.get("trial_data", [])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--code", required=True, help="a checkout of the version to save with")
    p.add_argument("--out", default=str(HERE / NAME))
    a = p.parse_args()
    store = Path(tempfile.mkdtemp())
    exp = store / NAME
    cmd = [sys.executable, "-m", "a2c_ray.tune", "--env", "CartPole-v1", "--num-samples", "3",
           "--max-steps", "6000", "--grace-steps", "6000", "--seeds-per-trial", "1",
           "--max-concurrent-trials", "1", "--confirm-top", "0", "--checkpoint-every", "2",
           "--storage-path", str(store), "--name", NAME]
    env = {**os.environ, "PYTHONPATH": str(Path(a.code).resolve())}
    proc = subprocess.Popen(cmd, cwd=a.code, env=env, start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        states = saved_states(exp)
        if states.count("TERMINATED") >= 1 and "RUNNING" in states:
            break
        time.sleep(0.2)
    if proc.poll() is not None:
        sys.exit(f"the sweep ended ({proc.returncode}) before it could be killed mid-way")
    tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for q in tree:
        try:
            q.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    for events in exp.rglob("events.out.tfevents*"):
        events.unlink()
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(exp, out)
    commit = subprocess.run(["git", "-C", a.code, "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    (out / "MADE_BY.txt").write_text(
        f"made by tests/data/make_landed_sweep.py with a2c_ray at {commit}; Tune's saved trial "
        f"states at the kill: {saved_states(exp)}\n")
    print(f"wrote {out}: {saved_states(exp)}")


if __name__ == "__main__":
    main()
