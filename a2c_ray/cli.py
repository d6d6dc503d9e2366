"""Shared command-line plumbing: one-line errors with exit code 2, logging set-up."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from a2c_ray.config import A2CConfig

USAGE_ERROR = 2


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage block) and exit with code 2."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> None:  # noqa: D102
        fail(f"{message} (see --help)")


def fail(message: str) -> None:
    """Print ``prog: error: message`` on one line and exit 2."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "a2c_ray"
    if prog in ("__main__.py", "-c", "-m"):
        prog = "a2c_ray"
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def read_config(uri: str) -> A2CConfig:
    """An A2CConfig from a JSON file, local or s3:// (a sweep's best_config.json, a preset)."""
    from a2c_ray import storage as st
    from a2c_ray.config import A2CConfig, ConfigError

    try:
        text = st.read_text(st.resolve(uri))
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"config file {uri!r} does not exist") from None
    except OSError as err:
        raise ConfigError(f"config file {uri!r} cannot be read: {err}") from None
    return A2CConfig.from_json_text(text, uri)


def run_cli(main: Callable[[], int | None], user_errors: tuple[type[BaseException], ...]) -> None:
    """Run a CLI main; the given exception types become one-line errors with exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        code = main()
    except user_errors as err:
        fail(str(err))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
