"""The layering of shared/DESIGN.md, read from the imports: no module imports a later layer."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "a2c_ray"
EXEMPT = {"cli", "__init__"}  # command-line plumbing and the lazy package face


def layer(name):
    first = (ast.get_docstring(ast.parse((PACKAGE / f"{name}.py").read_text())) or "")
    found = re.match(r"Layers? (\d)(?: and (\d))?", first)
    assert found, f"a2c_ray/{name}.py: its docstring does not start with its layer: {first[:60]}"
    return max(int(n) for n in found.groups() if n)  # tune: the sweep and its command line


def imports(name):
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("a2c_ray"):
            if node.module == "a2c_ray":
                yield from (a.name for a in node.names)
            else:
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            yield from (a.name.split(".")[1] for a in node.names
                        if a.name.startswith("a2c_ray."))


def test_every_module_names_its_layer_and_imports_only_earlier_layers():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in EXEMPT)
    layers = {m: layer(m) for m in modules}
    wrong = [f"{m} (layer {layers[m]}) imports {d} (layer {layers[d]})"
             for m in modules for d in set(imports(m)) - EXEMPT
             if d in layers and layers[d] > layers[m]]
    assert not wrong, "; ".join(wrong)
