"""Layer 8, CLIs: shared plumbing, one-line errors with exit code 2, logging set-up."""

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
_prog = "a2c_ray"  # the running command's name, as its Parser gives it


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit code 2."""


class _DefaultsFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to a flag's help, unless it has no default or says it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is None or default is False or default == [] or default == argparse.SUPPRESS
                or "default" in text or not action.option_strings or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage block) and exit with code 2."""

    def __init__(self, **kwargs) -> None:
        global _prog
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(**kwargs)
        _prog = self.prog

    def error(self, message: str) -> None:  # noqa: D102
        fail(f"{message} (see --help)")

    def given(self, argv: list[str] | None = None) -> set[str]:
        """The destinations of the flags the command line gives, defaults left out."""
        defaults = {a: a.default for a in self._actions}
        try:
            for action in self._actions:
                action.default = argparse.SUPPRESS
            return set(vars(self.parse_args(argv)))
        finally:
            for action, default in defaults.items():
                action.default = default


def fail(message: str) -> None:
    """Print ``prog: error: message`` on one line and exit 2."""
    print(f"{_prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def prepare_ray(address: str | None) -> None:
    """Call before anything imports Ray, in a command that starts a local Ray unless given one.

    A local Ray gets token authentication, Ray 2.60's default for a cluster ``ray.init()``
    starts, but asked for by name (RAY_AUTH_MODE=token, unless set otherwise), which Ray takes
    without printing its opt-out warning at every start. Ray reads the setting on import.
    """
    if not (address or os.environ.get("RAY_ADDRESS")):
        os.environ.setdefault("RAY_AUTH_MODE", "token")


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
    # Our own progress lines at INFO; other libraries' (PyOpenGL's, say) only when they warn.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("a2c_ray").setLevel(logging.INFO)
    try:
        code = main()
    except user_errors as err:
        fail(str(err))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
