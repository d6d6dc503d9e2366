"""``python -m a2c_ray.results SWEEP_DIR [--parquet OUT_DIR]``: the trials, best first."""

from __future__ import annotations

import pandas as pd

from a2c_ray.cli import Parser, UsageError, run_cli
from a2c_ray.core import storage as st
from a2c_ray.results import export_parquet, load_trials, table


def main() -> int:
    """``python -m a2c_ray.results SWEEP_DIR [--parquet OUT_DIR]``."""
    p = Parser(prog="python -m a2c_ray.results",
               description="The trials of a sweep, or a directory of train runs, best first.")
    p.add_argument("sweep", help="sweep directory, or train run directory (local or s3://)")
    p.add_argument("--parquet", help="also write trials.parquet and curves.parquet here")
    args = p.parse_args()
    if not st.exists(args.sweep):
        raise UsageError(f"{args.sweep!r} does not exist")
    trials = load_trials(args.sweep)
    if trials.empty:
        raise UsageError(f"{args.sweep!r} holds no sweep and no train run: expected STORAGE/NAME "
                         "of python -m a2c_ray.tune or --out DIR of python -m a2c_ray.train")
    shown = table(args.sweep, trials)
    with pd.option_context("display.width", None, "display.max_columns", None,
                           "display.float_format", "{:.4g}".format):
        print(shown.to_string(index=False, na_rep="-"))
    if args.parquet:
        for written in export_parquet(args.sweep, args.parquet):
            print(f"wrote {written}")
    return 0


def cli() -> None:
    """Console entry point ``a2c-ray-results``: main() with one-line errors, exit code 2."""
    run_cli(main, (UsageError,))


if __name__ == "__main__":
    cli()
