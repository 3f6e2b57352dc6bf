"""Scalar schedules over (fractional) epochs, shared by the search and the retraining loops."""

from __future__ import annotations

import math

__all__ = ["cosine_annealing", "linear_ramp"]


def cosine_annealing(epoch: float, epochs: int, lr: float, lr_min: float = 0.0) -> float:
    """Cosine annealing without restarts (Loshchilov & Hutter 2017, SGDR eq. 5 with one period):

        η_t = η_min + ½ (η_max − η_min) (1 + cos(π t / T)),

    ``t = epoch``, ``T = epochs`` (DARTS' ``CosineAnnealingLR(T_max=epochs, eta_min=lr_min)``).
    """
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


def linear_ramp(progress: float, value: float, start: float = 0.0, end: float | None = None) -> float:
    """A weight that is 0 before ``start``, grows linearly to ``value`` at ``end`` and stays there
    (VINNAS Algorithm 1 line 19: γ grows linearly from a start epoch to its maximum).

    ``end`` ``None`` or ``<= start``: a step to ``value`` at ``start`` (a constant from epoch 0 when
    ``start`` is 0).
    """
    if progress < start:
        return 0.0
    if end is None or end <= start or progress >= end:
        return value
    return value * (progress - start) / (end - start)
