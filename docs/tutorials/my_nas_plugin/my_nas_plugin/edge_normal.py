"""A Gaussian variational family for α with one scale per edge: q(α_{e,o}) = N(μ_{e,o}, σ_e²).

Between DARTS' point mass (σ = 0) and a mean-field Normal with one σ per op, the ops of an edge share
their uncertainty: an edge is either settled or not. ``loc_scale`` makes the guide usable by pyronas'
signal-to-noise selection rule (``select: {rule: snr}``, μ/σ² as in VINNAS).
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn as nn

from pyronas.infer.program import AlphaGuide, SupernetModel
from pyronas.registry import GUIDES


@GUIDES.register("edge_normal")
class EdgeNormalGuide(AlphaGuide):
    """q(alpha/<kind>) = Π_e Π_o N(μ_{e,o}, σ_e²), σ_e = exp(log_sigma_e); parameters ``loc`` ``[edges, ops]``
    and ``log_sigma`` ``[edges, 1]`` per cell kind.

    The contract of an ``AlphaGuide``: ``__init__(model, **params)`` (the config's ``guide.alpha.params``),
    ``support`` equal to the prior's, and ``alpha_dist(kind)``; the base class samples the site
    ``alpha/<kind>`` from it, gives ``arch_parameters`` (all of this module's parameters) to the
    architecture optimizer and estimates ``op_probs`` = E_q[softmax α] by Monte Carlo.

    Args:
        model: the ``SupernetModel`` whose α sites this guide covers.
        init_scale: μ ~ init_scale · N(0, 1) at the start (DARTS: 1e-3).
        init_sigma: the initial σ_e.
    """

    support = "real"

    def __init__(self, model: SupernetModel, init_scale: float = 1e-3, init_sigma: float = 0.1):
        super().__init__(model)
        self.loc = nn.ParameterDict(
            {k: nn.Parameter(init_scale * torch.randn(shape)) for k, shape in self.arch_shapes.items()}
        )
        self.log_sigma = nn.ParameterDict(
            {k: nn.Parameter(torch.full((shape[0], 1), math.log(init_sigma))) for k, shape in self.arch_shapes.items()}
        )

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """N(μ, σ_e²) over ``[edges, ops]``, the scale broadcast along the ops of an edge."""
        loc = self.loc[kind]
        return dist.Normal(loc, self.log_sigma[kind].exp().expand_as(loc)).to_event(2)

    @torch.no_grad()
    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """(μ, σ) per cell kind, for the SNR selection rule."""
        return {k: (m.detach().clone(), self.log_sigma[k].exp().expand_as(m).clone()) for k, m in self.loc.items()}
