"""Log-uniform (ARD) priors on α and on the network weights w (VINNAS, Ferianc et al., eq. 4).

Two pieces, usable apart (``model: {alpha: {name: log_uniform}, weights: {name: log_uniform}}``):

* ``LogUniformAlphaPrior``: p(α) = Π_{edge, op} p(α) with p(α) ∝ 1/|α|, mixed through softmax with
  the zero op's α clipped (VINNAS V-A).
* ``LogUniformWeightPrior``: the same prior on every conv/linear weight of the supernet. The
  weights are Pyro sites ``w/<parameter name>`` sampled here (``network_weights``) and plugged
  into the supernet through ``torch.func.functional_call``. The prior owns the
  local-reparameterisation handler (``pyronas.nn.bayesian.LocalReparameterization``) entered
  around the supernet forward (``network_context``); the mean-field weight guide samples the
  weights inside the same handler so it recognises them.

``LogUniformPrior`` is the shorthand ``model: {name: log_uniform, params: {bayesian_weights, zero_clip}}``.
"""

from __future__ import annotations

import logging

import pyro.distributions as dist
import torch

from pyronas.distributions import LogUniform
from pyronas.infer.program import AlphaPrior, ArchPrior, WeightPrior
from pyronas.nn.bayesian import LocalReparameterization, bayesian_parameters, weight_sites_prior
from pyronas.nn.supernet import Supernet

log = logging.getLogger(__name__)

ZERO_OP = "none"


class LogUniformAlphaPrior(AlphaPrior):
    """p(α) ∝ Π 1/|α| over ``[edges, ops]`` for every cell kind; weights softmax(α) with a zero-op clip.

    Args:
        supernet: the supernet (shapes and op names).
        zero_clip: upper clip of the ``none`` (zero) op's α before the softmax (VINNAS V-A: "we
            clip the strength of the zero operation to avoid scaling problems"; the paper gives
            no value, α ≤ 0 here so the zero op never outweighs an op at its initial strength);
            ``None`` disables the clip.
    """

    def __init__(self, supernet: Supernet, zero_clip: float | None = 0.0):
        super().__init__(supernet)
        self.zero_clip = zero_clip
        self.zero_index: int | None = None
        ops = supernet.space.ops
        if zero_clip is not None and ZERO_OP in ops:
            if all(names == list(ops) for k in self.arch_shapes for names in supernet.candidate_ops(k)):
                self.zero_index = ops.index(ZERO_OP)
            else:
                log.warning("zero-op clipping disabled: edges do not all carry the full op set")

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """The improper log-uniform prior p(α) ∝ 1/|α| (VINNAS' ARD prior)."""
        return LogUniform(self.arch_shapes[kind]).to_event(2)

    def to_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        """z = softmax(α) (VINNAS eq. 3) with the zero op's α clipped at ``zero_clip``."""
        if self.zero_index is not None:
            is_zero = torch.zeros(alpha.shape[-1], dtype=torch.bool, device=alpha.device)
            is_zero[self.zero_index] = True
            alpha = torch.where(is_zero, alpha.clamp(max=self.zero_clip), alpha)
        return torch.softmax(alpha, dim=-1)


class LogUniformWeightPrior(WeightPrior):
    """w/<name> ~ Π log-uniform for every conv/linear weight, with local reparameterisation (VINNAS eqs. 2, 4)."""

    def __init__(self, supernet: Supernet):
        super().__init__(supernet)
        self.weight_sites = {name: p.shape for name, p in bayesian_parameters(supernet).items()}
        self.lrt = LocalReparameterization()

    def network_weights(self, supernet: Supernet) -> dict[str, torch.Tensor]:
        """Sample ``w/<name>`` ~ log-uniform for every conv/linear weight (VINNAS eq. 4)."""
        return weight_sites_prior(self.weight_sites)


class LogUniformPrior(ArchPrior):
    """VINNAS prior: factorised log-uniform on α and (optionally) on the network weights.

    Args:
        supernet: the supernet (its conv and linear weights become sites if ``bayesian_weights``).
        bayesian_weights: make conv/linear weights random with the log-uniform prior.
        zero_clip: see ``LogUniformAlphaPrior``.
    """

    def __init__(self, supernet: Supernet, bayesian_weights: bool = True, zero_clip: float | None = 0.0):
        weights = LogUniformWeightPrior(supernet) if bayesian_weights else None
        super().__init__(LogUniformAlphaPrior(supernet, zero_clip), weights)
