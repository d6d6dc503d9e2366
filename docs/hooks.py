"""mkdocs hooks: each command's --help, and the repository's READMEs, put into their pages.

``<!-- help: a2c_ray.tune -->`` becomes the output of ``python -m a2c_ray.tune --help``, so the
commands page lists every flag as the installed commands give them; ``<!-- include: PATH -->``
becomes that file of the repository, its links made to point into the site, and
``<!-- include: PATH +1 -->`` the same with its headings one level down (a benchmark theme's
README under the benchmarks page's own title).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THEMES = ("speed", "cost", "selection", "returns", "faults")  # benchmarks/THEME/README.md
# links of the repository's own Markdown (README.md, benchmarks/README.md and its themes'), where
# a page of the site includes it, and where they point in the site: the benchmarks page holds
# the index and every theme
LINKS = {"../docs/": "", "docs/": "", "../../docs/": "", "benchmarks/README.md": "benchmarks.md",
         "../README.md": "benchmarks.md",
         **{f"{pre}{theme}/README.md": "benchmarks.md"
            for theme in THEMES for pre in ("", "../", "benchmarks/")}}


def _help(module: str) -> str:
    env = {**os.environ, "COLUMNS": "100", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                         cwd=ROOT, env=env, check=True, timeout=300)
    return f"```text\n{out.stdout.rstrip()}\n```"


def _include(path: str, shift: str = "") -> str:
    text = (ROOT / path).read_text()
    for old, new in LINKS.items():
        text = text.replace(f"]({old}", f"]({new}")
    if shift:
        fence = False
        lines = text.split("\n")
        for i, line in enumerate(lines):
            fence ^= line.startswith("```")
            if not fence and line.startswith("#"):
                lines[i] = "#" * int(shift) + line
        text = "\n".join(lines)
    return text


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 (mkdocs' signature)
    markdown = re.sub(r"<!-- help: ([\w.]+) -->", lambda m: _help(m.group(1)), markdown)
    return re.sub(r"<!-- include: ([\w./-]+)(?: \+(\d))? -->",
                  lambda m: _include(m.group(1), m.group(2) or ""), markdown)
