"""What a layer offers the layers after it, listed in its ``__init__`` and loaded on first use.

Each layer's ``__init__`` names its public objects and the module each lives in; importing
the layer loads none of them, so ``from a2c_ray.run import Trainer`` loads torch and Ray only
then, and ``import a2c_ray.results`` (a notebook) neither.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any],
                                                       Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a layer whose ``where`` maps name -> module.

    A name is imported from ``package.module`` on first use and then kept in the package;
    ``"module.attribute"`` offers the module's attribute under another name.
    """

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = where[name].partition(".")
        value = getattr(importlib.import_module(f"{package}.{module}"), attribute or name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
