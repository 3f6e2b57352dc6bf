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
(``build_model``/``build_guide``). The group form ``model: {alpha: {name, params}, weights: {name,
params}}`` combines pieces of different files.

The prior↔guide contract is declared on the base classes and checked by ``check_contract`` on
load: ``AlphaPrior.support``/``AlphaGuide.support`` ("real" or "simplex"; a guide may say "any"
when it transforms to the prior's support), ``AlphaGuide.needs_prior`` (a prior class a guide
depends on), ``WeightPrior.has_weight_sites``/``WeightGuide.needs_weight_sites``.

* ``SupernetModel`` composes a prior with the supernet and a categorical likelihood observed
  inside ``pyro.plate("data", n_data, subsample=...)``, so the log-likelihood of a batch is
  scaled to the size of its data split (``n_data / batch``).

Every module here is a plain ``nn.Module`` holding its own parameters: nothing lives in Pyro's
global param store, so two searches in one process never share state.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.distributions import SmoothedCategorical
from pyronas.nn.bayesian import LocalReparameterization
from pyronas.nn.supernet import Supernet

if TYPE_CHECKING:
    from pyronas.config import GuideConfig, ModelConfig

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
        return self.alpha.support

    @property
    def device(self) -> torch.device:
        return self.alpha.device

    def alpha_dist(self, kind: str) -> dist.Distribution:
        return self.alpha.alpha_dist(kind)

    def to_weights(self, alpha: torch.Tensor) -> torch.Tensor:
        return self.alpha.to_weights(alpha)

    def network_weights(self, supernet: Supernet) -> dict[str, torch.Tensor]:
        return self.weights.network_weights(supernet)

    def network_context(self) -> contextlib.AbstractContextManager:
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
    """

    support: ClassVar[Support | Literal["any"]] = "real"
    needs_prior: ClassVar[type[AlphaPrior] | None] = None
    supports_second_order: ClassVar[bool] = True
    correlated: bool = False  # q(α) couples edges/ops (diagnostics then draw α's correlation matrix)
    shared_draw: ClassVar[bool] = False

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
        return self.alpha_guide.supports_second_order and self.weight_guide.supports_second_order

    @property
    def correlated(self) -> bool:
        return self.alpha_guide.correlated

    @property
    def shared_draw(self) -> bool:
        return self.alpha_guide.shared_draw

    @property
    def arch_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.alpha_guide.arch_shapes

    @arch_shapes.setter
    def arch_shapes(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.alpha_guide.arch_shapes = shapes

    @property
    def to_weights(self):
        return self.alpha_guide.to_weights

    def arch_parameters(self) -> list[nn.Parameter]:
        """Parameters updated on the architecture split: the α guide's."""
        wp = {id(p) for p in self.weight_parameters()}
        return [p for p in self.alpha_guide.arch_parameters() if id(p) not in wp]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Guide parameters updated with the network weights: q(w)'s (and any the α guide names)."""
        return self.alpha_guide.weight_parameters() + self.weight_guide.weight_parameters()

    def bind_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        self.alpha_guide.bind_optimizer(optimizer)

    def alpha_dist(self, kind: str) -> dist.Distribution:
        return self.alpha_guide.alpha_dist(kind)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, n_data: int) -> None:
        self.alpha_guide(x, y, n_data)
        self.weight_guide(x, y, n_data)

    def sample_alpha(self, n: int) -> dict[str, torch.Tensor]:
        return self.alpha_guide.sample_alpha(n)

    def op_probs(self, num_samples: int = 256) -> dict[str, torch.Tensor]:
        return self.alpha_guide.op_probs(num_samples)

    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
        return self.alpha_guide.loc_scale()


def as_arch_guide(guide: AlphaGuide | ArchGuide, model: SupernetModel) -> ArchGuide:
    """``guide`` as a composite: an α guide alone gets no q(w)."""
    return guide if isinstance(guide, ArchGuide) else ArchGuide(model, guide)


# --- building from configs ------------------------------------------------------------------------
def _config_error(msg: str) -> Exception:
    from pyronas.config import ConfigError

    return ConfigError(msg)


