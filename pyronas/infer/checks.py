"""Names and combinations of a search config, checked as a whole before any data is read.

``check_config(cfg)`` is the one place where the names of a config are resolved against the registries
(``space``, ``model``/``guide`` pieces, ``objective.terms``, ``optim.*.name``, ``search.callbacks``,
``select.rule``) and where the pieces are checked against each other. It builds the program once on a
throwaway supernet of the config's layout with one channel per op (0.03 s for NB201's 3 cells, about 1 s for
DARTS' 8 on a busy 2-core CPU; the global RNGs are left untouched), so every check reads the declarations of the
real classes:

* the prior↔guide contract (``support``, ``needs_prior``, weight sites; ``pyronas.infer.build.check_contract``);
* ``optim.arch`` against the α guide: an optimizer whose state is a Gaussian posterior's precision
  (``natural_gradient = True`` on its factory: VAdam) only with an α guide whose σ is that state
  (``AlphaGuide.natural_gradient``: BaLeNAS), and such a guide only with such an optimizer;
* ``optim.weights``: a natural-gradient optimizer on the weights is refused with a q(w) and warned about
  on point-estimate weights;
* ``search.order: 2`` against the guide's ``supports_second_order``;
* ``select.rule`` against the guide: a rule declaring ``needs_loc_scale`` (``snr``, ``loc``) needs a Gaussian q(α);
* the ``params`` of callbacks and of the selection rule against their signatures;
* ``objective.kl_scales`` keys against the site groups (``alpha/``, ``w/``): a key in neither is a typo; a key
  of a group this model has no sites of is noted;
* the macro layout against the space's cell kinds (every searched kind needs a cell).

It returns notes for the log as ``(logging level, message)``: a prior whose every site is masked by ``kl_scales``
has no effect (INFO; said unless the guide reads the prior itself, as BaLeNAS' does); legal but unusual settings
(WARNING) say what they do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from pyronas.callbacks.base import CALLBACKS
from pyronas.config import Config, ConfigError
from pyronas.infer.build import _keys, build_guide, build_model, describe
from pyronas.infer.objectives import TERMS
from pyronas.infer.program import ALPHA, ArchGuide, SupernetModel
from pyronas.infer.state import arch_parameters, weight_parameters
from pyronas.nn.spaces import SearchSpace, get_space, layout_for
from pyronas.nn.supernet import Supernet
from pyronas.optim.factory import OPTIMIZERS, make_optimizer
from pyronas.registry import check_params
from pyronas.select.rules import SELECTORS

__all__ = ["check_config", "check_layout", "check_optimizers", "check_program", "effective_scales", "site_groups"]

Note = tuple[int, str]  # (logging level, message) of a legal setting the log should mention

WEIGHT_SITES = "w/"
SITE_GROUPS = (f"{ALPHA}/", WEIGHT_SITES)  # the prefixes of the program's two groups of latent sites
# input channels of each dataset, for the throwaway supernet (its weight-site names do not depend on them)
IN_CHANNELS = {"fashion_mnist": 1, "mnist": 1, "digits": 1, "cifar10": 3, "cifar100": 3}


def check_config(cfg: Config, program: bool = True) -> list[Note]:
    """Resolve every name of ``cfg`` and check its pieces together; ``ConfigError`` (``RegistryError``)
    naming the key(s) and the fix. Returns notes for the log, ``(level, message)``.

    ``program=False``: the caller brings its own model/guide/objective (a script swapping a piece), so only
    the names and the layout are checked, not the config's program."""
    notes, built = check_program(cfg, program)
    if built is not None:
        check_optimizers(cfg, *built)
    return notes


