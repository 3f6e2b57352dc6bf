"""Gaussian prior on α: p(α) = N(0, I/δ) with a known precision δ > 0 (BaLeNAS eq. 5).

With the BaLeNAS guide the prior acts through VAdam's δ̃ μ term and σ² = 1/(N s + δ)
(eqs. 13, 17); the same δ must be given to both (the guide checks it when it binds VAdam).
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch

from pyronas.infer.program import AlphaPrior
from pyronas.nn.supernet import Supernet


class GaussianPrior(AlphaPrior):
    """p(alpha/<kind>) = Π N(0, 1/δ) over ``[edges, ops]`` for every cell kind.

    Args:
        supernet: the supernet (for the architecture shapes).
        delta: the prior precision δ > 0.
    """

    def __init__(self, supernet: Supernet, delta: float = 1.0):
        super().__init__(supernet)
        if delta <= 0:
            raise ValueError(f"model.params.delta: the prior precision must be > 0, got {delta}")
        self.delta = float(delta)
        for kind, shape in self.arch_shapes.items():
            self.register_buffer(f"_zeros_{kind}", torch.zeros(shape), persistent=False)

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """p(α) = N(0, I/δ) (BaLeNAS eq. 5)."""
        loc = getattr(self, f"_zeros_{kind}")
        return dist.Normal(loc, torch.full_like(loc, 1.0 / math.sqrt(self.delta))).to_event(2)
