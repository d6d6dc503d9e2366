"""The commands' shared plumbing: flags from dataclass fields, one-line errors, logging."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import logging
import os
import sys
import textwrap
from collections.abc import Callable
from typing import Any

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


def field_docs(cls: type) -> dict[str, str]:
    """Each dataclass field's docstring (the string written under the field), on one line."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def flag(name: str, options: dict[str, dict[str, Any]] | None = None) -> str:
    """The command-line flag of a field: ``--num-samples`` for ``num_samples``."""
    given = (options or {}).get(name, {}).get("flags")
    return given[0] if given else "--" + name.replace("_", "-")


def add_fields(parser: argparse.ArgumentParser, cls: type,
               options: dict[str, dict[str, Any]] | None = None) -> None:
    """One flag per field of dataclass ``cls``, its docstring the help, its default the default.

    A bool is a switch; a tuple field and a dict field are repeatable flags (the dict's as
    ``KEY=VALUE``), or a tuple one flag of several values where ``options`` give it ``nargs``
    (and a ``type``); a field with ``choices`` metadata takes only those. ``options`` gives a
    field other flags (``flags``) or a ``metavar``.
    """
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        extra = dict((options or {}).get(f.name, {}))
        flags = extra.pop("flags", None) or [flag(f.name)]
        kind = str(f.type).replace(" | None", "")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kwargs: dict[str, Any] = {"dest": f.name, "help": docs.get(f.name, ""), **extra}
        if kind == "bool":
            kwargs.update(action="store_true", default=default)
        elif "nargs" in extra:  # a tuple given as one flag's several values
            kwargs.update(default=list(default))
        elif kind.startswith(("tuple", "dict")):
            kwargs.update(action="append", default=[])
        else:
            kwargs.update(type={"int": int, "float": float}.get(kind, str), default=default)
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(*flags, **kwargs)


def fields_from_args(cls: type, args: argparse.Namespace, only: set[str] | None = None
                     ) -> dict[str, Any]:
    """The values of ``cls``'s fields in parsed ``args`` (those in ``only``, if given).

    A dict field's ``KEY=VALUE`` texts become a dict (values read as JSON, else as strings).
    """
    from a2c_ray.core import parse_override

    values = {}
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        value = getattr(args, f.name)
        if str(f.type).startswith("dict"):
            value = dict(parse_override(text) for text in value)
        elif str(f.type).startswith("tuple"):
            value = tuple(value)
        values[f.name] = value
    return values


def flag_message(err: Any, options: dict[str, dict[str, Any]] | None = None) -> str:
    """A field's ConfigError said with its flag: ``--num-samples 0 is out of range: ...``."""
    value = err.value
    if isinstance(value, float):
        value = f"{value:g}"
    elif isinstance(value, list | tuple):
        value = " ".join(map(str, value))
    return f"{flag(err.field, options)} {value} {err.reason}"


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
    if "ray" in sys.modules:  # too late: Ray read its setting, and its processes must agree
        return
    if not (address or os.environ.get("RAY_ADDRESS")):
        os.environ.setdefault("RAY_AUTH_MODE", "token")


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
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    sys.exit(code or 0)