def check_program(cfg: Config, program: bool = True) -> tuple[list[Note], tuple[SupernetModel, ArchGuide] | None]:
    """``check_config`` without building the optimizers (torch's first optimizer imports ``torch._dynamo``,
    seconds on a busy machine, so ``pyronas.preflight`` runs ``check_optimizers`` after the cheaper checks).
    Returns the notes and the throwaway ``(model, guide)`` (None with ``program=False``)."""
    space = get_space(cfg.space, "space")
    check_layout(cfg, space)
    for i, t in enumerate(cfg.objective.terms):
        TERMS.get(t.name, f"objective.terms[{i}].name")
    weights_factory = OPTIMIZERS.get(cfg.optim.weights.name, "optim.weights.name")
    arch_factory = OPTIMIZERS.get(cfg.optim.arch.name, "optim.arch.name")
    for i, c in enumerate(cfg.search.callbacks):
        check_params(CALLBACKS.get(c.name, f"search.callbacks[{i}].name"), c.params,
                     f"search.callbacks[{i}].params", CALLBACKS.positional)
    selector = SELECTORS.get(cfg.select.rule, "select.rule")
    check_params(selector, cfg.select.params, "select.params", SELECTORS.positional)
    budget = _check_budget(cfg)
    if not program:
        return budget, None
    with torch.random.fork_rng(devices=[]):  # the search's random stream is not touched
        model, guide = _dry_build(cfg, space)
        notes = _check_natural_gradient(cfg, guide, weights_factory, arch_factory)
        if getattr(selector, "needs_loc_scale", False) and guide.loc_scale() is None:
            raise ConfigError(
                f"select.rule {cfg.select.rule!r} with {describe(cfg.guide, 'guide')}: the rule ranks ops by the mean "
                "and scale of a Gaussian q(α) (loc_scale), which this guide does not have; use select.rule: mean"
            )
    if cfg.search.order == 2 and not guide.supports_second_order:
        raise ConfigError(
            f"search.order: 2 is not supported by {describe(cfg.guide, 'guide')} "
            "(its samples are not twice differentiable); use search.order: 1"
        )
    return budget + notes + _check_kl_scales(cfg, model, guide), (model, guide)


def _check_budget(cfg: Config) -> list[Note]:
    """A warning when every epoch is weight-only warm-up: the architecture is never trained and the derived
    cell is the initial q(α)'s (``--set search.epochs=1`` on a config with one warm-up epoch does this)."""
    s = cfg.search
    if s.warmup_epochs < s.epochs:
        return []
    return [(logging.WARNING, (
        f"search.warmup_epochs: {s.warmup_epochs} of search.epochs {s.epochs} are weight-only warm-up, so the "
        f"architecture is never trained and the cell is the initial one; give search.epochs > {s.warmup_epochs}"
    ))]


def check_layout(cfg: Config, space: SearchSpace) -> None:
    """The macro layout builds a cell of every kind the space searches (``darts`` with 1 or 2 layers has
    reduction cells only: no normal cell to derive)."""
    sc = cfg.supernet
    layout = sc.layout or layout_for(space, sc.layers)
    kinds = {space.cell_kinds[0] if letter == "N" else space.cell_kinds[-1] for letter in layout if letter in "NR"}
    missing = [k for k in space.cell_kinds if k not in kinds]
    if missing:
        key = "supernet.layout" if sc.layout else "supernet.layers"
        given = f"layout {layout!r}" if sc.layout else f"{sc.layers} gives layout {layout!r}, which"
        raise ConfigError(
            f"{key}: {given} has no {' or '.join(missing)} cell (space {space.name} searches "
            f"{', '.join(space.cell_kinds)}); use supernet.layers >= 3 or a supernet.layout with N and R"
        )


def _dry_build(cfg: Config, space: SearchSpace) -> tuple[SupernetModel, ArchGuide]:
    """The config's model and guide over a supernet of its layout with ``partial_channels`` channels."""
    sc, dc = cfg.supernet, cfg.data
    num_classes = 100 if dc.name == "cifar100" else 10
    supernet = Supernet(
        space, sc.partial_channels, sc.layers, IN_CHANNELS.get(dc.name, 3), num_classes,
        sc.layout, sc.partial_channels, sc.track_running_stats,
    )
    model = build_model(cfg.model, supernet)
    return model, build_guide(cfg.guide, model, cfg.model)


def _check_natural_gradient(
    cfg: Config, guide: ArchGuide, weights_factory: Callable, arch_factory: Callable
) -> list[Note]:
    """``optim.arch`` / ``optim.weights`` against the guide: a natural-gradient optimizer's state is a posterior's
    precision, meaningful only for an α guide whose σ is that state."""
    notes: list[Note] = []
    guide_key = _keys(cfg.guide, "guide", "alpha")
    arch_ng = getattr(arch_factory, "natural_gradient", False)
    guide_ng = type(guide.alpha_guide).natural_gradient
    if arch_ng and not guide_ng:
        raise ConfigError(
            f"optim.arch.name {cfg.optim.arch.name!r} with {guide_key}: a natural-gradient optimizer updates the "
            "mean of a Gaussian q(α) whose σ is its own precision state, and this guide keeps no such state (its "
            "parameters would be driven as if they were that mean); use guide.name: balenas (model.name: "
            "gaussian) or optim.arch.name: adam"
        )
    if guide_ng and not arch_ng:
        raise ConfigError(
            f"{guide_key} needs a natural-gradient optim.arch (vadam): its σ is that optimizer's precision "
            f"state, and optim.arch.name {cfg.optim.arch.name!r} keeps none; set optim.arch.name: vadam"
        )
    if getattr(weights_factory, "natural_gradient", False):
        wkey = _keys(cfg.guide, "guide", "weights")
        if guide.weight_guide.needs_weight_sites:
            raise ConfigError(
                f"optim.weights.name {cfg.optim.weights.name!r} with {wkey}: the natural-gradient optimizer "
                "would drive q(w)'s means and variances as if they were one Gaussian's mean; use adam or sgd"
            )
        notes.append((logging.WARNING, (
            f"optim.weights.name {cfg.optim.weights.name!r}: the network weights are point estimates, so this "
            "natural-gradient optimizer steps them as an Adam-like method with its prior precision as a decay; "
            "its precision state is not used as a posterior (no guide reads it)"
        )))
    return notes


