"""Make the README's figures with the project itself (small files, committed under docs/).

    MUJOCO_GL=egl python docs/make_figures.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from a2c_ray import A2CConfig, analysis, train  # noqa: E402
from a2c_ray.evaluate import evaluate  # noqa: E402
from a2c_ray.results import load_curves  # noqa: E402

DOCS = Path(__file__).parent
RUNS = Path("runs/docs")

# CartPole-v1 with the default configuration on 3 seeds: mean and 68% band.
for seed in (0, 1, 2):
    train(A2CConfig(env_id="CartPole-v1", total_env_steps=100_000, seed=seed,
                    eval_interval_steps=5_000), RUNS / "cartpole" / f"seed_{seed}",
          show_progress=False)
curves = load_curves(RUNS / "cartpole")
fig, ax = plt.subplots(figsize=(6, 3.5))
analysis.plot_band(analysis.seed_band(curves, "eval_return_last"), "a2c_ray defaults", ax)
ax.set_ylabel("evaluation return")
ax.set_title("CartPole-v1, 3 seeds, mean with 68% band")
fig.savefig(DOCS / "cartpole_curve.png", dpi=80, bbox_inches="tight")

# InvertedPendulum-v5 trained for 200k steps, rendered off-screen.
train(A2CConfig(env_id="InvertedPendulum-v5", total_env_steps=200_000, seed=0),
      RUNS / "pendulum", show_progress=False)
print(evaluate(RUNS / "pendulum", episodes=5, gif=DOCS / "inverted_pendulum.gif", size=160,
               max_frames=120, fps=25))
