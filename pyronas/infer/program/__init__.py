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

Two files: ``model`` (the sites, the prior pieces, ``ArchPrior`` and ``SupernetModel``) and ``guide`` (the
guide pieces, ``ArchGuide`` and ``as_arch_guide``); this package re-exports their names.
"""

from pyronas.infer.program.guide import AlphaGuide, ArchGuide, NoWeightGuide, WeightGuide, as_arch_guide
from pyronas.infer.program.model import (
    ALPHA,
    NONE,
    AlphaPrior,
    ArchPrior,
    NoWeightPrior,
    SupernetModel,
    Support,
    WeightPrior,
    alpha_site,
)

__all__ = [
    "ALPHA",
    "AlphaGuide",
    "AlphaPrior",
    "ArchGuide",
    "ArchPrior",
    "NONE",
    "NoWeightGuide",
    "NoWeightPrior",
    "SupernetModel",
    "Support",
    "WeightGuide",
    "WeightPrior",
    "alpha_site",
    "as_arch_guide",
]
