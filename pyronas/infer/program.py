"""The Pyro program: prior (``pyronas.models``) + supernet + likelihood, and the guide, per group of sites.

A method is a (model, guide, objective) triple over one supernet. Its latent sites come in two
groups, and priors and guides are made of one piece per group:

* **α group** — the architecture sites ``alpha/<kind>``. An ``AlphaPrior`` says which
  distribution they have and how a value becomes mixing weights (``to_weights``); an
  ``AlphaGuide`` holds the variational parameters of q(α).
* **w group** — the network weights made random, sites ``w/<parameter name>``. A
  ``WeightPrior`` samples them (or none: ``NoWeightPrior``, point-estimate weights); a
  ``WeightGuide`` gives them q(w) (or nothing: ``NoWeightGuide``).

``ArchPrior`` and ``ArchGuide`` are the composites (one group object each) the search sees.
A file in ``models/`` (``guides/``) defines an α piece, a w piece or both, plus optionally one
``ArchPrior`` (``ArchGuide``) subclass: the *shorthand* ``model: {name: X, params: P}`` builds
that composite with P; a file without one is shorthand for its α piece with no weight sites
(``build_model``/``build_guide`` of ``pyronas.infer.build``). The group form ``model: {alpha: {name,
params}, weights: {name, params}}`` combines pieces of different files.

The prior↔guide contract is declared on the base classes and checked on load by
``check_contract`` (``pyronas.infer.build``): ``AlphaPrior.support``/``AlphaGuide.support``
("real" or "simplex"; a guide may say "any" when it transforms to the prior's support),
``AlphaGuide.needs_prior`` (a prior class a guide depends on),
``WeightPrior.has_weight_sites``/``WeightGuide.needs_weight_sites``.

* ``SupernetModel`` composes a prior with the supernet and a categorical likelihood observed
  inside ``pyro.plate("data", n_data, subsample=...)``, so the log-likelihood of a batch is
  scaled to the size of its data split (``n_data / batch``).

Every module here is a plain ``nn.Module`` holding its own parameters: nothing lives in Pyro's
global param store, so two searches in one process never share state.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar, Literal

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.distributions import SmoothedCategorical
from pyronas.nn.bayesian import LocalReparameterization
from pyronas.nn.supernet import Supernet

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
