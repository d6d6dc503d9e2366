"""The layers of docs/design.md, read from the tree: no module imports a later layer.

A module's layer is its subpackage's; the modules directly under a2c_ray/ (the commands, the
CLI plumbing and the contract's ``a2c_ray.gae``) and ``python -m`` entry points (``__main__``)
are layer 8. The package's face (``a2c_ray/__init__.py``) imports every layer lazily and is
left out.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "a2c_ray"
LAYERS = {"core": 1, "model": 2, "sampling": 3, "learning": 4, "run": 5, "tuning": 6,
          "results": 7}
TOP = 8


def layer_of_path(path: Path) -> int:
    parts = path.relative_to(PACKAGE).parts
    if len(parts) == 1 or parts[-1] == "__main__.py":
        return TOP
    assert parts[0] in LAYERS, f"a2c_ray/{'/'.join(parts)}: a2c_ray/{parts[0]}/ is no layer"
    return LAYERS[parts[0]]


def layer_of_module(dotted: str) -> int:
    parts = dotted.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 else TOP


def imported(path: Path):
    """The a2c_ray modules a file imports, wherever in the file (a lazy import counts too)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("a2c_ray"):
            if node.module == "a2c_ray":  # from a2c_ray import X: X is a module or a name
                yield from (f"a2c_ray.{a.name}" for a in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("a2c_ray."))


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_every_subpackage_is_a_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == set(LAYERS)


def test_no_module_imports_a_later_layer():
    wrong = [f"{p.relative_to(PACKAGE)} (layer {layer_of_path(p)}) imports {m} "
             f"(layer {layer_of_module(m)})"
             for p in modules() for m in set(imported(p))
             if layer_of_module(m) > layer_of_path(p)]
    assert not wrong, "; ".join(wrong)


def test_the_check_sees_a_violation(tmp_path):
    """The import walk finds a lazy import of a later layer (the check can fail)."""
    bad = PACKAGE / "core" / "config.py"
    source = bad.read_text() + "\n\ndef _late():\n    from a2c_ray.tuning import space\n"
    fake = tmp_path / "config.py"
    fake.write_text(source)
    assert "a2c_ray.tuning" in set(imported(fake))
    assert layer_of_module("a2c_ray.tuning") > layer_of_path(bad)


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in modules()
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_each_layer_lists_what_it_offers_and_every_name_loads():
    import importlib

    for layer in LAYERS:
        package = importlib.import_module(f"a2c_ray.{layer}")
        assert package.__all__ == sorted(package.__all__, key=str), layer
        missing = [name for name in package.__all__ if getattr(package, name, None) is None]
        assert not missing, (layer, missing)


def later_layers_reaching_into(path: Path):
    """The imports in ``path`` of a module inside another layer, past its package."""
    own = layer_of_path(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("a2c_ray."):
            parts = node.module.split(".")
            if len(parts) > 2 and parts[1] in LAYERS and LAYERS[parts[1]] != own:
                yield node.module


def test_a_layer_is_imported_from_its_package_by_the_others():
    """``from a2c_ray.core import A2CConfig``, never ``from a2c_ray.core.config import ...``
    outside core: what a layer offers is its ``__init__``'s ``__all__``."""
    wrong = [f"{p.relative_to(PACKAGE)} imports {m}" for p in modules()
             for m in later_layers_reaching_into(p)]
    assert not wrong, "; ".join(wrong)
    fake = PACKAGE / "run" / "trainer.py"
    assert list(later_layers_reaching_into(fake)) == []


def test_no_name_a_layer_offers_is_also_one_of_its_modules():
    """Importing ``a2c_ray.tuning.finish`` would set the package's ``finish`` to the module,
    hiding a function of that name that the package offered."""
    import importlib

    for layer in LAYERS:
        package = importlib.import_module(f"a2c_ray.{layer}")
        modules_here = {p.stem for p in (PACKAGE / layer).glob("*.py")}
        assert not set(package.__all__) & modules_here, layer
