"""Headless Chromium for the tests that look at a page as a user's browser shows it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(url: str, tmp_path: Path, window: str = "1280,900", budget_ms: int | None = None,
             timeout: int = 120) -> str:
    """The page's DOM after its scripts ran (``budget_ms`` of virtual time to let them)."""
    if CHROMIUM is None:
        pytest.skip("needs Chromium (apt-get install chromium), as .ci/run installs it")
    budget = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'chromium'}", f"--window-size={window}",
                        *budget, "--dump-dom", url],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout
