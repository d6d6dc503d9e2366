"""One driver per sweep: a resume waits for the driver before it to be gone.

A driver stopped with Ctrl-C or SIGTERM takes seconds to save Tune's state and stop its
trials; a ``--resume`` started in that time would restore the trials the old driver is still
running, and two drivers would write the same trial's checkpoints and Tune's files. So a
driver holds ``STORAGE/NAME/driver.json`` (its host, pid, the process's start time and a
heartbeat it renews every ``HEARTBEAT_S``) while it runs, and removes it at its end. The next
driver waits for the one the file names to end: on the same host, for its process to exit;
on another host, for its heartbeat to stop. One killed with SIGKILL left the file behind: its
process is gone at once, its heartbeat after ``STALE_S``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

import psutil

from a2c_ray.core import field_error
from a2c_ray.core import storage as st

log = logging.getLogger("a2c_ray")

HEARTBEAT_S = 10.0
STALE_S = 45.0  # a heartbeat this old names a driver that is gone


def _started(pid: int) -> float | None:
    """The start time of process ``pid``, None where it is gone."""
    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _alive(holder: dict[str, Any], now: float) -> bool:
    """Whether the driver a driver.json names still runs."""
    if holder.get("host") == socket.gethostname():
        started = _started(int(holder.get("pid", -1)))
        return started is not None and abs(started - float(holder.get("started", 0))) < 1.0
    return now - float(holder.get("heartbeat", 0)) < STALE_S


class DriverLock:
    """``with DriverLock(exp):`` the sweep's one driver; waits up to ``wait_s`` for another.

    Raises ConfigError (the command's exit code 2) when another driver still runs the sweep
    after ``wait_s``.
    """

    def __init__(self, exp: str, name: str, wait_s: float = 180.0) -> None:
        self.path = st.join(exp, "driver.json")
        self.name = name
        self.wait_s = wait_s
        self.me = {"host": socket.gethostname(), "pid": os.getpid(),
                   "started": psutil.Process().create_time()}
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(st.read_text(self.path))
        except (OSError, ValueError):  # none, or one cut off by a kill
            return None

    def _write(self) -> None:
        st.write_text(self.path, json.dumps({**self.me, "heartbeat": time.time()}))

    def __enter__(self) -> DriverLock:
        deadline, said = time.monotonic() + self.wait_s, False
        while (holder := self._holder()) is not None and _alive(holder, time.time()) and (
                {k: holder.get(k) for k in ("host", "pid")}
                != {k: self.me[k] for k in ("host", "pid")}):
            if time.monotonic() >= deadline:
                raise field_error(
                    "SweepConfig", "name", self.name,
                    f"is still run by another driver (pid {holder.get('pid')} on "
                    f"{holder.get('host')}, {self.path}): stop it, or wait for it to end")
            if not said:
                log.warning("waiting for the sweep's previous driver (pid %s on %s) to end",
                            holder.get("pid"), holder.get("host"))
                said = True
            time.sleep(0.5)
        self._write()
        self._beat = threading.Thread(target=self._heartbeat, name="a2c-driver-heartbeat",
                                      daemon=True)
        self._beat.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self._write()
            except OSError as err:  # storage away for a while: the next beat tries again
                log.debug("driver heartbeat not written: %s", err)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=HEARTBEAT_S)
        holder = self._holder()
        if holder is not None and holder.get("pid") == self.me["pid"] and (
                holder.get("host") == self.me["host"]):
            fs, path = st.filesystem(self.path)
            try:
                fs.delete_file(path)
            except OSError:
                pass