def _pieces(package: str, name: str, where: str) -> dict[type, type]:
    """The classes module ``pyronas.<package>.<name>`` defines, by base class
    (``ArchPrior``/``AlphaPrior``/``WeightPrior`` or the guide ones); at most one per base."""
    from pyronas.registry import GUIDES, PRIORS

    registry = PRIORS if package == "models" else GUIDES
    bases = (ArchPrior, AlphaPrior, WeightPrior) if package == "models" else (ArchGuide, AlphaGuide, WeightGuide)
    if name not in registry.files():  # a plug-in registered with @PRIORS/@GUIDES.register: that class alone
        cls = registry.get(name, where)
        return {base: cls for base in bases if issubclass(cls, base)}
    module = importlib.import_module(f"pyronas.{package}.{name}")
    out: dict[type, type] = {}
    for base in bases:
        found = [
            c
            for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, base) and c is not base and c.__module__ == module.__name__
        ]
        if len(found) > 1:
            raise _config_error(f"{where}: pyronas.{package}.{name} defines several {base.__name__} classes")
        if found:
            out[base] = found[0]
    return out


def _instantiate(cls: type, params: dict[str, Any], arg: Any, where: str, check: Any = None) -> Any:
    from pyronas.registry import check_params

    check_params(cls, params, where)
    if check is not None:
        check(cls)
    return cls(arg, **params)


def _group_piece(
    package: str, group: str, name: str, params: dict[str, Any], arg: Any, where: str, check: Any = None
) -> Any:
    """Build the ``group`` ("alpha" | "weights") piece named ``name`` from ``pyronas.<package>``."""
    if package == "models":
        base, empty = (AlphaPrior, None) if group == "alpha" else (WeightPrior, NoWeightPrior)
    else:
        base, empty = (AlphaGuide, None) if group == "alpha" else (WeightGuide, NoWeightGuide)
    if name == NONE and empty is not None:
        if params:
            raise _config_error(f"{where}.params: {NONE!r} takes no parameters")
        return empty(arg)
    cls = _pieces(package, name, f"{where}.name").get(base)
    if cls is None:
        raise _config_error(f"{where}.name: {package[:-1]} {name!r} has no {base.__name__} (the {group} group)")
    return _instantiate(cls, params, arg, f"{where}.params", check)


def build_model(cfg: ModelConfig, supernet: Supernet) -> SupernetModel:
    """The ``SupernetModel`` of a ``model:`` config section.

    Shorthand ``{name: X, params: P}``: the ``ArchPrior`` subclass of ``models/X.py`` built with P,
    or, for a file with only an α prior, that prior with point-estimate weights. Group form
    ``{alpha: {name, params}, weights: {name, params}}``: α defaults to ``flat``, w to ``none``.
    """
    if cfg.name is not None or (cfg.alpha is None and cfg.weights is None):
        name = cfg.name or "flat"
        pieces = _pieces("models", name, "model.name")
        if ArchPrior in pieces:
            prior = _instantiate(pieces[ArchPrior], cfg.params, supernet, "model.params")
        elif AlphaPrior in pieces:
            prior = ArchPrior(_instantiate(pieces[AlphaPrior], cfg.params, supernet, "model.params"))
        else:
            raise _config_error(f"model.name: {name!r} has only a weight prior; use model.weights.name: {name}")
    else:
        a, w = cfg.alpha, cfg.weights
        alpha = _group_piece("models", "alpha", a.name if a else "flat", a.params if a else {}, supernet, "model.alpha")
        weights = _group_piece(
            "models", "weights", w.name if w else NONE, w.params if w else {}, supernet, "model.weights"
        )
        prior = ArchPrior(alpha, weights)
    return SupernetModel(supernet, prior, cfg.label_smoothing)


def _keys(cfg: ModelConfig | GuideConfig, section: str, group: str) -> str:
    """How a group's piece was named in the config, for messages (``model.alpha.name 'dirichlet'``)."""
    if cfg.name is not None or (cfg.alpha is None and cfg.weights is None):
        return f"{section}.name {cfg.name or ('flat' if section == 'model' else 'delta')!r}"
    g = getattr(cfg, group)
    default = {"model": {"alpha": "flat", "weights": NONE}, "guide": {"alpha": "delta", "weights": NONE}}
    return f"{section}.{group}.name {g.name if g is not None else default[section][group]!r}"


