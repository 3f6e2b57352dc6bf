"""The project's own error types, in one place.

The command line (``pyronas.cli.main``) catches exactly these: each carries the exit status it maps
to (``exit_code``) and a message that names what to fix (a config key, a file path). Any other
exception is a bug and keeps its traceback.

* ``PyronasError``        -- base class;                                        exit 1
* ``ConfigError``         -- an invalid configuration (message starts with the key); exit 2
* ``RegistryError``       -- an unknown or clashing name of an extension point;  exit 2
* ``DataError``           -- a dataset file missing or unreadable (names the path); exit 2
* ``UnsafeCheckpointError`` -- a checkpoint that could execute code when loaded; exit 2
* ``RunFolderError``      -- a run folder that cannot be used as asked (damaged checkpoint, nothing to
  resume, another writer holds it, already holds a run, not writable); names the file and the fix; exit 2
* ``NonFiniteLossError``  -- the loss became NaN/Inf during a run;               exit 1

The built-in bases are kept (``ConfigError`` is a ``ValueError``, ``DataError`` a ``RuntimeError``)
so code that caught those before still does.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "NonFiniteLossError",
    "PyronasError",
    "RegistryError",
    "RunFolderError",
    "UnsafeCheckpointError",
]


class PyronasError(Exception):
    """Base of every error pyronas raises on purpose; ``exit_code`` is the CLI's exit status."""

    exit_code: int = 1


class ConfigError(PyronasError, ValueError):
    """An invalid configuration; the message starts with the offending key."""

    exit_code = 2


class RegistryError(ConfigError):
    """An unknown name of a prior, guide, term, selector, callback, ... (the message names the config
    key and lists the known names), or two extensions registered under one name."""


class DataError(PyronasError, RuntimeError):
    """A dataset file is missing or unreadable; the message names the path and how to get it."""

    exit_code = 2


class UnsafeCheckpointError(PyronasError, RuntimeError):
    """A checkpoint holds something other than tensors and plain types (it could run code when unpickled)."""

    exit_code = 2


class RunFolderError(PyronasError, RuntimeError):
    """A run folder cannot be used as asked: a damaged checkpoint, nothing to resume, another writer
    holds its lock, a fresh run into a folder that already holds one, an unwritable path. The message
    names the file and the fix."""

    exit_code = 2


class NonFiniteLossError(PyronasError, RuntimeError):
    """The loss became NaN/Inf; the last good checkpoint is kept."""

    exit_code = 1
