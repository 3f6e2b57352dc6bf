"""Symmetric Dirichlet prior on the op mixing weights θ (DrNAS, Chen et al. ICLR 2021).

For every edge of every cell kind, θ_edge ~ Dir(1): the anchor β = 1 of DrNAS eq. 2. θ already
lies on the probability simplex, so the supernet mixes ops with θ directly (no softmax).
Under appendix A.5's variational reading, the anchor is KL(Dir(β) ‖ Dir(1)) — the KL term of the
ELBO with this prior (``objective.elbo: meanfield``); under the paper's default L2 anchor the
site is masked (``kl_scales: {"alpha/": 0}``) and the objective is E_q[CE] + λ‖η‖².
"""

from __future__ import annotations

import pyro.distributions as dist
import torch

from pyronas.infer.program import AlphaPrior


class DirichletPrior(AlphaPrior):
    """p(θ) = Π_edges Dir(θ_edge | concentration · 1); site ``alpha/<kind>``, event shape [edges, ops].

    Args:
        concentration: the symmetric anchor value (DrNAS: 1).
    """

    support = "simplex"

    def __init__(self, supernet, concentration: float = 1.0):
        super().__init__(supernet)
        self.concentration = float(concentration)

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """p(θ) = Dir(c·1) per edge (DrNAS: c = 1, the uniform distribution on the simplex)."""
        shape = self.arch_shapes[kind]
        return dist.Dirichlet(torch.full(shape, self.concentration, device=self.device)).to_event(1)

    def to_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        """θ is on the simplex already: the mixing weights are θ itself."""
        return alpha