def _check_alpha(guide_cls: type[AlphaGuide], prior: AlphaPrior, guide_key: str, model_key: str) -> None:
    """The α half of the contract: equal supports (or "any"), and the prior the guide ``needs_prior``."""
    if guide_cls.support != "any" and guide_cls.support != prior.support:
        raise _config_error(f"{guide_key} ({guide_cls.support}) does not match {model_key} ({prior.support})")
    if guide_cls.needs_prior is not None and not isinstance(prior, guide_cls.needs_prior):
        raise _config_error(
            f"{guide_key} needs the prior {guide_cls.needs_prior.__name__}, {model_key} is {type(prior).__name__}"
        )


def check_contract(
    model: SupernetModel, guide: ArchGuide, model_cfg: ModelConfig | None = None, guide_cfg: GuideConfig | None = None
) -> None:
    """Refuse a guide whose pieces do not fit the prior's (``ConfigError`` naming both keys).

    α: the guide's support equals the prior's (or is "any"), and the prior is of the class the guide
    ``needs_prior``; w: a prior with weight sites has a weight guide, a weight guide has weight sites.
    """
    from pyronas.config import GuideConfig, ModelConfig

    mc, gc = model_cfg or ModelConfig(), guide_cfg or GuideConfig()
    pw, gw = model.prior.weights, guide.weight_guide
    _check_alpha(type(guide.alpha_guide), model.prior.alpha, _keys(gc, "guide", "alpha"), _keys(mc, "model", "alpha"))
    if gw.needs_weight_sites and not pw.has_weight_sites:
        raise _config_error(
            f"{_keys(gc, 'guide', 'weights')} is a q(w) but {_keys(mc, 'model', 'weights')} has no weight sites"
        )
    if pw.has_weight_sites and pw.weight_sites and not gw.needs_weight_sites:
        raise _config_error(
            f"{_keys(mc, 'model', 'weights')} makes the weights random (w/ sites) but "
            f"{_keys(gc, 'guide', 'weights')} gives them no q(w)"
        )


def build_guide(cfg: GuideConfig, model: SupernetModel, model_cfg: ModelConfig | None = None) -> ArchGuide:
    """The ``ArchGuide`` of a ``guide:`` config section over ``model``, contract-checked.

    Shorthand ``{name: X, params: P}``: the ``ArchGuide`` subclass of ``guides/X.py`` built with P,
    or its α guide alone (no q(w)). Group form ``{alpha: {name, params}, weights: {name, params}}``:
    α defaults to ``delta``, w to ``none``.
    """
    from pyronas.config import ModelConfig

    mc = model_cfg or ModelConfig()

    def check(cls: type[AlphaGuide]) -> None:  # before building: a guide may read its prior in __init__
        _check_alpha(cls, model.prior.alpha, _keys(cfg, "guide", "alpha"), _keys(mc, "model", "alpha"))

    if cfg.name is not None or (cfg.alpha is None and cfg.weights is None):
        name = cfg.name or "delta"
        pieces = _pieces("guides", name, "guide.name")
        if ArchGuide in pieces:
            guide = _instantiate(pieces[ArchGuide], cfg.params, model, "guide.params")
        elif AlphaGuide in pieces:
            guide = ArchGuide(model, _instantiate(pieces[AlphaGuide], cfg.params, model, "guide.params", check))
        else:
            raise _config_error(f"guide.name: {name!r} has only a weight guide; use guide.weights.name: {name}")
    else:
        a, w = cfg.alpha, cfg.weights
        alpha = _group_piece(
            "guides", "alpha", a.name if a else "delta", a.params if a else {}, model, "guide.alpha", check
        )
        weights = _group_piece(
            "guides", "weights", w.name if w else NONE, w.params if w else {}, model, "guide.weights"
        )
        guide = ArchGuide(model, alpha, weights)
    check_contract(model, guide, model_cfg, cfg)
    return guide


def describe(cfg: ModelConfig | GuideConfig, section: str) -> str:
    """A one-line name of a model/guide config (``guide.alpha.name 'auto' + guide.weights.name 'none'``)."""
    if cfg.name is not None or (cfg.alpha is None and cfg.weights is None):
        return _keys(cfg, section, "alpha")
    return f"{_keys(cfg, section, 'alpha')} + {_keys(cfg, section, 'weights')}"
