"""VINNAS evaluation with Bayesian weights (Ferianc et al., sec. IV-B and V.A), reusing ``pyronas.nn.bayesian``.

During retraining every conv / linear weight of the discrete network has the log-uniform prior and
the mean-field Gaussian posterior q(w) = N(μ_w, σ_w²) (``NormalWeights``); the forward pass uses the
local reparameterisation trick (``LocalReparameterization``), and the loss adds
``γ1(epoch) · KL(q(w) || p(w)) / N`` (Molchanov's approximation, VINNAS eq. 5) with γ1 increased
linearly from ``start_epoch`` to ``end_epoch``. At evaluation the network uses the pruned means
(weights with log λ ≥ 3 set to zero) and the reported parameter count is the non-zero one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.func import functional_call

from pyronas.distributions import molchanov_kl
from pyronas.nn.bayesian import PRUNE_THRESHOLD, LocalReparameterization, NormalWeights, bayesian_parameters
from pyronas.optim.schedules import linear_ramp


@dataclass
class BayesianSection:
    """Bayesian retraining (off by default): final γ1, its linear ramp and the pruning threshold."""

    #: Train the discrete network's conv and linear weights variationally (log-uniform prior, local reparameterisation)
    #: and prune at the end.
    enabled: bool = False
    #: Final weight γ1 of the weight KL.
    gamma: float = 1.0
    #: Epoch before which γ1 is 0.
    start_epoch: float = 0.0
    #: Epoch at which γ1 reaches `gamma` (linear ramp); null: the last epoch.
    end_epoch: float | None = None
    #: Pruning threshold on log α = log σ²/w² (weights above it are set to 0 at evaluation).
    threshold: float = PRUNE_THRESHOLD
    #: Initial log σ² of every variational weight.
    log_sigma2: float = -10.0


def gamma_schedule(progress: float, cfg: BayesianSection, epochs: int) -> float:
    """γ1 at fractional epoch ``progress``: 0 before ``start_epoch``, linear to ``gamma`` at ``end_epoch``
    (``None``: the last epoch, ``epochs``) -- ``linear_ramp`` with the retraining default for ``end``."""
    return linear_ramp(progress, cfg.gamma, cfg.start_epoch, epochs if cfg.end_epoch is None else cfg.end_epoch)


class BayesianNetwork(nn.Module):
    """A discrete network whose conv / linear weights are variational (VINNAS retraining).

    Training mode: weights sampled from q(w) through the local reparameterisation trick.
    Evaluation mode: the pruned posterior means (log λ ≥ ``threshold`` → 0).
    """

    def __init__(self, net: nn.Module, log_sigma2: float = -10.0, threshold: float = PRUNE_THRESHOLD):
        super().__init__()
        self.net = net
        self.threshold = threshold
        params = bayesian_parameters(net)
        for p in params.values():  # replaced by q(w); the deterministic copies stay untouched
            p.requires_grad_(False)
        self.weights = NormalWeights(params, log_sigma2)

    @property
    def drop_path_prob(self) -> float:
        """The wrapped network's drop-path probability."""
        return self.net.drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, p: float) -> None:
        self.net.drop_path_prob = p

    def forward(self, x: torch.Tensor):
        """Training: weights drawn from q(w) (local reparameterisation); evaluation: the pruned means."""
        if self.training:
            with LocalReparameterization():
                sampled = self.weights.sample()
                return functional_call(self.net, sampled, (x,))
        return functional_call(self.net, self.weights.pruned_means(self.threshold), (x,))

    def kl(self) -> torch.Tensor:
        """Σ_w KL(q(w) || log-uniform) (Molchanov et al. 2017, eq. 14)."""
        return sum(molchanov_kl(self.weights.log_lambda(name)).sum() for name in self.weights.names)

    @torch.no_grad()
    def nonzero_parameters(self, exclude_auxiliary: bool = True) -> int:
        """Parameters left after pruning: variational weights with log λ < threshold plus every
        deterministic parameter (BN, biases) -- VINNAS' "# Params"."""
        skip = (lambda name: "auxiliary" in name) if exclude_auxiliary else (lambda name: False)
        masks = self.weights.keep_masks(self.threshold)
        kept = sum(int(m.sum()) for name, m in masks.items() if not skip(name))
        bayes = {id(p) for p in bayesian_parameters(self.net).values()}
        rest = sum(p.numel() for n, p in self.net.named_parameters() if id(p) not in bayes and not skip(n))
        return kept + rest

    def parameter_count(self, exclude_auxiliary: bool = True) -> int:
        """All parameters of the architecture (before pruning)."""
        return sum(p.numel() for n, p in self.net.named_parameters() if not (exclude_auxiliary and "auxiliary" in n))
