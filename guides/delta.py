"""Point-mass guide q(α) = δ(α − α̂) (DARTS): the architecture is a point estimate."""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn as nn

from pyronas.infer.program import AlphaGuide, SupernetModel


class DeltaGuide(AlphaGuide):
    """δ(α̂) per cell kind; α̂ initialised as ``init_scale`` · N(0, 1) (DARTS uses 1e-3)."""

    def __init__(self, model: SupernetModel, init_scale: float = 1e-3):
        super().__init__(model)
        self.alpha = nn.ParameterDict(
            {k: nn.Parameter(init_scale * torch.randn(shape)) for k, shape in self.arch_shapes.items()}
        )

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """The point mass δ(α̂) of DARTS at the current α̂ of ``kind``."""
        return dist.Delta(self.alpha[kind], event_dim=2)

    @torch.no_grad()
    def op_probs(self, num_samples: int = 1) -> dict[str, torch.Tensor]:
        """softmax(α̂) per edge (exact: a point mass has nothing to average)."""
        return {k: self.to_weights(a) for k, a in self.alpha.items()}
