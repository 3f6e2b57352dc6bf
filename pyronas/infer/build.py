"""Building a model, a guide and the objective from their config sections (``model:``, ``guide:``,
``objective:``).

The shorthand ``{name: X, params: P}`` builds the composite a file of ``models/`` (``guides/``) defines, or its
α piece with no weight sites; the group form ``{alpha: {...}, weights: {...}}`` combines pieces of different
files. ``check_contract`` checks the prior↔guide contract declared on the base classes of
``pyronas.infer.program`` (supports, ``needs_prior``, weight sites) on load.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

import pyro

from pyronas.errors import ConfigError
from pyronas.infer.objectives import TERMS, Objective, Schedule, TermSpec
from pyronas.infer.program import (
    NONE,
    AlphaGuide,
    AlphaPrior,
    ArchGuide,
    ArchPrior,
    NoWeightGuide,
    NoWeightPrior,
    SupernetModel,
    WeightGuide,
    WeightPrior,
)
from pyronas.nn.supernet import Supernet

if TYPE_CHECKING:
    from pyronas.config import Config, GuideConfig, ModelConfig


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
    try:
        return cls(arg, **params)
    except ConfigError:
        raise
    except ValueError as e:  # a parameter out of range, as Registry.build reports it: one line at <where>
        msg = str(e)
        raise ConfigError(msg if msg.startswith(where.removesuffix(".params")) else f"{where}: {msg}") from e


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


def make_objective(cfg: Config) -> Objective:
    """The ELBO named in ``objective.elbo`` plus the configured extra terms and KL weights."""
    oc = cfg.objective
    elbo_cls = pyro.infer.TraceMeanField_ELBO if oc.elbo == "meanfield" else pyro.infer.Trace_ELBO
    terms = []
    for i, t in enumerate(oc.terms):
        if t.name not in TERMS:
            raise _config_error(f"objective.terms[{i}].name: unknown term {t.name!r} (known: {', '.join(TERMS)})")
        terms.append(TermSpec(t.name, Schedule(t.weight, t.start_epoch, t.end_epoch), dict(t.params)))
    kl = {prefix: Schedule(s.weight, s.start_epoch, s.end_epoch) for prefix, s in oc.kl_scales.items()}
    return Objective(elbo_cls(num_particles=oc.num_particles), terms, kl)
