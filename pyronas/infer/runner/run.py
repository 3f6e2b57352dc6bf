"""A search into and out of its run folder: ``run_search`` (the CLI's ``pyronas search``: a fresh run or
``--resume``, logged into ``search.log`` under the folder's lock) and ``load_run`` (a ``Search`` rebuilt from
a run folder's config and checkpoint).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pyro
import torch

from pyronas.config import Config, load_config
from pyronas.data.datasets import Dataset
from pyronas.distributed import current_world, init_from_env
from pyronas.errors import RunFolderError
from pyronas.infer.runner.checkpoint import CHECKPOINT, _check_checkpoint, _to_device
from pyronas.infer.runner.search import Search
from pyronas.io import load_checkpoint
from pyronas.nn.spaces import Genotype
from pyronas.runfolder import load_folder_config, writing

__all__ = ["load_run", "run_search"]

log = logging.getLogger(__name__)


def load_run(
    run_dir: str | Path, checkpoint: str | Path | None = None, data: Dataset | None = None, read_only: bool = False
) -> Search:
    """Rebuild a run's ``Search`` (config, supernet, model, guide, history) from its folder and
    checkpoint, e.g. for diagnostics (``read_only``: nothing is written to the folder, not even by a
    callback's ``on_resume``) or to continue it. The checkpoint is read with
    ``pyronas.io.load_checkpoint`` (tensors and plain types only); the config with
    ``pyronas.runfolder.load_folder_config`` (its ``imports:`` only when the user allowed them). A
    missing, damaged or foreign checkpoint is a ``RunFolderError`` naming the file and what to do."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: not a folder (give a run folder, or a checkpoint file inside one)")
    cfg_path = run_dir / "config.yaml"
    ckpt = Path(checkpoint) if checkpoint else run_dir / CHECKPOINT
    if not cfg_path.is_file():
        raise RunFolderError(f"{run_dir}: no config.yaml: not a pyronas search run folder")
    if not ckpt.exists():
        raise RunFolderError(
            f"{ckpt}: no checkpoint: the run stopped before the end of its first epoch, so there is nothing to "
            f"load; start it again with `pyronas search --config {cfg_path} --out {run_dir} --overwrite`"
        )
    state = load_checkpoint(ckpt)  # a damaged file fails here, before the data and supernet are built
    cfg = load_folder_config(load_config, cfg_path)
    search = Search(cfg, None if read_only else run_dir, data=data)
    _check_checkpoint(state, search, ckpt)
    try:
        state = _to_device(state, search.device)
        search.load_state_dict(state, ckpt)
    except RunFolderError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
        raise RunFolderError(f"{ckpt}: damaged checkpoint or not one of this config "
                             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return search


def run_search(
    cfg: Config, out_dir: str | Path | None = None, resume: bool = False, progress_bar: bool = True,
    data: Dataset | None = None, overwrite: bool = False,
) -> Genotype:
    """Run a search from a config (the CLI's ``pyronas search``), logging into ``out_dir/search.log``.

    The folder is written under ``pyronas.runfolder.writing``: locked against a second writer; a fresh
    run into a folder that holds one is refused unless ``overwrite`` (which deletes the old run's files
    first); whatever stops the run is the last line of ``search.log``. ``resume`` continues from
    ``checkpoint.pt`` (the folder's own config, see ``load_run``) and rewrites ``history.json`` and
    ``metrics.json`` from it. Pyro's validation is off during the search (it checks every
    distribution's arguments on every step) and restored afterwards."""
    out = Path(out_dir or cfg.output.dir or Path("runs") / cfg.name)
    world = current_world() if torch.distributed.is_initialized() else init_from_env(cfg.device)
    if not world.is_main:  # rank 0 alone logs, shows progress and writes the run folder
        with _quiet_logs():
            return _run(cfg, out, resume, progress_bar, data)
    with writing(out, "search.log", resume=resume, overwrite=overwrite, kind="search"):
        return _run(cfg, out, resume, progress_bar, data)


def _run(cfg: Config, out: Path, resume: bool, progress_bar: bool, data: Dataset | None) -> Genotype:
    if resume:
        search = load_run(out, data=data)
        log.info("resuming %s at epoch %d step %d", out, search.epoch, search.step_in_epoch)
        search.write_outputs()  # history.json / metrics.json as the checkpoint has them
    else:
        search = Search(cfg, out, data=data)
    with pyro.validation_enabled(False):
        return search.run(progress_bar)


@contextlib.contextmanager
def _quiet_logs():
    root = logging.getLogger("pyronas")
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.setLevel(level)
