"""Dirichlet variational family q(θ | β) = Π_edges Dir(θ_edge | β_edge) of DrNAS (Chen et al., ICLR 2021).

β = ELU(η) + 1 > 0 (section 4.1), η initialised as 0.001 · N(0, 1), so β starts at the anchor
β ≈ 1. One pathwise sample θ ~ Dir(β) per forward pass (eq. 3, implicit reparameterisation of
Jankowiak & Obermeyer 2018, torch's ``Dirichlet.rsample``). Selection uses the Dirichlet mean
E[θ_o] = β_o / Σ_o' β_o' (eq. 4).
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.infer.program import AlphaGuide, SupernetModel


class DirichletGuide(AlphaGuide):
    """θ_edge ~ Dir(ELU(η_edge) + 1) for every cell kind; parameters ``eta[kind]`` of shape [edges, ops].

    Args:
        model: the ``SupernetModel`` whose ``alpha/<kind>`` sites this guide samples.
        init_scale: η ~ init_scale · N(0, 1) at the start (DrNAS: 1e-3).

    torch's Dirichlet ``rsample`` backward is ``once_differentiable``, so DARTS' unrolled second
    order gradient through θ would be silently wrong: ``supports_second_order = False``.
    """

    support = "simplex"
    supports_second_order = False

    def __init__(self, model: SupernetModel, init_scale: float = 1e-3):
        super().__init__(model)
        self.eta = nn.ParameterDict(
            {k: nn.Parameter(init_scale * torch.randn(shape)) for k, shape in self.arch_shapes.items()}
        )

    def beta(self, kind: str) -> torch.Tensor:
        """Concentration β = ELU(η) + 1 (DrNAS section 4.1)."""
        return F.elu(self.eta[kind]) + 1.0

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """q(θ) = Dir(β) per edge, β = ELU(η) + 1 (DrNAS eq. 3), pathwise-differentiable samples."""
        return dist.Dirichlet(self.beta(kind)).to_event(1)

    @torch.no_grad()
    def op_probs(self, num_samples: int = 0) -> dict[str, torch.Tensor]:
        """The Dirichlet mean β / Σβ per edge (eq. 4), in closed form."""
        out = {}
        for kind in self.arch_shapes:
            b = self.beta(kind)
            out[kind] = b / b.sum(-1, keepdim=True)
        return out

    @torch.no_grad()
    def prune_ops(self, keep: dict[str, torch.Tensor], lineage: dict | None = None) -> None:
        """Keep, on every edge, only the op columns ``keep[kind]`` (``[edges, k]`` indices) of η.

        Called by progressive learning (DrNAS section 2.4) after the supernet's op sets were pruned
        the same way; the parameters are replaced, so the optimizer must be rebuilt. ``lineage``
        (optional) records new η -> (old η, column gather) for carrying optimizer state over.
        """
        for kind, idx in keep.items():
            eta = self.eta[kind]
            idx = idx.to(eta.device)
            self.eta[kind] = nn.Parameter(eta.gather(-1, idx).clone())
            if lineage is not None:
                lineage[self.eta[kind]] = (eta, lambda t, idx=idx: t.gather(-1, idx))
            self.arch_shapes[kind] = tuple(self.eta[kind].shape)
