"""The documentation: the site builds strictly, its pages render, and the text names its sources."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import dump_dom

ROOT = Path(__file__).resolve().parents[1]
USER_FACING = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
               *sorted((ROOT / "benchmarks").rglob("README.md"))]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                        str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT,
                       env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _dom(page: Path, tmp_path: Path) -> str:
    return dump_dom(page.as_uri(), tmp_path)


def test_the_site_builds_with_every_page_and_generated_reference(site):
    for page in ("index", "design", "training", "sweeps", "results", "cluster", "algorithm",
                 "returns", "benchmarks", "cli", "api"):
        path = site / "index.html" if page == "index" else site / page / "index.html"
        assert path.is_file(), page
    cli = (site / "cli" / "index.html").read_text()
    for flag in ("--num-samples", "--seeds-per-trial", "--start-from", "--max-steps", "--gif",
                 "--parquet"):
        assert flag in cli, flag
    api = (site / "api" / "index.html").read_text()
    for name in ("SweepConfig", "num_samples", "A2CConfig", "value_grad_steps", "load_trials",
                 "compute_gae", "SweepResult"):
        assert name in api, name


def test_the_pages_render_in_a_browser(site, tmp_path):
    home = _dom(site / "index.html", tmp_path)
    assert "Quick start" in home and "python -m a2c_ray.tune --num-samples 200" in home
    api = _dom(site / "api" / "index.html", tmp_path)
    assert 'id="a2c_ray.tuning.config.SweepConfig"' in api
    # the search index Material builds works offline
    assert (site / "search" / "search_index.json").is_file()


def test_links_between_the_documents_resolve():
    broken = []
    for doc in USER_FACING:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" in target:
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_sources_are_named_by_their_public_names():
    """No source by a seed number, no issue number, no path outside the repository."""
    pattern = re.compile(r"[Ss]eed 00[0-9]|SEED_00|[Ii]ssue [0-9]+|shared/")
    files = [*USER_FACING, *sorted((ROOT / "a2c_ray").rglob("*.py")),
             *sorted((ROOT / "benchmarks").rglob("*.py"))]
    found = [f"{f.relative_to(ROOT)}:{n}" for f in files
             for n, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found
