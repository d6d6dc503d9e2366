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