def check_optimizers(cfg: Config, model: SupernetModel, guide: ArchGuide) -> None:
    """Both optimizers built over the throwaway program's parameters of ``check_program`` (their ``params``
    checked) and the architecture one bound to the guide (e.g. BaLeNAS' prior precision against VAdam's)."""
    with torch.random.fork_rng(devices=[]):
        weight_optim = make_optimizer(weight_parameters(model, guide), cfg.optim.weights, "optim.weights")
        arch_optim = make_optimizer(arch_parameters(guide), cfg.optim.arch, "optim.arch")
    del weight_optim
    try:
        guide.bind_optimizer(arch_optim)
    except (TypeError, ValueError) as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(("optim.", "guide.", "model.")) else f"optim.arch: {msg}") from None


def site_groups(model: SupernetModel) -> dict[str, list[str]]:
    """The latent sites of ``model`` by group: ``{"alpha/": [alpha/<kind>...], "w/": [w/<name>...]}``."""
    groups = {f"{ALPHA}/": [f"{ALPHA}/{k}" for k in model.prior.arch_shapes]}
    if model.prior.weight_shapes:
        groups[WEIGHT_SITES] = [f"{WEIGHT_SITES}{n}" for n in model.prior.weight_shapes]
    return groups


def effective_scales(kl_scales: dict[str, Any], sites: list[str]) -> dict[str, tuple[str, Any] | None]:
    """For each site, the ``(prefix, schedule)`` of ``kl_scales`` that scales it (the first prefix that
    matches, as ``ScaleSites`` applies them), or None."""
    out: dict[str, tuple[str, Any] | None] = {}
    for site in sites:
        out[site] = next(((p, s) for p, s in kl_scales.items() if site.startswith(p)), None)
    return out


def _check_kl_scales(cfg: Config, model: SupernetModel, guide: ArchGuide) -> list[Note]:
    """Every ``objective.kl_scales`` key matches a latent site; a prior whose sites are all masked is noted."""
    groups = site_groups(model)
    sites = [s for g in groups.values() for s in g]
    known = "; ".join(f"{g} ({', '.join(s[:3])}{', ...' if len(s) > 3 else ''})" for g, s in groups.items())
    notes: list[Note] = []
    for prefix in cfg.objective.kl_scales:
        if any(s.startswith(prefix) for s in sites):
            continue
        if any(g.startswith(prefix) or prefix.startswith(g) for g in SITE_GROUPS):  # a group this model lacks
            notes.append((logging.WARNING, f"objective.kl_scales.{prefix}: this model has no such site (its groups: "
                                           f"{known}); the entry has no effect"))
            continue
        raise ConfigError(
            f"objective.kl_scales.{prefix}: matches no latent site group (a typo?); known site groups: {known}"
        )
    scales = effective_scales(cfg.objective.kl_scales, sites)
    for group, members in groups.items():
        used = {scales[s][0] for s in members if scales[s] is not None}
        masked = all(scales[s] is not None and scales[s][1].weight == 0 for s in members)
        reads_prior = group != WEIGHT_SITES and type(guide.alpha_guide).needs_prior is not None
        if masked and not reads_prior:
            piece = model.prior.alpha if group != WEIGHT_SITES else model.prior.weights
            section = "alpha" if group != WEIGHT_SITES else "weights"
            notes.append((logging.INFO, (
                f"{_keys(cfg.model, 'model', section)}: {type(piece).__name__} has no effect "
                f"(objective.kl_scales {', '.join(sorted(used))} = 0 masks every {group} site)"
            )))
    return notes
