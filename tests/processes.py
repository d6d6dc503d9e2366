"""Processes of the Ray clusters a test started, and only those.

The suite runs beside other Ray clusters: its own tests in other pytest-xdist workers, or a
user's sweep. A test that looks for, kills or stops Ray processes must find its own cluster's
and leave everyone else's alone.
"""

from __future__ import annotations

import signal

import psutil


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def descendants_named(pid: int, name: str) -> list[psutil.Process]:
    """Processes under ``pid`` whose command line contains ``name`` (``ray::SeedRunner``).

    A local Ray that a driver starts (``ray.init()``) runs its raylet, and so every worker and
    actor, under the driver's process.
    """
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in children if name in _cmdline(p)]


def session_of_gcs_port(port: int) -> str | None:
    """The session directory of the Ray cluster whose GCS listens on ``port``, if one runs."""
    for p in psutil.process_iter():
        words = _cmdline(p).split()
        if words and words[0].endswith("gcs_server") and f"--gcs_server_port={port}" in words:
            log_dir = next((w.split("=", 1)[1] for w in words if w.startswith("--log_dir=")),
                           None)
            return log_dir.rsplit("/logs", 1)[0] if log_dir else None
    return None


def session_processes(session: str) -> list[psutil.Process]:
    """Every process of a Ray session: those naming its directory, and all under them."""
    roots = [p for p in psutil.process_iter() if f"{session}/" in _cmdline(p)]
    found = {p.pid: p for p in roots}
    for p in roots:
        try:
            found.update({c.pid: c for c in p.children(recursive=True)})
        except psutil.NoSuchProcess:
            pass
    return list(found.values())


def raylets(session: str) -> list[psutil.Process]:
    """The raylets (one per node) of a Ray session."""
    return [p for p in session_processes(session) if "raylet/raylet" in _cmdline(p)]


def kill_session(session: str) -> None:
    """SIGKILL every process of a Ray session, as ``ray stop --force`` does to every session."""
    for p in session_processes(session):
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
