"""Mean-field Gaussian guide for α and w (VINNAS, Ferianc et al., eq. 5).

q(α) = Π N(μ_α, σ_α²) per cell kind, μ_α ~ N(0, ``init_scale``²) and log σ_α² = ``log_sigma2``;
q(w) = Π N(μ_w, σ_w²) over the weights the prior makes random (μ_w Xavier-uniform, log σ_w² =
``log_sigma2``). Variances are stored as logarithms. With the log-uniform prior, q(w) is
sampled inside the prior's local-reparameterisation handler, so the supernet uses
output mean f(x, μ_w) and variance f(x², σ_w²) instead of the sampled weights.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn

from pyronas.infer.program import ArchGuide, SupernetModel, alpha_site
from pyronas.nn.bayesian import NormalWeights


class MeanFieldGuide(ArchGuide):
    """Mean-field Gaussian q(α) q(w).

    Args:
        model: the ``SupernetModel``; its prior's ``weight_shapes`` (if any) are the w sites.
        init_scale: standard deviation of the μ_α initialisation (paper: N(0, 0.001)).
        log_sigma2: initial log-variance of α and w (paper: −10).
    """

    def __init__(self, model: SupernetModel, init_scale: float = 1e-3, log_sigma2: float = -10.0):
        super().__init__(model)
        self.alpha_loc = nn.ParameterDict(
            {k: nn.Parameter(init_scale * torch.randn(shape)) for k, shape in self.arch_shapes.items()}
        )
        self.alpha_log_sigma2 = nn.ParameterDict(
            {k: nn.Parameter(torch.full(shape, float(log_sigma2))) for k, shape in self.arch_shapes.items()}
        )
        names = getattr(model.prior, "weight_shapes", {})
        self.weights = NormalWeights({n: model.supernet.get_parameter(n) for n in names}, log_sigma2)
        self._lrt = getattr(model.prior, "lrt", None)

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.weights.parameters())

    def alpha_dist(self, kind: str) -> dist.Distribution:
        loc = self.alpha_loc[kind]
        return dist.Normal(loc, (0.5 * self.alpha_log_sigma2[kind]).exp()).to_event(2)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, n_data: int) -> None:
        for kind in self.arch_shapes:
            pyro.sample(alpha_site(kind), self.alpha_dist(kind))
        if not self.weights.names:
            return
        if self._lrt is None:
            self.weights.sample()
            return
        self._lrt.reset()
        with self._lrt:
            self.weights.sample()

    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """(μ_α, σ_α) per cell kind, for positive-SNR selection (VINNAS IV-C)."""
        return {
            k: (self.alpha_loc[k].detach(), (0.5 * self.alpha_log_sigma2[k]).exp().detach()) for k in self.arch_shapes
        }
