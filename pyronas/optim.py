"""Optimizer factories and learning-rate schedules from config sections."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from pyronas.config import OptimConfig

OptimizerFactory = Callable[[list[torch.nn.Parameter], OptimConfig], torch.optim.Optimizer]

OPTIMIZERS: dict[str, OptimizerFactory] = {
    "sgd": lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, **c.params),
    "adam": lambda p, c: torch.optim.Adam(p, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay, **c.params),
    "adamw": lambda p, c: torch.optim.AdamW(p, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay, **c.params),
}


def make_optimizer(params: list[torch.nn.Parameter], cfg: OptimConfig, where: str) -> torch.optim.Optimizer:
    """Build the optimizer named ``cfg.name`` over ``params``; errors name the config key."""
    if cfg.name not in OPTIMIZERS:
        raise ValueError(f"{where}.name: unknown optimizer {cfg.name!r} (known: {', '.join(OPTIMIZERS)})")
    try:
        return OPTIMIZERS[cfg.name](params, cfg)
    except TypeError as e:
        raise ValueError(f"{where}.params: {e}") from None


def lr_at(cfg: OptimConfig, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch``: constant, or cosine annealing from ``lr`` to ``lr_min`` over ``epochs``
    (SGDR without restarts; DARTS' ``CosineAnnealingLR(T_max=epochs, eta_min=lr_min)``)."""
    if cfg.schedule == "constant":
        return cfg.lr
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * epoch / epochs))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
