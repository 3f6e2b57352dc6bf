"""Plug-ins from outside this repository: the modules named by entry points of group ``pyronas.plugins``
(``load_plugins``: imported once, the first time any registry is consulted) and the modules of a config's
``imports:`` (``import_modules``: never from the current folder). Their ``register`` calls fill the registries
of ``pyronas.registry``, which re-exports these names.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence

from pyronas.errors import ConfigError

__all__ = ["ENTRY_POINT_GROUP", "import_modules", "load_plugins"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "pyronas.plugins"

_plugins_loaded = False


def load_plugins() -> None:
    """Import, once, every module named by an entry point of group ``pyronas.plugins``."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True  # before loading: a plug-in consulting a registry must not recurse
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except ImportError as e:
            raise ConfigError(f"entry point {ENTRY_POINT_GROUP}:{ep.name} = {ep.value!r}: cannot import: {e}") from e
        log.debug("loaded pyronas plug-in %s (%s)", ep.name, ep.value)


def import_modules(modules: Sequence[str], key: str = "imports") -> None:
    """Import the plug-in modules of config key ``key`` (their ``register`` calls run on import).

    The current directory is never what makes such an import succeed: the entry that Python puts
    first on ``sys.path`` implicitly (``''`` for ``python -c`` and the REPL, the current folder for
    ``python -m pyronas``) is left out while they import, so a file ``evil.py`` in a run folder one
    ``cd``-ed into cannot stand in for a plug-in. A folder the user puts on ``PYTHONPATH`` (``.``
    included) or installs (``pip install -e``) is searched as usual."""
    saved = list(sys.path)
    sys.path[:] = _without_implicit_cwd(sys.path)
    try:
        for i, name in enumerate(modules):
            try:
                importlib.import_module(name)
            except ImportError as e:
                raise ConfigError(f"{key}[{i}]: cannot import {name!r}: {e} (plug-ins are imported from "
                                  "installed packages and PYTHONPATH, never from the current folder)") from e
    finally:
        sys.path[:] = saved


def _without_implicit_cwd(path: Sequence[str]) -> list[str]:
    """``sys.path`` without its implicit first entry when that is the current folder (``''`` or its
    absolute path), and without any other ``''``; entries given on ``PYTHONPATH`` stay."""
    cwd = os.path.realpath(os.getcwd())
    out = list(path)
    if out and (out[0] == "" or os.path.realpath(out[0]) == cwd):
        out = out[1:]
    return [p for p in out if p != ""]
