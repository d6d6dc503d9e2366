"""``python -m a2c_ray.report SWEEP_DIR``: one self-contained HTML report of a sweep.

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

from a2c_ray import storage as st
from a2c_ray.analysis import param_importances, plot_curves
from a2c_ray.cli import Parser, UsageError, run_cli
from a2c_ray.results import load_curves, load_trials, sweep_settings, sweep_summary

CSS = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f4f4f4}h1{font-size:24px}h2{font-size:18px;margin-top:1.6em}"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def build_report(sweep: str, top: int = 5, gif: bool = True) -> str:
    """The report's HTML for a sweep directory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sweep_settings(sweep)
    metric = settings["metric"]
    trials = load_trials(sweep)
    ranked = trials.sort_values(metric, ascending=False, na_position="last")
    curves = load_curves(sweep)
    parts = [f"<h1>Sweep {html.escape(st.name(sweep))}</h1>",
             f"<p>{len(trials)} trials of {html.escape(settings['base_config']['env_id'])}, "
             f"ranked by {metric}; status: "
             f"{html.escape(str(trials['status'].value_counts().to_dict()))}.</p>"]

    cols = ["trial_id", "status", "env_steps", metric] + sorted(
        c for c in trials.columns
        if c.startswith("config/") and c[7:] in settings["search_space"])
    parts += ["<h2>Trials</h2>", ranked[cols].to_html(index=False, float_format="{:.4g}".format)]

    best_ids = ranked["trial_id"].head(top).tolist()
    fig, ax = plt.subplots(figsize=(8, 4))
    plot_curves(curves, best_ids, "episode_return_mean", ax)
    ax.set_title(f"training return of the top {len(best_ids)} trials")
    parts += ["<h2>Learning curves</h2>", _png(fig)]
    plt.close(fig)

    importances = param_importances(sweep)
    if len(importances):
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(importances) + 1))
        importances.iloc[::-1].plot.barh(ax=ax)
        ax.set_xlabel("importance (fANOVA)")
        parts += ["<h2>Hyperparameter importance</h2>", _png(fig)]
        plt.close(fig)

    done = sweep_summary(sweep)
    best_config = (done or {}).get("best_config")
    if best_config:
        parts += ["<h2>Best configuration</h2>",
                  f"<pre>{html.escape(json.dumps(best_config, indent=2))}</pre>"]
    if gif and len(ranked):
        from a2c_ray.evaluate import evaluate

        with tempfile.TemporaryDirectory() as tmp:
            result = evaluate(sweep, episodes=3, gif=Path(tmp) / "best.gif", max_frames=300)
            data = base64.b64encode((Path(tmp) / "best.gif").read_bytes()).decode()
        parts += ["<h2>Best policy</h2>",
                  f"<p>return {result['return_mean']:.1f} +- {result['return_std']:.1f} over "
                  f"3 deterministic episodes</p>",
                  f'<img src="data:image/gif;base64,{data}">']
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


if __name__ == "__main__":
    run_cli(main, (UsageError,))
