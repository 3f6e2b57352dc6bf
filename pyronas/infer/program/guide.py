"""The guide side of the Pyro program: the variational pieces per group (``AlphaGuide`` for q(α),
``WeightGuide`` / ``NoWeightGuide`` for q(w)), their composite ``ArchGuide`` (what the search sees) and
``as_arch_guide``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn

from pyronas.infer.program.model import AlphaPrior, SupernetModel, Support, alpha_site

__all__ = [
    "AlphaGuide",
    "ArchGuide",
    "NoWeightGuide",
    "WeightGuide",
    "as_arch_guide",
]


# --- guides ---------------------------------------------------------------------------------------
class AlphaGuide(nn.Module):
    """Variational family of the α group: samples every ``alpha/<kind>`` site.

    Subclasses implement ``alpha_dist`` (or override ``forward``/``sample_alpha``/``op_probs``).

    Attributes:
        support: "real" | "simplex" — must equal the prior's — or "any" for guides that transform
            to whatever support the prior site has (Pyro's autoguides).
        needs_prior: an ``AlphaPrior`` subclass this guide depends on (e.g. BaLeNAS reads the
            Gaussian prior's precision δ); None: any prior of matching support.
        supports_second_order: False where the unrolled 2nd-order DARTS gradient would be wrong
            (e.g. Dirichlet ``rsample`` is once-differentiable); the search refuses ``order: 2``.
        shared_draw: True where one draw of the guide serves both steps of a bilevel iteration
            (VIM-NAS Alg. 1 line 3); the engine then replays the same noise in both losses.
        correlated: True where q(α) is not a product over edges and ops (a full/low-rank
            covariance or a flow); ``diagnose`` then plots α's correlation matrix.
        natural_gradient: True where σ of q(α) is the precision state of a natural-gradient
            ``optim.arch`` (an optimizer factory with ``natural_gradient = True``: VAdam, BaLeNAS);
            such a guide needs such an optimizer and such an optimizer needs such a guide
            (checked on load, ``pyronas.infer.checks``).
    """

    support: ClassVar[Support | Literal["any"]] = "real"
    needs_prior: ClassVar[type[AlphaPrior] | None] = None
    supports_second_order: ClassVar[bool] = True
    correlated: bool = False  # q(α) couples edges/ops (diagnostics then draw α's correlation matrix)
    shared_draw: ClassVar[bool] = False
    natural_gradient: ClassVar[bool] = False

    def __init__(self, model: SupernetModel):
        super().__init__()
        self.arch_shapes = dict(model.prior.arch_shapes)
        self.to_weights = model.prior.to_weights

    # --- what the bilevel loop needs -------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """Parameters updated on the architecture split (default: all but ``weight_parameters``)."""
        wp = {id(p) for p in self.weight_parameters()}
        return [p for p in self.parameters() if id(p) not in wp]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Guide parameters updated with the network weights (none for an α guide)."""
        return []

    def bind_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Hook: the architecture optimizer, for guides whose σ lives in its state (BaLeNAS)."""

    # --- distributions and summaries -------------------------------------------------------
    def alpha_dist(self, kind: str) -> dist.Distribution:
        """q(alpha/<kind>), event shape ``[edges, ops]``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, n_data: int) -> None:
        """Sample every α site from q(α)."""
        for kind in self.arch_shapes:
            pyro.sample(alpha_site(kind), self.alpha_dist(kind))

    @torch.no_grad()
    def sample_alpha(self, n: int) -> dict[str, torch.Tensor]:
        """``n`` draws of every architecture site, ``{kind: [n, edges, ops]}``."""
        return {kind: self.alpha_dist(kind).sample((n,)) for kind in self.arch_shapes}

    @torch.no_grad()
    def op_probs(self, num_samples: int = 256) -> dict[str, torch.Tensor]:
        """Expected mixing weights E_q[to_weights(α)] per edge, ``{kind: [edges, ops]}``.

        Monte Carlo under a forked RNG (so summaries never perturb the search's random
        stream); guides with a closed form override this.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            draws = self.sample_alpha(num_samples)
        return {k: self.to_weights(v).mean(0) for k, v in draws.items()}

    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
        """(μ, σ) of a Gaussian family per kind, for SNR selection; None if not Gaussian."""
        return None


class WeightGuide(nn.Module):
    """Variational family of the w group: samples every ``w/<name>`` site of the weight prior.

    Attributes:
        needs_weight_sites: True for a real q(w) (the prior must have weight sites).
    """

    needs_weight_sites: ClassVar[bool] = True
    supports_second_order: ClassVar[bool] = True

    def __init__(self, model: SupernetModel):
        super().__init__()
        self.weight_sites = dict(model.prior.weight_shapes)
        self._lrt = model.prior.weights.lrt

    def sample(self) -> dict[str, torch.Tensor]:
        """Sample the ``w/`` sites (called inside the prior's LRT handler when it has one)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, n_data: int) -> None:
        """Sample every weight site from q(w) (or set up the local reparameterisation)."""
        if self._lrt is None:
            self.sample()
            return
        self._lrt.reset()
        with self._lrt:
            self.sample()

    def weight_parameters(self) -> list[nn.Parameter]:
        """q(w)'s parameters, updated with the network weights."""
        return list(self.parameters())


class NoWeightGuide(WeightGuide):
    """No q(w): the prior has no weight sites (``guide: {weights: {name: none}}``)."""

    needs_weight_sites: ClassVar[bool] = False

    def __init__(self, model: SupernetModel | None = None):
        nn.Module.__init__(self)
        self.weight_sites = {}
        self._lrt = None

    def sample(self) -> dict[str, torch.Tensor]:
        """No weight sites: nothing to sample."""
        return {}


class ArchGuide(nn.Module):
    """The composite guide q(α) q(w): one ``AlphaGuide`` and one ``WeightGuide``.

    It forwards the α-group API (``alpha_dist``, ``sample_alpha``, ``op_probs``, ``loc_scale``,
    ``bind_optimizer``, ...) to ``alpha_guide``; other attributes are looked up on the α group,
    then the w group, so a composite answers ``guide.eta`` of its Dirichlet α guide or
    ``guide.weights`` (q(w)) of its mean-field w guide.

    Args:
        model: the ``SupernetModel``.
        alpha: the α-group guide.
        weights: the w-group guide (default: ``NoWeightGuide``).
    """

    def __init__(self, model: SupernetModel, alpha: AlphaGuide, weights: WeightGuide | None = None):
        super().__init__()
        self.alpha_guide = alpha
        self.weight_guide = weights if weights is not None else NoWeightGuide(model)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__["_modules"]
            for group in ("alpha_guide", "weight_guide"):
                if group in modules and hasattr(modules[group], name):
                    return getattr(modules[group], name)
            raise

    @property
    def supports_second_order(self) -> bool:
        """Whether both groups' samples are twice differentiable (DARTS' order 2, the Hessian)."""
        return self.alpha_guide.supports_second_order and self.weight_guide.supports_second_order

    @property
    def correlated(self) -> bool:
        """Whether q(α) correlates entries (``diagnose`` then draws the correlation matrix)."""
        return self.alpha_guide.correlated

    @property
    def shared_draw(self) -> bool:
        """Whether one α draw serves both steps of an iteration (VIM-NAS)."""
        return self.alpha_guide.shared_draw

    @property
    def arch_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{kind: (edges, ops)}`` of the α sites (the α guide's)."""
        return self.alpha_guide.arch_shapes

    @arch_shapes.setter
    def arch_shapes(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.alpha_guide.arch_shapes = shapes

    @property
    def to_weights(self):
        """The α guide's map from an α value to mixing weights."""
        return self.alpha_guide.to_weights

    def arch_parameters(self) -> list[nn.Parameter]:
        """Parameters updated on the architecture split: the α guide's."""
        wp = {id(p) for p in self.weight_parameters()}
        return [p for p in self.alpha_guide.arch_parameters() if id(p) not in wp]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Guide parameters updated with the network weights: q(w)'s (and any the α guide names)."""
        return self.alpha_guide.weight_parameters() + self.weight_guide.weight_parameters()

    def bind_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Give the α guide its optimizer (BaLeNAS reads σ from Variational Adam's state)."""
        self.alpha_guide.bind_optimizer(optimizer)

    def alpha_dist(self, kind: str) -> dist.Distribution:
        """q(α) of ``kind``."""
        return self.alpha_guide.alpha_dist(kind)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, n_data: int) -> None:
        """The guide: sample α from q(α), then w from q(w)."""
        self.alpha_guide(x, y, n_data)
        self.weight_guide(x, y, n_data)

    def sample_alpha(self, n: int) -> dict[str, torch.Tensor]:
        """``n`` independent draws of every α site, ``{kind: [n, edges, ops]}``."""
        return self.alpha_guide.sample_alpha(n)

    def op_probs(self, num_samples: int = 256) -> dict[str, torch.Tensor]:
        """Expected mixing weights per edge under q(α) (closed form where the guide has one)."""
        return self.alpha_guide.op_probs(num_samples)

    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
        """(location, scale) of q(α) per kind, or None for a guide without a spread."""
        return self.alpha_guide.loc_scale()


def as_arch_guide(guide: AlphaGuide | ArchGuide, model: SupernetModel) -> ArchGuide:
    """``guide`` as a composite: an α guide alone gets no q(w)."""
    return guide if isinstance(guide, ArchGuide) else ArchGuide(model, guide)
