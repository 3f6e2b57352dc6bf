"""A run folder's life: made writable, locked, fresh or resumed, logged to the end, and trusted for data only.

``writing(out, "search.log", resume=..., overwrite=...)`` wraps everything a search or retraining does
to its folder:

1. the folder is created (an unwritable ``--out`` -- ``/proc/x``, a path under a file, ``/dev/null``
   -- is one ``RunFolderError`` line);
2. it is locked (``pyronas.runlock.RunLock``): a second writer is refused with the holder's pid;
3. a fresh run into a folder that already holds a run is refused, naming ``--resume`` and
   ``--overwrite``; ``overwrite`` deletes the files of the old run first (``RUN_FILES``);
4. the ``pyronas`` logger is copied into ``out/<log_name>``; whatever stops the run -- an error, a
   NaN stop, Ctrl-C, a bug (with its traceback) -- is the log's last line.

Nested ``writing`` calls on one folder in one process (the CLI around ``run_search``) are one.

**What is trusted.** A run folder is data: checkpoints are read with ``weights_only=True``, YAML with
``safe_load``, and ``load_folder_config`` refuses a folder's config that names plug-in modules
(``imports:``) unless the user named them again (``--imports``) or trusts the folder
(``--trust-imports``), given to ``allow_imports``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pyronas.errors import ConfigError, PyronasError, RunFolderError
from pyronas.runlock import LOCK_FILE, RunLock

__all__ = ["RUN_FILES", "allow_imports", "load_folder_config", "run_files", "writing"]

log = logging.getLogger("pyronas")

C = TypeVar("C")

# what a search / a bo search / a retraining writes into its folder (top level; glob patterns), deleted by --overwrite
RUN_FILES = {
    "search": ("config.yaml", "checkpoint.pt", "genotype.json", "genotype_*.json", "history.json", "metrics.json",
               "steps.json", "onehot.json", "sparsity.json", "*.jsonl", "search.log", "posterior.nc", "summary.csv",
               "*.png", "network.pt2", "network.onnx", "network.pt", "network.genotype.json", "*.tmp", "tensorboard"),
    "bo": ("config.yaml", "evaluations.jsonl", "trajectory.json", "genotype.json", "bo.log", "*.png", "*.tmp",
           "tensorboard"),
    "train": ("train_config.yaml", "train_checkpoint.pt", "train_metrics.json", "genotype.json", "train.log",
              "network.pt2", "network.onnx", "network.pt", "network.genotype.json", "*.tmp", "tensorboard"),
}

_held: dict[Path, int] = {}  # folders this process is writing now -> nesting depth
_allowed: contextvars.ContextVar[tuple[frozenset[str], bool]] = contextvars.ContextVar(
    "pyronas_allowed_imports", default=(frozenset(), False)
)


def run_files(out: Path, kind: str) -> list[Path]:
    """The files and folders of a ``kind`` (``"search"``, ``"bo"`` or ``"train"``) run present in ``out``."""
    found = {p for pattern in RUN_FILES[kind] for p in out.glob(pattern)}
    return sorted(p for p in found if p.name != LOCK_FILE)


def _make_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out}: exists and is not a folder; choose a folder for the run")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunFolderError(f"--out {out}: cannot create the run folder ({e.strerror or e}); "
                             "choose a writable path") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise RunFolderError(f"--out {out}: the folder is not writable; choose a writable path")


def _refuse_or_clear(out: Path, kind: str, command: str, overwrite: bool) -> int:
    """Refuse a fresh run into a folder holding a ``kind`` run, or (``overwrite``) delete that run's files;
    returns how many were deleted."""
    present = run_files(out, kind)
    if not present:
        return 0
    if not overwrite:
        names = ", ".join(p.name for p in present[:4]) + (", ..." if len(present) > 4 else "")
        raise RunFolderError(
            f"{out} already holds a {kind} run ({names}): continue it with `pyronas {command} --resume {out}`, "
            f"or start afresh with --overwrite (deletes those files), or choose another --out"
        )
    for p in present:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    return len(present)


@contextlib.contextmanager
def writing(out: str | os.PathLike, log_name: str, *, resume: bool = False, overwrite: bool = False,
            kind: str = "search", command: str | None = None) -> Iterator[Path]:
    """Create, lock and log the run folder ``out`` while the body writes it (see the module docstring).

    ``kind`` picks the files of a run (``RUN_FILES``) and ``command`` the sub-command named in the
    refusal of a fresh run into a used folder (default: ``kind``)."""
    out = Path(out)
    key = out.resolve() if out.exists() else out.absolute()
    if key in _held:  # an outer ``writing`` of this process already did all of it
        _held[key] += 1
        try:
            yield out
        finally:
            _held[key] -= 1
        return
    _make_dir(out)
    key = out.resolve()
    lock = RunLock(out).acquire()
    try:  # refused before anything is written: the old run's files stay as they were
        deleted = 0 if resume else _refuse_or_clear(out, kind, command or kind, overwrite)
    except BaseException:
        lock.release()
        raise
    _held[key] = 1
    handler = logging.FileHandler(out / log_name)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = log.level
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    if deleted:
        log.info("--overwrite: deleted %d file(s) of the previous run in %s", deleted, out)
    try:
        yield out
    except KeyboardInterrupt:
        _to_file(handler, logging.WARNING, "stopped: interrupted (Ctrl-C); continue with --resume")
        raise
    except PyronasError as e:  # the user's condition: the same one line the CLI prints
        _to_file(handler, logging.ERROR, f"error: {e}")
        raise
    except BaseException as e:  # a bug (or SystemExit): logged with its traceback, and re-raised
        _to_file(handler, logging.ERROR, f"stopped by {type(e).__name__}: {e}", exc_info=e)
        raise
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        handler.close()
        del _held[key]
        lock.release()


def _to_file(handler: logging.Handler, level: int, msg: str, exc_info: BaseException | None = None) -> None:
    """One record into the run's log file only (the console gets the CLI's own ``error:`` line)."""
    info = (type(exc_info), exc_info, exc_info.__traceback__) if exc_info is not None else None
    handler.handle(log.makeRecord(log.name, level, __file__, 0, msg, (), info))


@contextlib.contextmanager
def allow_imports(modules: Sequence[str] = (), trust: bool = False) -> Iterator[None]:
    """Within the block, ``load_folder_config`` may import the plug-in ``modules`` a run folder's config
    names (the user gave them again: ``--imports``), or every one of them (``trust``: ``--trust-imports``)."""
    token = _allowed.set((frozenset(modules), trust))
    try:
        yield
    finally:
        _allowed.reset(token)


def load_folder_config(loader: Callable[..., C], path: str | os.PathLike,
                       overrides: list[str] | None = None) -> C:
    """``loader(path, overrides)`` (``load_config`` / ``load_train_config``) of a config that lives in a run
    folder, refusing, before anything is imported, one whose ``imports:`` names a module the user has not
    allowed (``allow_imports``): ``ConfigError`` naming the modules and the two ways to allow them."""
    path = Path(path)
    if not path.is_file():
        raise RunFolderError(f"{path}: no such file: is {path.parent} a pyronas run folder?")
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: expected a mapping of sections (name:, space:, ...), "
                          f"got a {type(raw).__name__}")
    named = raw.get("imports") or []
    if not isinstance(named, list):
        raise ConfigError(f"{path}: imports: expected a list of module names, got {named!r}")
    modules, trust = _allowed.get()
    refused = [str(m) for m in named if not trust and str(m) not in modules]
    if refused:
        names = " ".join(refused)
        raise ConfigError(
            f"{path}: imports: {', '.join(refused)}: a run folder's config does not choose what code runs; "
            f"if you trust these modules, pass them again with --imports {names} (or --trust-imports)"
        )
    return loader(path, overrides)
