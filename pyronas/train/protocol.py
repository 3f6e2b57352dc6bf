"""Retraining a found architecture from scratch: from a retraining config to a result.

``run_train`` loads the data of ``TrainConfig`` (``load_train_data``), builds the ``Trainer`` (the DARTS
evaluation protocol, ``pyronas.train.trainer``) — with VINNAS' Bayesian weights and their scaled KL when
``bayesian.enabled`` — writes the config and genotype next to its checkpoint, and resumes it on request.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
import yaml

from pyronas.config import ConfigError
from pyronas.data.datasets import load_dataset
from pyronas.distributed import init_from_env
from pyronas.io import atomic_write_text
from pyronas.nn.spaces import Genotype
from pyronas.runfolder import writing
from pyronas.train.bayesian import BayesianNetwork, gamma_schedule
from pyronas.train.config import TrainConfig
from pyronas.train.trainer import CHECKPOINT, Trainer, TrainResult, build_network

__all__ = ["check_genotype", "load_genotype", "load_train_data", "run_train"]


def load_genotype(path: str | Path) -> Genotype:
    """A genotype from a JSON file, or from ``genotype.json`` of a search run folder, checked against its
    space (``check_genotype``); a truncated, empty or invalid file is a ``ConfigError`` naming it."""
    p = Path(path)
    if p.is_dir():
        p = p / "genotype.json"
    if not p.is_file():
        raise ConfigError(f"genotype: no genotype at {p} (expected a genotype JSON file or a search run folder)")
    try:
        raw = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"genotype: {p} is not valid JSON ({e}); is it truncated? Take genotype.json "
                          "of a finished search") from None
    return check_genotype(raw, str(p))


def check_genotype(raw: Any, where: str) -> Genotype:
    """``Genotype.from_dict(raw)`` after checking that ``raw`` is a genotype of a known space: every cell
    kind of the space, edges ``[op, i, j]`` with ``op`` one of the space's operations, ``0 <= i < j``,
    ``j`` an intermediate node, every intermediate node fed (what ``Network`` builds). Raises
    ``ConfigError`` starting with ``where`` (``genotype: <file>``)."""
    from pyronas.nn.spaces import get_space

    shape = 'expected {"space": ..., "cells": {kind: [[op, from, to], ...]}}'
    if not isinstance(raw, dict) or not isinstance(raw.get("space"), str) or not isinstance(raw.get("cells"), dict):
        raise ConfigError(f"genotype: {where}: not a genotype ({shape}, got {_brief(raw)})")
    space = get_space(raw["space"], f"genotype: {where}: space")
    missing = [k for k in space.cell_kinds if k not in raw["cells"]]
    if missing:
        raise ConfigError(f"genotype: {where}: no cell of kind {', '.join(missing)} (space {space.name} has "
                          f"{', '.join(space.cell_kinds)})")
    n_states = space.n_inputs + space.n_nodes
    for kind, edges in raw["cells"].items():
        if kind not in space.cell_kinds:
            raise ConfigError(f"genotype: {where}: unknown cell kind {kind!r} (space {space.name} has "
                              f"{', '.join(space.cell_kinds)})")
        if not isinstance(edges, list) or not edges:
            raise ConfigError(f"genotype: {where}: cell {kind!r} has no edges ({shape})")
        for e in edges:
            if not (isinstance(e, list | tuple) and len(e) == 3 and isinstance(e[0], str)
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in e[1:])):
                raise ConfigError(f"genotype: {where}: edge {e!r} of cell {kind!r} is not [op, from, to]")
            op, i, j = e
            if op not in space.ops:
                raise ConfigError(f"genotype: {where}: unknown operation {op!r} in cell {kind!r} "
                                  f"(space {space.name}: {', '.join(space.ops)})")
            if not (0 <= i < j and space.n_inputs <= j < n_states):
                raise ConfigError(f"genotype: {where}: edge {list(e)} of cell {kind!r} does not fit space "
                                  f"{space.name} (0 <= from < to, {space.n_inputs} <= to < {n_states})")
        unfed = sorted(set(range(space.n_inputs, n_states)) - {e[2] for e in edges})
        if unfed:
            raise ConfigError(f"genotype: {where}: node(s) {unfed} of cell {kind!r} have no incoming edge")
    try:
        return Genotype.from_dict(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"genotype: {where}: not a genotype ({type(e).__name__}: {e})") from None


def _brief(raw: Any) -> str:
    text = json.dumps(raw) if not isinstance(raw, str) else repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def load_train_data(cfg: TrainConfig) -> tuple[tuple[torch.Tensor, ...], int]:
    """Training set (the first ``data.portion`` of a seeded permutation) and the test set."""
    d = cfg.data
    train = load_dataset(d.name, d.root, True, d.download, d.image_size)
    test = load_dataset(d.name, d.root, False, d.download, d.image_size)
    if d.portion < 1.0:
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))
        train = train.subset(perm[: max(1, int(round(d.portion * len(train))))].sort().values)
    return (train.x, train.y, test.x, test.y), train.num_classes


def run_train(
    cfg: TrainConfig,
    genotype: Genotype,
    out_dir: str | Path | None,
    resume: bool = False,
    data: tuple[tuple[torch.Tensor, ...], int] | None = None,
    progress: bool | None = None,
    overwrite: bool = False,
    test: bool = True,
) -> TrainResult:
    """Retrain ``genotype`` with ``cfg`` (continuing the checkpoint in ``out_dir`` when ``resume``).
    ``test=False``: no test evaluation (``test_acc`` NaN), for candidates that are selected on the
    validation split (``train.val_portion``) before the chosen one's test accuracy is reported once.

    ``out_dir`` is written under ``pyronas.runfolder.writing`` (locked, logged to ``train.log``); a fresh
    run into a folder that holds a retraining is refused unless ``overwrite``."""
    if out_dir is None or not init_from_env(cfg.device).is_main:  # under torchrun rank 0 alone writes the folder
        return _run_train(cfg, genotype, None if out_dir is None else Path(out_dir), resume, data, progress, test)
    with writing(out_dir, "train.log", resume=resume, overwrite=overwrite, kind="train", command="train"):
        return _run_train(cfg, genotype, Path(out_dir), resume, data, progress, test)


def _run_train(cfg: TrainConfig, genotype: Genotype, out_dir: Path | None, resume: bool,
               data: tuple[tuple[torch.Tensor, ...], int] | None, progress: bool | None,
               test: bool = True) -> TrainResult:
    tensors, num_classes = data if data is not None else load_train_data(cfg)
    train_cfg = cfg.train if progress is None else dataclasses.replace(cfg.train, progress=progress)
    build, regulariser = None, None
    if cfg.bayesian.enabled:
        build, regulariser = _bayesian_hooks(cfg, len(tensors[0]))
    trainer = Trainer(
        genotype,
        cfg.network,
        train_cfg,
        tensors,
        num_classes,
        cfg.data.batch_size,
        cfg.data.eval_batch_size,
        out_dir,
        cfg.seed,
        cfg.device,
        regulariser,
        build,
        tensorboard=cfg.output.tensorboard,
        test=test,
    )
    if out_dir is not None:
        if resume and (out_dir / CHECKPOINT).is_file():
            trainer.resume(out_dir)  # a damaged checkpoint fails here, before anything is rewritten
        atomic_write_text(out_dir / "train_config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        genotype.save(out_dir / "genotype.json")
    return trainer.run()


def _bayesian_hooks(cfg: TrainConfig, n_train: int):
    """``build`` / ``regulariser`` of a VINNAS Bayesian retraining: γ1(epoch) · KL / N."""
    bcfg = cfg.bayesian

    def build(genotype, network, in_channels, num_classes):
        net = build_network(genotype, network, in_channels, num_classes)
        return BayesianNetwork(net, bcfg.log_sigma2, bcfg.threshold)

    def regulariser(net, progress):
        gamma = gamma_schedule(progress, bcfg, cfg.train.epochs)
        return gamma * net.kl() / n_train if gamma > 0 else 0.0

    return build, regulariser
