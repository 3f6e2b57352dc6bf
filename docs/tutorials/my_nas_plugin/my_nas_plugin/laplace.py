"""A sparsity-inducing prior on the architecture logits: α_{edge,op} ~ Laplace(0, b), independently.

The Laplace prior's log density is −|α| / b − log 2b: in a MAP reading it is an L1 penalty on α, which
pulls the logits of the ops the data do not support to exactly 0 (Tibshirani 1996).
"""

from __future__ import annotations

import pyro.distributions as dist
import torch

from pyronas.infer.program import AlphaPrior
from pyronas.nn.supernet import Supernet
from pyronas.registry import PRIORS


@PRIORS.register("laplace")
class LaplacePrior(AlphaPrior):
    """p(alpha/<kind>) = Π_{edge, op} Laplace(α | 0, b); event shape ``[edges, ops]``, mixed by softmax.

    The contract of an ``AlphaPrior``: ``__init__(supernet, **params)`` (the params are the config's
    ``model.alpha.params``), ``support`` ("real": α is mixed through softmax, ``to_weights``) and
    ``alpha_dist(kind)``, the distribution of the site ``alpha/<kind>``.

    Args:
        supernet: the supernet (its ``arch_shapes`` give the event shapes).
        scale: b > 0; the prior standard deviation is √2 b.
    """

    support = "real"

    def __init__(self, supernet: Supernet, scale: float = 1.0):
        super().__init__(supernet)
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")  # reported as model.alpha.params: ...
        self.scale = float(scale)

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """Laplace(0, b) on every (edge, op) of cell kind ``kind``."""
        zeros = torch.zeros(self.arch_shapes[kind], device=self.device)
        return dist.Laplace(zeros, torch.full_like(zeros, self.scale)).to_event(2)
