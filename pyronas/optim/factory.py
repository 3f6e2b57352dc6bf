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


# --- VAdam (BaLeNAS, issue 6) -----------------------------------------------------------------
def _vadam(params: list[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """Variational Adam (BaLeNAS eqs. 17-18): ``lr`` is β_t, ``momentum`` is γ_t; ``params`` takes
    ``prior_precision`` (δ, equal to the Gaussian prior's), ``num_data`` (N, the architecture split's
    size), ``init_s``, ``hessian``, ``num_samples``, ``hessian_probes``, ``s_rate``. The prior δ̃ μ
    replaces weight decay, so ``weight_decay`` must be 0."""
    from pyronas.optim.vadam import VAdam

    if cfg.weight_decay:
        raise ValueError(
            f"weight_decay: VAdam's prior precision replaces weight decay; set it to 0 (got {cfg.weight_decay})"
        )
    return VAdam(params, lr=cfg.lr, momentum=cfg.momentum, **cfg.params)


OPTIMIZERS["vadam"] = _vadam
