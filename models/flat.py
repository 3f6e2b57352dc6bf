"""Flat (improper uniform) prior on α: log p(α) = 0 (DARTS, VIM-NAS).

With a point-mass guide the ELBO is then exactly the (scaled) log-likelihood, i.e. DARTS'
cross-entropy; with VIM-NAS' N(μ_φ, 1) guide it is the likelihood plus a constant entropy.
"""

from __future__ import annotations

import pyro.distributions as dist
from pyro.distributions import constraints

from pyronas.infer.program import AlphaPrior


class FlatPrior(AlphaPrior):
    """p(α) ∝ 1 on R^{edges x ops} for every cell kind."""

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """The improper uniform density on α (DARTS: the loss is the likelihood alone)."""
        return dist.ImproperUniform(constraints.real, (), self.arch_shapes[kind])
