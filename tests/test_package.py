"""The package's face: what importing it loads, and the public names."""

import subprocess
import sys

import pytest

HEAVY = ("ray", "torch", "gymnasium", "mujoco")


@pytest.mark.parametrize("module", ["a2c_ray", "a2c_ray.results", "a2c_ray.analysis",
                                    "a2c_ray.gae", "a2c_ray.batch", "a2c_ray.stats",
                                    "a2c_ray.config", "a2c_ray.storage"])
def test_data_and_results_layers_load_neither_ray_nor_torch(module):
    code = (f"import sys, {module}; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", f"import {module} loaded {out.stdout.strip()}"


def test_train_function_is_not_hidden_by_the_cli_module(tmp_path):
    import a2c_ray.train  # noqa: F401  (sets the package attribute `train` to the module)
    from a2c_ray import A2CConfig, Trainer, train

    summary = train(A2CConfig(total_env_steps=512, eval_episodes=1), tmp_path / "run",
                    show_progress=False)
    assert summary["env_steps"] == 512 and (tmp_path / "run" / "summary.json").is_file()
    assert Trainer.__module__ == "a2c_ray.trainer"


def test_learning_does_not_import_sampling():
    code = ("import sys, a2c_ray.learner; "
            "print(sorted(m for m in ('a2c_ray.rollout', 'a2c_ray.envs', 'a2c_ray.actors', "
            "'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout
