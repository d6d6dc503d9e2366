"""The package's face: what importing it loads, and the public names."""

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("ray", "torch", "gymnasium", "mujoco")
PACKAGE = Path(__file__).resolve().parents[1] / "a2c_ray"


def _layer(name: str) -> list[str]:
    return [f"a2c_ray.{name}.{p.stem}".removesuffix(".__init__")
            for p in sorted((PACKAGE / name).glob("*.py")) if p.stem != "__main__"]


# every module of the core data and results layers, the package's face and the storage paths;
# core.spaces names gymnasium's spaces, so gymnasium may load with the core
LIGHT = ["a2c_ray", "a2c_ray.gae", "a2c_ray.core.storage", *_layer("core"), *_layer("results")]


@pytest.mark.parametrize("module", LIGHT)
def test_data_and_results_layers_load_neither_ray_nor_torch(module):
    heavy = HEAVY[:2] if module.startswith("a2c_ray.core") else HEAVY
    code = (f"import sys, {module}; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", f"import {module} loaded {out.stdout.strip()}"


def test_train_function_is_not_hidden_by_the_cli_module(tmp_path):
    import a2c_ray.train  # noqa: F401  (sets the package attribute `train` to the module)
    from a2c_ray import A2CConfig, Trainer, train

    summary = train(A2CConfig(total_env_steps=512, eval_episodes=1), tmp_path / "run",
                    show_progress=False)
    assert summary["env_steps"] == 512 and (tmp_path / "run" / "summary.json").is_file()
    assert Trainer.__module__ == "a2c_ray.run.trainer"


def test_learning_does_not_import_sampling():
    code = ("import sys, a2c_ray.learning.learner; "
            "print(sorted(m for m in sys.modules if m.startswith('a2c_ray.sampling') "
            "or m in ('a2c_ray.run.actors', 'ray')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout
