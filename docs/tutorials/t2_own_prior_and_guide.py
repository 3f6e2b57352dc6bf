# %% [markdown]
# # 2. Your own prior and guide, in your own package
#
# A pyronas method is a (model, guide, objective) triple. The model's prior on the architecture logits α
# and the guide's variational family q(α) are small ``nn.Module`` classes with a two-method contract, so
# a new one is a file in *your* package, not a change to pyronas. This tutorial's package is
# ``docs/tutorials/my_nas_plugin/``:
#
#     my_nas_plugin/
#       pyproject.toml            [project.entry-points."pyronas.plugins"]  my_nas = "my_nas_plugin"
#       my_nas_plugin/__init__.py imports the two modules below
#       my_nas_plugin/laplace.py      @PRIORS.register("laplace")     class LaplacePrior(AlphaPrior)
#       my_nas_plugin/edge_normal.py  @GUIDES.register("edge_normal") class EdgeNormalGuide(AlphaGuide)
#
# * ``AlphaPrior``: ``__init__(supernet, **params)``, a ``support`` ("real": α mixed by softmax; "simplex":
#   θ used as is) and ``alpha_dist(kind)``, the distribution of the site ``alpha/<kind>`` (event shape
#   ``[edges, ops]``). Here: α ~ Laplace(0, b), a sparsity prior (an L1 penalty in a MAP reading).
# * ``AlphaGuide``: ``__init__(model, **params)``, the same ``support`` and ``alpha_dist(kind)``; the base
#   class samples the sites, hands ``arch_parameters()`` to the architecture optimizer and estimates
#   ``op_probs()``. Here: q(α_{e,o}) = N(μ_{e,o}, σ_e²), one σ per edge.
#
# pyronas finds them in one of two ways (``pyronas.registry``):
#
# 1. **entry point**: after ``pip install -e docs/tutorials/my_nas_plugin``, the first time any registry
#    is consulted pyronas imports every module of the group ``pyronas.plugins``; nothing else to do;
# 2. **``imports:``**: a config key listing modules to import before the config is validated
#    (``imports: [my_nas_plugin]``), for a package that is only on ``sys.path``.
#
# ``python docs/tutorials/t2_own_prior_and_guide.py`` runs three short searches (a few minutes on a CPU);
# ``PYRONAS_TUTORIAL_TINY=1`` runs a few steps of each.

# %%
import importlib.metadata
import math
import os
import sys
from pathlib import Path

import torch

from pyronas.config import ConfigError, load_config
from pyronas.config_files import resolve_config
from pyronas.infer import Search
from pyronas.registry import ENTRY_POINT_GROUP, GUIDES, PRIORS

TINY = os.environ.get("PYRONAS_TUTORIAL_TINY") == "1"
OUT = Path(os.environ.get("PYRONAS_TUTORIAL_OUT", "runs/tutorials")) / "t2_own_prior_and_guide"
SIZE = (["data.portion=0.02", "supernet.C=4", "search.epochs=2", "search.warmup_epochs=1",
         "search.steps_per_epoch=3", "search.eval_batches=2"] if TINY
        else ["data.portion=0.2", "search.epochs=4", "search.warmup_epochs=1"])

# %% [markdown]
# ## Is the plug-in installed?
#
# With the package installed, its entry point is listed and the registries know ``laplace`` and
# ``edge_normal`` without this script importing anything. Without it, the script puts the package folder on
# ``sys.path`` and the configs below name it under ``imports:``.

# %%
# the plug-in's module (the entry point's value), not its name: your own package may reuse the name "my_nas"
entry_points = {ep.value: ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
if "my_nas_plugin" in entry_points:
    IMPORTS: list[str] = []
    print(f"installed: entry point {ENTRY_POINT_GROUP}:{entry_points['my_nas_plugin']} = 'my_nas_plugin'")
    print(f"prior 'laplace' -> {PRIORS.get('laplace')}, guide 'edge_normal' -> {GUIDES.get('edge_normal')}")
else:
    sys.path.insert(0, str(Path(__file__).resolve().parent / "my_nas_plugin"))
    IMPORTS = ["imports=[my_nas_plugin]"]
    print("not installed: the configs import my_nas_plugin themselves (imports: [my_nas_plugin])")

# %% [markdown]
# ## The pieces in a config
#
# The group form names the prior and the guide of the α sites: ``model: {alpha: {name: laplace, params:
# {scale: 0.5}}}`` and ``guide: {alpha: {name: edge_normal}}``. The objective is the per-datum negative
# ELBO, E_q[CE] + KL(q ‖ p) / N; Laplace and Normal have no closed-form KL, so ``elbo: trace`` estimates
# it from the guide's draw (``kl_scales`` gives the α sites their full weight 1).
#
# The base is DARTS' CPU config, ``darts_nb201_fmnist`` (the NAS-Bench-201 cell on Fashion-MNIST, SGD on
# the weights, Adam on the guide's parameters); only the program changes. ``resolve_config`` finds a config
# that ships with pyronas by name (``pyronas configs`` lists them), so the script runs from any folder.


# %%
def config(prior: str, guide: str, seed: int = 0):
    """The DARTS demo config with ``prior`` and ``guide`` (YAML mappings) as the α group's pieces."""
    return load_config(resolve_config("darts_nb201_fmnist"), [
        *IMPORTS, f"seed={seed}", f"model={{alpha: {prior}}}", f"guide={{alpha: {guide}}}",
        'objective={elbo: trace, kl_scales: {"alpha/": {weight: 1.0}}}', "benchmark.name=null", *SIZE,
    ])


# %% [markdown]
# The prior↔guide contract is checked when the search is built: a guide must sample the support its prior
# has, and the error names both config keys. DrNAS' Dirichlet guide samples the simplex; the Laplace prior
# lives on the real line:

# %%
try:
    Search(config("{name: laplace}", "{name: dirichlet}"))
    raise AssertionError("a simplex guide on a real-valued prior must be refused")
except ConfigError as error:
    print(f"refused: {error}")
    assert "guide.alpha.name 'dirichlet'" in str(error) and "model.alpha.name 'laplace'" in str(error)

# %% [markdown]
# ## Run it next to the built-in pieces
#
# Three programs on the same data, budget and seed: the built-in Gaussian prior N(0, 1) with the built-in
# mean-field Normal guide (one σ per op, ``guides/mean_field.py``); the Laplace prior with that guide; the
# Laplace prior with our per-edge guide. A Laplace(0, b) with b = 1/√2 has the Gaussian's variance 1.

# %%
GAUSSIAN = "{name: gaussian, params: {delta: 1.0}}"
LAPLACE = "{name: laplace, params: {scale: 0.7071}}"
MEAN_FIELD = "{name: mean_field, params: {log_sigma2: -4.6}}"  # σ = exp(−4.6 / 2) ≈ 0.1 on every op
EDGE_NORMAL = "{name: edge_normal, params: {init_sigma: 0.1}}"
programs = {
    "gaussian + mean_field": (GAUSSIAN, MEAN_FIELD),
    "laplace + mean_field": (LAPLACE, MEAN_FIELD),
    "laplace + edge_normal": (LAPLACE, EDGE_NORMAL),
}
results = {}
for label, (prior, guide) in programs.items():
    search = Search(config(prior, guide), OUT / label.replace(" + ", "_"))
    genotype = search.run(progress_bar=False)
    loc, scale = search.guide.loc_scale()["cell"]
    results[label] = search
    print(f"{label:>22}: arch-split accuracy {search.metrics[-1]['val_acc']:.3f}, mean σ {scale.mean():.3f}, "
          f"cell {genotype}")

# %% [markdown]
# At full size (run on 2026-12-06) the three programs reached the same architecture-split accuracy (0.834,
# 0.831, 0.834) and derived three different cells: at this budget the prior and the guide decide the cell,
# not the supernet's fit. Tutorial 5 shows how to compare cells by retraining them.
#
# The guide is ours: its σ has one value per edge, shared by the edge's five ops, while the built-in
# mean-field guide has one per op. And our prior is the one in the program: its log density at α = 0 is
# Σ log(1 / 2b) over the 6 × 5 logits of the cell.

# %%
ours = results["laplace + edge_normal"]
_, scale = ours.guide.loc_scale()["cell"]
assert torch.equal(scale, scale[:, :1].expand_as(scale)) and scale.shape == (6, 5)
prior = ours.model.prior.alpha_dist("cell")
assert abs(prior.log_prob(torch.zeros(6, 5)).item() - 30 * math.log(1 / (2 * 0.7071))) < 1e-4
