"""Distributions used by pyronas programs (Pyro-compatible)."""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch.distributions import Normal, constraints, register_kl


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
        """The same distribution over a larger batch shape, keeping ε."""
        new = self._get_checked_instance(SmoothedCategorical, _instance)
        new = super().expand(batch_shape, _instance=new)
        new.epsilon = self.epsilon
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """(1 − ε) log p(y) + ε · mean_k log p(k): the negative label-smoothed cross-entropy."""
        logp = F.log_softmax(self.logits, dim=-1)
        nll = logp.gather(-1, value.long().unsqueeze(-1)).squeeze(-1)
        return (1 - self.epsilon) * nll + self.epsilon * logp.mean(-1)


class LogUniform(dist.TorchDistribution):
    """Factorised improper log-uniform prior p(w) ∝ 1/|w| (Kingma et al. 2015; VINNAS eq. 4).

    ``log_prob(w) = -log|w|`` up to an (infinite) normalising constant. Elementwise: the batch
    shape is the shape of the parameter it is a prior of; use ``.to_event(n)`` for an event.
    It cannot be sampled; its KL from a Normal is registered below (Molchanov et al. 2017) so
    that ``TraceMeanField_ELBO`` uses it analytically.

    Args:
        batch_shape: shape of the parameter (e.g. ``weight.shape``).
    """

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = False

    def __init__(self, batch_shape: torch.Size | tuple[int, ...] = (), validate_args=None):
        super().__init__(torch.Size(batch_shape), torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        """The same improper distribution over a larger batch shape."""
        new = self._get_checked_instance(LogUniform, _instance)
        super(LogUniform, new).__init__(torch.Size(batch_shape), torch.Size(), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log p(w) = −log|w| up to a constant (the improper log-uniform density)."""
        logp = -value.abs().log()
        return logp.expand(torch.broadcast_shapes(logp.shape, self.batch_shape))

    def sample(self, sample_shape=()):
        """Refused: an improper distribution cannot be sampled."""
        raise NotImplementedError("LogUniform is improper and does not support sampling")


# Molchanov et al. (2017), eq. 14: -KL(N(μ, σ²) || log-uniform) ≈ k1 σ(k2 + k3 log λ) - ½ log(1 + 1/λ) - k1
MOLCHANOV_K1, MOLCHANOV_K2, MOLCHANOV_K3 = 0.63576, 1.8732, 1.48695


def molchanov_kl(log_lambda: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) || p(w) ∝ 1/|w|) as a function of log λ = log σ²/μ², elementwise:

        KL ≈ k1 − k1·sigmoid(k2 + k3·log λ) + ½·log(1 + 1/λ)

    (Molchanov et al. 2017, eq. 14; VINNAS eq. 5 prints its negative). It is ≥ 0, decreasing in
    λ and → 0 as λ → ∞; the constant is chosen so, since the prior is improper.
    """
    k1, k2, k3 = MOLCHANOV_K1, MOLCHANOV_K2, MOLCHANOV_K3
    return k1 - k1 * torch.sigmoid(k2 + k3 * log_lambda) + 0.5 * F.softplus(-log_lambda)


def log_lambda(loc: torch.Tensor, scale: torch.Tensor, eps: float = 1e-16) -> torch.Tensor:
    """log λ = log σ² − log μ² (the dropout-rate parameter of variational dropout)."""
    return 2 * scale.log() - (loc**2 + eps).log()


@register_kl(Normal, LogUniform)
def _kl_normal_loguniform(p: Normal, q: LogUniform) -> torch.Tensor:
    kl = molchanov_kl(log_lambda(p.loc, p.scale))
    return kl.expand(torch.broadcast_shapes(kl.shape, q.batch_shape))
