"""Mean-field Gaussian guides for α and w (VINNAS, Ferianc et al., eq. 5).

Two pieces, usable apart (``guide: {alpha: {name: mean_field}, weights: {name: mean_field}}``):

* ``MeanFieldAlphaGuide``: q(α) = Π N(μ_α, σ_α²) per cell kind, μ_α ~ N(0, ``init_scale``²) and
  log σ_α² = ``log_sigma2``.
* ``MeanFieldWeightGuide``: q(w) = Π N(μ_w, σ_w²) over the weights the prior makes random (μ_w
  Xavier-uniform, log σ_w² = ``log_sigma2``). With the log-uniform weight prior, q(w) is sampled
  inside the prior's local-reparameterisation handler, so the supernet uses output mean f(x, μ_w)
  and variance f(x², σ_w²) instead of the sampled weights.

Variances are stored as logarithms. ``MeanFieldGuide`` is the shorthand ``guide: {name: mean_field}``:
both pieces, q(w) only where the prior has weight sites.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn as nn

from pyronas.infer.program import AlphaGuide, ArchGuide, SupernetModel, WeightGuide
from pyronas.nn.bayesian import NormalWeights


class MeanFieldAlphaGuide(AlphaGuide):
    """q(α) = Π N(μ_α, σ_α²).

    Args:
        model: the ``SupernetModel``.
        init_scale: standard deviation of the μ_α initialisation (paper: N(0, 0.001)).
        log_sigma2: initial log-variance of α (paper: −10).
    """

    def __init__(self, model: SupernetModel, init_scale: float = 1e-3, log_sigma2: float = -10.0):
        super().__init__(model)
        self.alpha_loc = nn.ParameterDict(
            {k: nn.Parameter(init_scale * torch.randn(shape)) for k, shape in self.arch_shapes.items()}
        )
        self.alpha_log_sigma2 = nn.ParameterDict(
            {k: nn.Parameter(torch.full(shape, float(log_sigma2))) for k, shape in self.arch_shapes.items()}
        )

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """q(α) = N(μ_α, σ_α²), fully factorised (VINNAS)."""
        loc = self.alpha_loc[kind]
        return dist.Normal(loc, (0.5 * self.alpha_log_sigma2[kind]).exp()).to_event(2)

    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """(μ_α, σ_α) per cell kind, for positive-SNR selection (VINNAS IV-C)."""
        return {
            k: (self.alpha_loc[k].detach(), (0.5 * self.alpha_log_sigma2[k]).exp().detach()) for k in self.arch_shapes
        }


class MeanFieldWeightGuide(WeightGuide):
    """q(w) = Π N(μ_w, σ_w²) over the prior's weight sites; ``weights`` is the ``NormalWeights``.

    Args:
        model: the ``SupernetModel``; its prior's weight sites are the w sites.
        log_sigma2: initial log-variance of w (paper: −10).
    """

    def __init__(self, model: SupernetModel, log_sigma2: float = -10.0):
        super().__init__(model)
        self.weights = NormalWeights({n: model.supernet.get_parameter(n) for n in self.weight_sites}, log_sigma2)

    def sample(self) -> dict[str, torch.Tensor]:
        """One draw of every Bayesian weight from q(w), ``{site: tensor}``."""
        return self.weights.sample()


class MeanFieldGuide(ArchGuide):
    """Mean-field Gaussian q(α) q(w) (VINNAS); q(w) only where the prior has weight sites.

    Args:
        model: the ``SupernetModel``; its prior's ``weight_shapes`` (if any) are the w sites.
        init_scale: standard deviation of the μ_α initialisation (paper: N(0, 0.001)).
        log_sigma2: initial log-variance of α and w (paper: −10).
    """

    def __init__(self, model: SupernetModel, init_scale: float = 1e-3, log_sigma2: float = -10.0):
        alpha = MeanFieldAlphaGuide(model, init_scale, log_sigma2)  # first: the same RNG order as the group form
        weights = MeanFieldWeightGuide(model, log_sigma2) if model.prior.weight_shapes else None
        super().__init__(model, alpha, weights)
