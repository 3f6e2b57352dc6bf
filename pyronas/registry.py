"""Find priors (``pyronas.models``) and guides (``pyronas.guides``) by file name.

A new prior or guide is one file in ``models/`` or ``guides/``; its file name is its name in
configs. ``lookup``/``build`` give the class the shorthand ``{name: X}`` builds: the file's
``ArchPrior``/``ArchGuide`` composite, else its α piece (``AlphaPrior``/``AlphaGuide``); per-group
building is ``pyronas.infer.program.build_model``/``build_guide``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from pyronas.infer.program import AlphaGuide, AlphaPrior, ArchGuide, ArchPrior


def _package(kind: str):
    return importlib.import_module(f"pyronas.{kind}")


def available(kind: str) -> list[str]:
    """Names of the modules in ``pyronas.models`` or ``pyronas.guides``."""
    return sorted(m.name for m in pkgutil.iter_modules(_package(kind).__path__) if not m.name.startswith("_"))


def lookup(kind: str, name: str) -> type:
    """The ``ArchPrior`` (kind="models") or ``ArchGuide`` (kind="guides") subclass of module ``name``,
    or, if it defines none, its one ``AlphaPrior`` / ``AlphaGuide`` subclass."""
    if name not in available(kind):
        raise ValueError(f"unknown {kind[:-1]} {name!r}; available: {', '.join(available(kind))}")
    module = importlib.import_module(f"pyronas.{kind}.{name}")
    for base in (ArchPrior, AlphaPrior) if kind == "models" else (ArchGuide, AlphaGuide):
        classes = [
            c
            for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, base) and c is not base and c.__module__ == module.__name__
        ]
        if len(classes) == 1:
            return classes[0]
        if classes:
            break
    raise ValueError(f"pyronas.{kind}.{name} must define exactly one {base.__name__} subclass")


def check_params(cls: type, params: dict[str, Any], where: str, positional: int = 1) -> None:
    """Reject parameters the constructor does not accept, naming the config key.

    ``positional``: leading constructor arguments after ``self`` that are not config params
    (1 for priors/guides: the supernet/model; 0 for callbacks).
    """
    sig = inspect.signature(cls.__init__)
    names = list(sig.parameters)[1 + positional :]
    accepted = [p for p in names if sig.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD]
    for key in params:
        if key not in accepted:
            raise ValueError(
                f"{where}.{key}: unknown parameter for {cls.__name__} (accepts: {', '.join(accepted) or 'none'})"
            )


def build(kind: str, name: str, params: dict[str, Any], *args: Any, where: str) -> Any:
    """Instantiate ``name`` from ``pyronas.<kind>`` with ``*args`` and validated ``params``."""
    cls = lookup(kind, name)
    check_params(cls, params, where)
    return cls(*args, **params)
