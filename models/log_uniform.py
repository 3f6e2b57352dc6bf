"""Log-uniform (ARD) priors on α and on the network weights w (VINNAS, Ferianc et al., eq. 4).

p(α) = Π_{edge, op} p(α) with p(α) ∝ 1/|α|, and the same on every conv/linear weight of the
supernet: the weights are Pyro sites ``w/<parameter name>`` sampled here (``network_weights``)
and plugged into the supernet through ``torch.func.functional_call``. The prior owns the
local-reparameterisation handler (``pyronas.nn.bayesian.LocalReparameterization``) entered around
the supernet forward (``network_context``); the mean-field guide samples the weights inside the
same handler so it recognises them.
"""

from __future__ import annotations

import contextlib
import logging

import pyro.distributions as dist
import torch

from pyronas.distributions import LogUniform
from pyronas.infer.program import ArchPrior
from pyronas.nn.bayesian import LocalReparameterization, bayesian_parameters, weight_sites_prior
from pyronas.nn.supernet import Supernet

log = logging.getLogger(__name__)

ZERO_OP = "none"


class LogUniformPrior(ArchPrior):
    """VINNAS prior: factorised log-uniform on α and (optionally) on the network weights.

    Args:
        supernet: the supernet (its conv and linear weights become sites if ``bayesian_weights``).
        bayesian_weights: make conv/linear weights random with the log-uniform prior.
        zero_clip: upper clip of the ``none`` (zero) op's α before the softmax (VINNAS V-A: "we
            clip the strength of the zero operation to avoid scaling problems"; the paper gives
            no value, α ≤ 0 here so the zero op never outweighs an op at its initial strength);
            ``None`` disables the clip.
    """

    def __init__(self, supernet: Supernet, bayesian_weights: bool = True, zero_clip: float | None = 0.0):
        super().__init__(supernet)
        self.weight_shapes = (
            {name: p.shape for name, p in bayesian_parameters(supernet).items()} if bayesian_weights else {}
        )
        self.lrt = LocalReparameterization()
        self.zero_clip = zero_clip
        self.zero_index: int | None = None
        ops = supernet.space.ops
        if zero_clip is not None and ZERO_OP in ops:
            if all(names == list(ops) for k in self.arch_shapes for names in supernet.candidate_ops(k)):
                self.zero_index = ops.index(ZERO_OP)
            else:
                log.warning("zero-op clipping disabled: edges do not all carry the full op set")

    def alpha_dist(self, kind: str) -> dist.Distribution:
        return LogUniform(self.arch_shapes[kind]).to_event(2)

    def to_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        """z = softmax(α) (VINNAS eq. 3) with the zero op's α clipped at ``zero_clip``."""
        if self.zero_index is not None:
            is_zero = torch.zeros(alpha.shape[-1], dtype=torch.bool, device=alpha.device)
            is_zero[self.zero_index] = True
            alpha = torch.where(is_zero, alpha.clamp(max=self.zero_clip), alpha)
        return torch.softmax(alpha, dim=-1)

    def network_weights(self, supernet: Supernet) -> dict[str, torch.Tensor]:
        """Sample ``w/<name>`` ~ log-uniform for every conv/linear weight (VINNAS eq. 4)."""
        return weight_sites_prior(self.weight_shapes)

    def network_context(self) -> contextlib.AbstractContextManager:
        """The local-reparameterisation handler (VINNAS eq. 2) around the supernet forward."""
        return self.lrt if self.weight_shapes else contextlib.nullcontext()
