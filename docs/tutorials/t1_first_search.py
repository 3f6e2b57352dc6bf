# %% [markdown]
# # 1. A first search from Python: DrNAS, and q(θ) read in ArviZ
#
# DrNAS (Chen et al., ICLR 2021) puts a Dirichlet distribution on the op mixing weights θ of every edge
# of the NAS-Bench-201 cell and learns its concentration β = ELU(η) + 1 by variational inference:
#
#     model:  θ_edge ~ Dir(1),   y_n ~ Cat(supernet(x_n; θ, w))
#     guide:  θ_edge ~ Dir(β_edge)          (one pathwise sample per forward pass)
#
# The search's result is therefore not one architecture but a *posterior* q(θ). This tutorial runs the
# search twice (two seeds), reads both q(θ) as the two chains of one ArviZ ``InferenceData`` and asks
# ArviZ's R-hat whether the two seeds found the same posterior.
#
# Run it with ``python docs/tutorials/t1_first_search.py`` (a few minutes on a
# laptop CPU, Fashion-MNIST from Debian's ``dataset-fashion-mnist``). The test suite runs it with
# ``PYRONAS_TUTORIAL_TINY=1``: the same code on a sliver of the data, in seconds.

# %%
import os
from pathlib import Path

import arviz as az
import numpy as np

import pyronas
from pyronas.analysis.diagnostics import diagnose_searches, format_table
from pyronas.analysis.plots import plot_op_heatmap

TINY = os.environ.get("PYRONAS_TUTORIAL_TINY") == "1"  # the test suite's size: seconds, not minutes
OUT = Path(os.environ.get("PYRONAS_TUTORIAL_OUT", "runs/tutorials")) / "t1_first_search"
SIZE = ["data.portion=0.02", "supernet.C=4", "search.epochs=2", "search.steps_per_epoch=3",
        "search.eval_batches=2"] if TINY else []

# %% [markdown]
# ## The search: a preset, two seeds
#
# ``pyronas.methods.drnas()`` is DrNAS with its paper's model, guide, objective and optimizers (a
# ``Preset``); ``budget="cpu"`` sizes it for a CPU, as the package's method comparison does: the
# NAS-Bench-201 cell on Fashion-MNIST at 16 px, 6,000 / 6,000 images for the two levels of the bilevel
# problem, 3 epochs of which the first trains the weights only. ``preset.search(out_dir)`` is the search
# runner over it (``pyronas.infer.Search``: data split, epochs of bilevel steps, evaluation, run folder);
# ``run()`` returns the derived cell, the argmax of the Dirichlet mean β / Σβ on every edge (DrNAS eq. 4).
# ``overrides`` change any config key (``"section.key=value"``, as ``pyronas search --set``).

# %%
searches = []
for seed in (0, 1):
    preset = pyronas.methods.drnas(budget="cpu", seed=seed, overrides=SIZE)
    search = preset.search(OUT / f"seed{seed}")
    genotype = search.run(progress_bar=False)
    print(f"seed {seed}: {genotype}  (architecture-split accuracy {search.metrics[-1]['val_acc']:.3f})")
    searches.append(search)

# %% [markdown]
# ## q(θ) as an ArviZ InferenceData
#
# ``diagnose_searches`` draws from every trained guide (each search is one *chain*), keeps the raw
# variable (``theta``, on the simplex) and the mixing weights the supernet uses (``op_probs``) with dims
# ``(chain, draw, cell, edge, op)``, and summarises each op probability: mean, sd, 94 % HDI, bulk and tail
# ESS, and the rank-normalised split R-hat of Vehtari et al. (2021) across the seeds. R-hat ≈ 1 means
# both seeds found the same posterior; much larger than 1 means the search result depends on the seed.
# ``out_dir`` also gets ``posterior.nc`` (open it with ``az.from_netcdf``) and ``summary.csv``; the CLI
# spelling is ``pyronas diagnose OUT/seed0 OUT/seed1``.

# %%
diagnosis = diagnose_searches(searches, num_samples=100 if TINY else 1000, out_dir=OUT / "diagnostics")
print(diagnosis.verdict)
print(format_table(diagnosis.table.query("edge == '3<-0'")))

# %% [markdown]
# The table is ArviZ's own numbers: R-hat of the ``op_probs`` variable computed directly by ``az.rhat`` is
# the ``r_hat`` column. And every draw of q(θ) is a probability vector over the five ops of an edge.

# %%
idata = diagnosis.idata
rhat = az.rhat(idata, var_names=["op_probs"])["op_probs"].to_dataframe().reset_index()
merged = diagnosis.table.merge(rhat, on=["cell", "edge", "op"], suffixes=("", "_arviz"))
assert np.allclose(merged["r_hat"], merged["op_probs"], equal_nan=True)
assert np.allclose(idata.posterior["op_probs"].sum("op"), 1.0, atol=1e-5)
print(f"largest R-hat over {len(merged)} op probabilities: {merged['r_hat'].max():.3f}")

# %% [markdown]
# How to read it. At full size (run on 2026-12-06) the two seeds derived cells that differ on four of
# the six edges, yet every R-hat was at most 1.005 ("REPRODUCIBLE"): q(θ) is wide (sd 0.15-0.17 for every op
# probability) and the two seeds' posterior means differ by at most 0.028, so the argmax on those edges is
# decided by differences far inside the posterior's spread. The seeds agree on the posterior; at this
# budget the posterior does not single out one cell.

# %% [markdown]
# ## Posterior plots
#
# Any ArviZ plot takes the InferenceData; here the 94 % HDIs of every op's probability on one edge, both
# seeds side by side (``az.plot_forest``), and the package's heat map of the posterior-mean op
# probabilities of seed 0 (``plot_op_heatmap``; ``pyronas diagnose`` draws it with the other figures).

# %%
import matplotlib  # noqa: E402

matplotlib.use("Agg")
axes = az.plot_forest(idata, var_names=["op_probs"], coords={"edge": ["3<-0"]}, combined=False, hdi_prob=0.94)
axes[0].figure.savefig(OUT / "diagnostics" / "forest_edge_3-0.png", dpi=80)
mean_probs = {k: v.detach().cpu().numpy() for k, v in searches[0].op_probs().items()}
path = plot_op_heatmap(mean_probs, searches[0].space, OUT / "diagnostics" / "op_probs_seed0.png")
print(f"figures in {path.parent}")
