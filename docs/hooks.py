"""mkdocs hooks: each command's --help, and benchmarks/README.md, put into their pages.

``<!-- help: a2c_ray.tune -->`` becomes the output of ``python -m a2c_ray.tune --help``, so the
commands page lists every flag as the installed commands give them; ``<!-- include: PATH -->``
becomes that file of the repository, its links made to point into the site.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# links of the repository's own Markdown (README.md, benchmarks/README.md), where a page of the
# site includes it, and where they point in the site
LINKS = {"../docs/": "", "docs/": "", "benchmarks/README.md": "benchmarks.md"}


def _help(module: str) -> str:
    env = {**os.environ, "COLUMNS": "100", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                         cwd=ROOT, env=env, check=True, timeout=300)
    return f"```text\n{out.stdout.rstrip()}\n```"


def _include(path: str) -> str:
    text = (ROOT / path).read_text()
    for old, new in LINKS.items():
        text = text.replace(f"]({old}", f"]({new}")
    return text


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 (mkdocs' signature)
    markdown = re.sub(r"<!-- help: ([\w.]+) -->", lambda m: _help(m.group(1)), markdown)
    return re.sub(r"<!-- include: ([\w./-]+) -->", lambda m: _include(m.group(1)), markdown)
