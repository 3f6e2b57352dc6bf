"""Lazy re-exports for the subpackages' ``__init__``: ``from pyronas.infer import Search`` works without
importing every module of a subpackage when the subpackage is imported (no cycles, no start-up cost)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], submodules: Sequence[str] = ()
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package``.

    ``exports`` maps a public name to the module that defines it: relative to ``package`` (``"engine"``), or
    absolute when it starts with ``pyronas.`` (``"pyronas.infer.program"``). ``submodules`` are modules of
    ``package`` reachable as attributes (``pyronas.methods``) and imported on first access.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            module = exports[name]
            path = module if module.startswith("pyronas.") else f"{package}.{module}"
            value = getattr(importlib.import_module(path), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        importlib.import_module(package).__dict__[name] = value  # cache: the next access is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(exports) | set(submodules))

    return sorted(exports) + sorted(submodules), __getattr__, __dir__
