"""Optimizer factories and learning-rate schedules from config sections."""

from __future__ import annotations

from collections.abc import Callable

import torch

from pyronas.config import OptimConfig
from pyronas.errors import ConfigError
from pyronas.optim.schedules import cosine_annealing
from pyronas.registry import Registry

OptimizerFactory = Callable[[list[torch.nn.Parameter], OptimConfig], torch.optim.Optimizer]

OPTIMIZERS: Registry[OptimizerFactory] = Registry(
    "optimizer",
    "a factory(parameters, cfg: OptimConfig) -> torch.optim.Optimizer (cfg.params are extra kwargs); a factory "
    "attribute natural_gradient = True declares an optimizer whose state is a Gaussian posterior's precision "
    "(VAdam): it then needs an alpha guide declaring natural_gradient = True (checked on load)",
)
OPTIMIZERS.register(
    "sgd", lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, **c.params)
)
OPTIMIZERS.register(
    "adam",
    lambda p, c: torch.optim.Adam(p, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay, **c.params),
)
OPTIMIZERS.register(
    "adamw",
    lambda p, c: torch.optim.AdamW(p, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay, **c.params),
)


def make_optimizer(params: list[torch.nn.Parameter], cfg: OptimConfig, where: str) -> torch.optim.Optimizer:
    """Build the optimizer named ``cfg.name`` over ``params``; errors name the config key ``where``
    (``optim.arch``): an unknown name, an unknown keyword in ``params``, a value the optimizer rejects."""
    factory = OPTIMIZERS.get(cfg.name, f"{where}.name")
    try:
        return factory(params, cfg)
    except TypeError as e:
        raise ConfigError(f"{where}.params: {e}") from None
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from e


def lr_at(cfg: OptimConfig, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch``: constant, or cosine annealing from ``lr`` to ``lr_min`` over ``epochs``
    (SGDR without restarts; DARTS' ``CosineAnnealingLR(T_max=epochs, eta_min=lr_min)``)."""
    if cfg.schedule == "constant":
        return cfg.lr
    return cosine_annealing(epoch, epochs, cfg.lr, cfg.lr_min)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


# --- VAdam (BaLeNAS) -----------------------------------------------------------------
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


_vadam.natural_gradient = True  # type: ignore[attr-defined]  # its precision state is q(α)'s σ (BaLeNAS eq. 5)
OPTIMIZERS.register("vadam", _vadam)
