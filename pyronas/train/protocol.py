"""Retraining a found architecture from scratch: from a retraining config to a result.

``run_train`` loads the data of ``TrainConfig`` (``load_train_data``), builds the ``Trainer`` (the DARTS
evaluation protocol, ``pyronas.train.trainer``) — with VINNAS' Bayesian weights and their scaled KL when
``bayesian.enabled`` — writes the config and genotype next to its checkpoint, and resumes it on request.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import yaml

from pyronas.config import ConfigError
from pyronas.data.datasets import load_dataset
from pyronas.nn.spaces import Genotype
from pyronas.train.bayesian import BayesianNetwork, gamma_schedule
from pyronas.train.config import TrainConfig
from pyronas.train.trainer import CHECKPOINT, Trainer, TrainResult, build_network

__all__ = ["load_genotype", "load_train_data", "run_train"]


def load_genotype(path: str | Path) -> Genotype:
    """A genotype from a JSON file, or from ``genotype.json`` of a search run folder."""
    p = Path(path)
    if p.is_dir():
        p = p / "genotype.json"
    if not p.is_file():
        raise ConfigError(f"genotype: no genotype at {p} (expected a genotype JSON file or a search run folder)")
    return Genotype.load(p)


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
) -> TrainResult:
    """Retrain ``genotype`` with ``cfg`` (continuing the checkpoint in ``out_dir`` when ``resume``)."""
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
    )
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(out_dir) / "train_config.yaml", "w") as f:
            yaml.safe_dump(cfg.to_dict(), f, sort_keys=False)
        genotype.save(Path(out_dir) / "genotype.json")
        if resume and (Path(out_dir) / CHECKPOINT).is_file():
            trainer.resume(out_dir)
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
