"""The model side of the Pyro program: the sites' names, the prior pieces per group (``AlphaPrior``,
``WeightPrior``, ``NoWeightPrior``), their composite ``ArchPrior``, and ``SupernetModel``: a prior composed
with the supernet and a categorical likelihood observed inside ``pyro.plate("data", n_data, subsample=...)``,
so the log-likelihood of a batch is scaled to the size of its data split (``n_data / batch``).
"""

from __future__ import annotations

import contextlib
from typing import ClassVar, Literal

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.distributions import SmoothedCategorical
from pyronas.nn.bayesian import LocalReparameterization
from pyronas.nn.supernet import Supernet

__all__ = [
    "ALPHA",
    "AlphaPrior",
    "ArchPrior",
    "NONE",
    "NoWeightPrior",
    "SupernetModel",
    "Support",
    "WeightPrior",
    "alpha_site",
]

ALPHA = "alpha"
NONE = "none"  # the name of the empty weight group (point-estimate weights) in configs
Support = Literal["real", "simplex"]


def alpha_site(kind: str) -> str:
    """Name of the architecture sample site of cell kind ``kind``."""
    return f"{ALPHA}/{kind}"


# --- priors ---------------------------------------------------------------------------------------
class AlphaPrior(nn.Module):
    """Prior of the α group, p(alpha/<kind>) for every cell kind. Subclasses implement ``alpha_dist``.

    Attributes:
        support: "real" (α ∈ R^{edges×ops}, mixed through softmax) or "simplex" (θ on the
            probability simplex per edge, mixed as is); a guide must sample the same support.
    """

    support: ClassVar[Support] = "real"

    def __init__(self, supernet: Supernet):
        super().__init__()
        self.arch_shapes = supernet.arch_shapes()
        # follows .to(device), so priors can build their tensors where the search runs
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    @property
    def device(self) -> torch.device:
        """The device of the prior's tensors."""
        return self._anchor.device

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """Prior distribution of site ``alpha/<kind>``, event shape ``[edges, ops]``."""
        raise NotImplementedError

    def to_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        """Mixing weights of the ops on each edge: softmax(α) (DARTS eq. 2)."""
        return F.softmax(alpha, dim=-1)


class WeightPrior(nn.Module):
    """Prior of the w group: the network weights that are Pyro sites ``w/<parameter name>``.

    Attributes:
        has_weight_sites: whether this prior makes weights random (a guide must then give them q(w)).
        weight_sites: ``{parameter name: shape}`` of the random weights (empty: none).
        lrt: the local-reparameterisation handler entered around the supernet forward and by the
            weight guide while sampling (``pyronas.nn.bayesian``), or None.
    """

    has_weight_sites: ClassVar[bool] = True

    def __init__(self, supernet: Supernet | None = None):
        super().__init__()
        self.weight_sites: dict[str, torch.Size] = {}
        self.lrt: LocalReparameterization | None = None

    def network_weights(self, supernet: Supernet) -> dict[str, torch.Tensor]:
        """Sample the random network weights: ``{parameter name: sampled tensor}``, plugged in
        via ``torch.func.functional_call``."""
        raise NotImplementedError

    def network_context(self) -> contextlib.AbstractContextManager:
        """Context entered around the supernet forward (the LRT handler when there is one)."""
        return self.lrt if self.lrt is not None else contextlib.nullcontext()


class NoWeightPrior(WeightPrior):
    """No weight sites: the network weights are point estimates (``weights: {name: none}``)."""

    has_weight_sites: ClassVar[bool] = False

    def network_weights(self, supernet: Supernet) -> dict[str, torch.Tensor]:
        """No Bayesian weights: the network's own parameters are used."""
        return {}


