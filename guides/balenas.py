"""BaLeNAS guide: q(α) = N(μ, diag σ²) whose σ is not a parameter but VAdam's state (BaLeNAS eqs. 5, 17-18).

    σ² = 1 / (N (s + δ̃)),   δ̃ = δ / N

``s`` is the precision state of the ``VAdam`` optimizer that updates μ; the search hands the
optimizer to the guide through ``bind_optimizer``. Sampling α = μ + σ ε with σ detached makes
backpropagation to μ give the gradient at a Monte Carlo sample θ_t ~ q, the ĝ(θ_t) of eq. 17.
Before an optimizer is bound s = 0, i.e. σ² = 1/δ, the prior's variance.

The prior enters the μ update only through VAdam's δ̃ μ term, so the objective must not add the
KL of the ``alpha/`` sites again: BaLeNAS configs set ``objective.kl_scales: {"alpha/": 0}``.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn as nn

from pyronas.infer.program import AlphaGuide, SupernetModel
from pyronas.models.gaussian import GaussianPrior
from pyronas.optim.vadam import VAdam


class BalenasGuide(AlphaGuide):
    """N(μ, σ²) per cell kind with σ read from the bound ``VAdam``.

    Args:
        model: the ``SupernetModel``; its prior must be Gaussian with precision ``delta``
            (``models/gaussian.py``).
        init_scale: μ is initialised as ``init_scale`` · N(0, 1) (DARTS uses 1e-3).
    """

    needs_prior = GaussianPrior
    natural_gradient = True  # σ is VAdam's precision state s (eq. 5): optim.arch.name must be vadam

    def __init__(self, model: SupernetModel, init_scale: float = 1e-3):
        super().__init__(model)
        prior = model.prior.alpha
        if not isinstance(prior, GaussianPrior):
            raise ValueError("guide balenas needs a Gaussian prior with precision delta (model.name: gaussian)")
        self.delta = prior.delta
        self.mu = nn.ParameterDict(
            {k: nn.Parameter(init_scale * torch.randn(shape)) for k, shape in self.arch_shapes.items()}
        )
        self._optimizer: VAdam | None = None

    def bind_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Read σ from ``optimizer`` from now on; it must be a VAdam over every μ with the prior's δ."""
        if not isinstance(optimizer, VAdam):
            raise TypeError(f"guide balenas needs optim.arch.name: vadam, got {type(optimizer).__name__}")
        owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for kind, mu in self.mu.items():
            if id(mu) not in owned:
                raise ValueError(f"VAdam does not optimise the mean of alpha/{kind}")
            delta = optimizer.param_group(mu)["prior_precision"]
            if not math.isclose(delta, self.delta, rel_tol=1e-9):
                raise ValueError(
                    f"optim.arch.params.prior_precision ({delta}) must equal model.params.delta ({self.delta})"
                )
        self._optimizer = optimizer

    def scale(self, kind: str) -> torch.Tensor:
        """σ of alpha/<kind>: 1/sqrt(N (s + δ̃)) from the bound VAdam, else 1/sqrt(δ) (s = 0)."""
        mu = self.mu[kind]
        if self._optimizer is None:
            return torch.full_like(mu, 1.0 / math.sqrt(self.delta)).detach()
        return self._optimizer.sigma(mu)

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """q(α) = N(μ, σ²) per cell kind, σ from Variational Adam's precision (BaLeNAS eq. 13-18)."""
        return dist.Normal(self.mu[kind], self.scale(kind)).to_event(2)

    @torch.no_grad()
    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """(μ, σ) per cell kind, detached copies (for ``loc`` selection)."""
        return {k: (mu.detach().clone(), self.scale(k).clone()) for k, mu in self.mu.items()}
