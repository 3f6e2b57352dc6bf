"""Distributions used by pyronas programs (Pyro-compatible)."""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn.functional as F


class SmoothedCategorical(dist.Categorical):
    """Categorical likelihood with label smoothing ε:

    log p(y | logits) := (1 - ε) log softmax(logits)_y + ε/K Σ_k log softmax(logits)_k,

    i.e. minus the label-smoothed cross-entropy (Szegedy et al. 2016). Unnormalised as a
    distribution over y, which is all a likelihood term needs.
    """

    def __init__(self, logits: torch.Tensor, epsilon: float = 0.1, validate_args=None):
        self.epsilon = float(epsilon)
        super().__init__(logits=logits, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape, _instance)
        new.epsilon = self.epsilon
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(self.logits, dim=-1)
        nll = logp.gather(-1, value.long().unsqueeze(-1)).squeeze(-1)
        return (1 - self.epsilon) * nll + self.epsilon * logp.mean(-1)