class ArchPrior(nn.Module):
    """The composite prior p(α) p(w) of a ``SupernetModel``: one ``AlphaPrior`` and one ``WeightPrior``.

    Args:
        alpha: the α-group prior.
        weights: the w-group prior (default: ``NoWeightPrior``, point-estimate weights).
    """

    def __init__(self, alpha: AlphaPrior, weights: WeightPrior | None = None):
        super().__init__()
        self.alpha = alpha
        self.weights = weights if weights is not None else NoWeightPrior()

    @property
    def arch_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{kind: (edges, ops)}`` of the α sites (the α prior's)."""
        return self.alpha.arch_shapes

    @arch_shapes.setter
    def arch_shapes(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.alpha.arch_shapes = shapes

    @property
    def weight_shapes(self) -> dict[str, torch.Size]:
        """``{parameter name: shape}`` of the weights that are sites (empty without a weight prior)."""
        return self.weights.weight_sites

    @property
    def support(self) -> Support:
        """The α prior's support (``real`` or ``simplex``)."""
        return self.alpha.support

    @property
    def device(self) -> torch.device:
        """The α prior's device."""
        return self.alpha.device

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """The α prior's distribution for ``kind``."""
        return self.alpha.alpha_dist(kind)

    def to_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        """Mixing weights from an α value (the α prior's map, e.g. softmax)."""
        return self.alpha.to_weights(alpha)

    def network_weights(self, supernet: Supernet) -> dict[str, torch.Tensor]:
        """The weight prior's sampled network weights (empty without Bayesian weights)."""
        return self.weights.network_weights(supernet)

    def network_context(self) -> contextlib.AbstractContextManager:
        """The weight prior's context for the forward pass (e.g. the local reparameterisation)."""
        return self.weights.network_context()


class SupernetModel(nn.Module):
    """p(y, α[, w] | x) = p(α) [p(w)] Π_n Cat(y_n | supernet(x_n; softmax α, w)).

    Args:
        supernet: the weight-sharing supernet.
        prior: an ``ArchPrior`` (an ``AlphaPrior`` alone means no weight sites).
        label_smoothing: ε of a label-smoothed likelihood (0 = plain categorical).
    """

    def __init__(self, supernet: Supernet, prior: ArchPrior | AlphaPrior, label_smoothing: float = 0.0):
        super().__init__()
        self.supernet = supernet
        self.prior = prior if isinstance(prior, ArchPrior) else ArchPrior(prior)
        self.label_smoothing = label_smoothing

    def sample_alpha(self) -> dict[str, torch.Tensor]:
        """Sample every ``alpha/<kind>`` site from the prior, ``{kind: α}`` (the α-only model)."""
        return {kind: pyro.sample(alpha_site(kind), self.prior.alpha_dist(kind)) for kind in self.prior.arch_shapes}

    def sample_weights(self) -> dict[str, torch.Tensor]:
        """Sample every ``alpha/<kind>`` site and map it to mixing weights."""
        return {kind: self.prior.to_weights(a) for kind, a in self.sample_alpha().items()}

    def logits(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        """The supernet's logits for ``x`` with mixing ``weights`` and any sampled network weights."""
        sampled = self.prior.network_weights(self.supernet)
        with self.prior.network_context():
            if sampled:
                return torch.func.functional_call(self.supernet, sampled, (x, weights), strict=False)
            return self.supernet(x, weights)

    def likelihood(self, logits: torch.Tensor, y: torch.Tensor | None, n_data: int) -> None:
        """Π_n Cat(y_n | logits_n) in a subsampled plate of size ``n_data`` (scale n_data / batch)."""
        with pyro.plate("data", n_data, subsample=torch.arange(logits.shape[0], device=logits.device)):
            if self.label_smoothing > 0:
                lik = SmoothedCategorical(logits=logits, epsilon=self.label_smoothing)
            else:
                lik = dist.Categorical(logits=logits)
            pyro.sample("y", lik, obs=y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, n_data: int) -> torch.Tensor:
        """The model: sample α (and w), run the supernet, observe ``y`` (scaled to ``n_data``); returns the logits."""
        logits = self.logits(x, self.sample_weights())
        self.likelihood(logits, y, n_data)
        return logits
