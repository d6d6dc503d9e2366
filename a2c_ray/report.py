"""``python -m a2c_ray.report SWEEP``, one self-contained HTML report.

The trials table, learning curves of the best trials, hyperparameter importances, the best
configuration and a GIF of the best policy, with every image inlined: one file to open or
send, no notebook server.
"""

from __future__ import annotations

import base64
import html
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from a2c_ray.cli import Parser, UsageError, run_cli
from a2c_ray.core import storage as st
from a2c_ray.results import (
    best_trials,
    describe_statuses,
    load_confirmation,
    load_trials,
    param_importances,
    performance_profile_figure,
    score_spread_figure,
    seed_bands_figure,
    sweep_plan,
    sweep_summary,
    table,
    top_curves_figure,
)
from a2c_ray.tuning import SweepPlan

CSS = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;
padding:3px 6px;text-align:right}th{background:#f4f4f4}h1{font-size:24px}
h2{font-size:18px;margin-top:1.6em}img{max-width:100%;display:block}.wide{overflow-x:auto}
summary{cursor:pointer;margin:.6em 0}figure{margin:0}"""
KEY_FIELDS = 5  # searched fields in the main table: the most important ones


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _html_table(df: Any) -> str:
    return df.to_html(index=False, float_format="{:.4g}".format, na_rep="-", border=0)


def _metric_words(plan: SweepPlan) -> str:
    """What the sweep's ranking metric is, in words."""
    episodes = plan.base.eval_episodes
    if plan.metric != "score":  # a sweep from before seeds per trial
        return (f"the mean return of the latest deterministic evaluation ({episodes} "
                "episodes)")
    seeds, evals = list(plan.config.seeds_per_trial), plan.config.score_evals
    count = (f"{seeds[0]} training seed{'s' * (seeds[0] > 1)}" if len(seeds) == 1 else
             f"training seeds ({', '.join(map(str, seeds))} as it passed ASHA's rungs)")
    statistic = {"mean": "the mean", "mean-se": "the mean less its standard error",
                 "iqm": "the interquartile mean", "median": "the median",
                 "min": "the worst"}[plan.config.score]
    return (f"{statistic} over each trial's {count} of each seed's average of its latest "
            f"{evals} deterministic evaluations ({episodes} episodes each)")


def build_report(sweep: str, top: int = 5, gif: bool = True) -> str:
    """The report's HTML for a sweep directory (local or s3://)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan = sweep_plan(sweep)
    metric = plan.metric
    trials = load_trials(sweep)
    shown = table(sweep, trials)
    best = best_trials(sweep, trials)
    done = sweep_summary(sweep) or {}
    env_id = plan.base.env_id
    parts = [f"<h1>Sweep {html.escape(st.name(sweep))}</h1>",
             f"<p>{html.escape(describe_statuses(trials))}, {html.escape(env_id)}, up to "
             f"{plan.config.max_steps:,} env steps each. Ranked by <code>{metric}</code>, "
             + _metric_words(plan) + "."
             + ("" if done else " The sweep has not finished.") + "</p>"]

    importances = param_importances(sweep)
    searched = list(plan.search_space)
    key = [k for k in importances.index if k in searched][:KEY_FIELDS] or searched[:KEY_FIELDS]
    front = ["trial_id", "status", "env_steps", metric,
             *[c for c in ("score_std", "score_min") if c in shown]]
    parts += ["<h2>Trials, best first</h2>",
              f"<p>With the {len(key)} searched fields that mattered most"
              + (" (PED-ANOVA importance, below)" if len(importances) else "") + ".</p>",
              f'<div class="wide">{_html_table(shown[front + key])}</div>',
              f"<details><summary>Every searched field ({len(searched)})</summary>"
              f'<div class="wide">{_html_table(shown)}</div></details>']

    fig = top_curves_figure(sweep, top)
    parts += ["<h2>Learning curves</h2>", _png(fig)]
    plt.close(fig)
    fig = score_spread_figure(sweep)
    if fig is not None:
        parts += ["<h2>Score against spread over seeds</h2>", _png(fig)]
        plt.close(fig)
    fig = seed_bands_figure(sweep)
    if fig is not None:
        where = "validation" if "chosen_on" in done else "test"
        parts += [f"<h2>The confirmed configurations on {where} seeds</h2>", _png(fig)]
        plt.close(fig)
    confirmed = load_confirmation(sweep)
    if len(confirmed):
        cols = ["seed_set", "rank", "trial_id", "n", "mean", "mean_lo", "mean_hi", "iqm",
                "iqm_lo", "iqm_hi", "worst", "sweep_score"]
        fig = performance_profile_figure(sweep)
        parts += ["<h2>Fresh seeds: intervals and performance profiles</h2>",
                  "<p>Final evaluation returns over seeds no search trial trained on: mean "
                  "and interquartile mean (IQM) with 95% percentile-bootstrap intervals over "
                  "seeds (<code>_lo</code>, <code>_hi</code>), the worst seed, and the score "
                  "the sweep gave the trial. The profiles below show, for each return, the "
                  "fraction of seeds above it (rliable's performance profile).</p>",
                  f'<div class="wide">{_html_table(confirmed[cols])}</div>', _png(fig)]
        plt.close(fig)

    if len(importances):
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(importances) + 1))
        importances.iloc[::-1].plot.barh(ax=ax)
        ax.set_xlabel("importance (PED-ANOVA)")
        parts += ["<h2>Hyperparameter importance</h2>", _png(fig)]
        plt.close(fig)

    if done.get("confirmed_best_config"):
        # sweeps from before validation seeds confirmed, and picked, on test seeds
        where = "validation" if "chosen_on" in done else "test"
        parts += [f"<h2>Best configuration, picked on {where} seeds</h2>",
                  f"<p>Trial {html.escape(str(done['confirmed_best_trial_id']))}'s "
                  f"configuration: {done['confirmed_best_mean']:.1f} +- "
                  f"{done['confirmed_best_sem']:.1f} (mean and standard error over the "
                  f"{where} seeds it was picked on); best_config.json holds it.</p>",
                  f"<pre>{html.escape(json.dumps(done['confirmed_best_config'], indent=2))}</pre>"]
    if done.get("test"):
        test = done["test"]
        parts += ["<h2>The pick on test seeds</h2>",
                  f"<p>{test['mean']:.1f} +- {test['sem']:.1f} (mean and standard error), "
                  f"worst seed {test['worst']:.1f}, IQM {test['iqm']:.1f}, over test seeds "
                  f"{min(test['seeds'])} to {max(test['seeds'])}, which chose nothing (picked "
                  f"on {html.escape(done['chosen_on'])}).</p>"]
    elif done.get("best_config"):
        parts += ["<h2>Best configuration</h2>",
                  f"<pre>{html.escape(json.dumps(done['best_config'], indent=2))}</pre>"]
    if gif and len(best):
        from a2c_ray.evaluate import evaluate

        with tempfile.TemporaryDirectory() as tmp:
            result = evaluate(sweep, gif=Path(tmp) / "best.gif", max_frames=300)
            data = base64.b64encode((Path(tmp) / "best.gif").read_bytes()).decode()
        parts += ["<h2>Best policy</h2>",
                  f"<p>Trial {html.escape(str(best['trial_id'].iloc[0]))}: return "
                  f"{result['return_mean']:.1f} +- {result['return_std']:.1f} over "
                  f"{html.escape(result['protocol'])}; the first episode:</p>",
                  f'<figure><img src="data:image/gif;base64,{data}"></figure>']
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>a2c_ray sweep "
            f"{html.escape(st.name(sweep))}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>")


def main() -> int:
    """Entry point."""
    p = Parser(prog="python -m a2c_ray.report", description=__doc__.split("\n")[0])
    p.add_argument("sweep", help="sweep directory (local or s3://)")
    p.add_argument("--out", help="HTML file to write, local or s3:// (default: "
                   "SWEEP_DIR/report.html)")
    p.add_argument("--top", type=int, default=5, help="trials in the curves plot")
    p.add_argument("--no-gif", action="store_true", help="skip rendering the best policy")
    args = p.parse_args()
    if not st.exists(st.join(args.sweep, "sweep.json")):
        raise UsageError(f"{args.sweep!r} is not a sweep directory (no sweep.json)")
    out = args.out or st.join(args.sweep, "report.html")
    st.write_text(st.resolve(out), build_report(args.sweep, args.top, gif=not args.no_gif))
    print(f"wrote {out}")
    return 0


def cli() -> None:
    """Console entry point ``a2c-ray-report``: main() with one-line errors, exit code 2."""
    run_cli(main, (UsageError,))


if __name__ == "__main__":
    cli()
