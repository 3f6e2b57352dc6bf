# %% [markdown]
# # 4. A hand-written bilevel loop: ``BilevelSVI``, DrNAS' pieces and an objective term of your own
#
# ``Search`` (tutorial 1) is a loop around one engine, ``BilevelSVI``, that reads like ``pyro.infer.SVI``:
# ``svi.step(weight_batch, arch_batch)`` takes one architecture step on the architecture split and one
# weight step on the weight split (DARTS' Algorithm 1, first order), each the gradient of the same
# objective, the per-datum negative ELBO plus named extra terms:
#
#     loss = −ELBO(x, y) / N  +  Σ_t λ_t(progress) · term_t
#
# This tutorial writes that loop by hand for DrNAS (Dirichlet prior and guide, L2 anchor on η) and adds a
# term of its own: a penalty on the expected weight of ``skip_connect``, the op differentiable NAS tends to
# collapse onto (Zela et al. 2020; Chu et al. 2021). It then shows the term's effect on q(θ).
#
# ``python docs/tutorials/t4_hand_loop.py`` takes a few minutes on a CPU; ``PYRONAS_TUTORIAL_TINY=1``
# runs a few steps.

# %%
import os

import torch

import pyronas
from pyronas.data.datasets import Batches, bilevel_split, load_dataset
from pyronas.infer import BilevelSVI, Schedule, TermContext, TermSpec, register_term
from pyronas.nn.spaces import get_space

TINY = os.environ.get("PYRONAS_TUTORIAL_TINY") == "1"
SIZE = ["data.portion=0.02", "supernet.C=4", "search.epochs=1", "search.warmup_epochs=0"] if TINY else []
STEPS = 4 if TINY else None  # steps per epoch (None: the whole split)

# %% [markdown]
# ## A new objective term
#
# A term is a function ``term(ctx: TermContext, **params) -> scalar tensor``, registered by name with
# ``register_term``; from then on a config can name it too (``objective.terms: [{name: skip_penalty,
# weight: 0.5}]``, with the module listed under ``imports:``). ``ctx`` holds the model, the guide, the
# values the guide drew for this batch and the search's progress in epochs.
#
# The expectation E_q[θ_skip] is estimated from ``num_samples`` reparameterised draws of q(θ), so the
# term's gradient reaches the guide's parameters η (torch's Dirichlet ``rsample`` is differentiable in
# the concentration, Jankowiak & Obermeyer 2018).


# %%
@register_term("skip_penalty")
def skip_penalty(ctx: TermContext, num_samples: int = 16) -> torch.Tensor:
    """Σ_edges E_q[w_skip]: the expected mixing weight of skip_connect summed over the edges."""
    total = torch.zeros(())
    for kind in ctx.guide.arch_shapes:
        draws = ctx.guide.alpha_dist(kind).rsample((num_samples,))  # [S, edges, ops]
        weights = ctx.guide.to_weights(draws).mean(0)
        ops = ctx.model.supernet.candidate_ops(kind)
        total = total + sum(weights[e, names.index("skip_connect")] for e, names in enumerate(ops))
    return total


# %% [markdown]
# ## DrNAS from its preset
#
# ``pyronas.methods.drnas(budget="cpu")`` builds DrNAS' pieces (a ``Preset``): the supernet inside the Pyro
# model with ``DirichletPrior`` (θ ~ Dir(1), ``models/dirichlet.py``) and a categorical likelihood,
# ``DirichletGuide`` (θ ~ Dir(ELU(η) + 1), ``guides/dirichlet.py``), the objective of DrNAS eq. 2 —
# E_q[CE] + ½λ‖η‖² with the Dirichlet KL site masked (``kl_scales``) — and the two optimizers (SGD on the
# weights, Adam on η), all seeded by ``seed``. Its ``config`` holds the data and the budget; its
# ``objective.terms`` is a plain list, to which we append our term with its weight schedule.


# %%
def drnas(penalty: float, seed: int = 0) -> pyronas.methods.Preset:
    """DrNAS' preset at the CPU budget; ``penalty``: the weight λ of ``skip_penalty`` (0: none)."""
    preset = pyronas.methods.drnas(budget="cpu", seed=seed, overrides=SIZE)
    if penalty:
        preset.objective.terms.append(TermSpec("skip_penalty", Schedule(penalty)))
    return preset


dc = pyronas.methods.method_config("drnas", budget="cpu", overrides=SIZE).data  # the preset's data section
data = load_dataset(dc.name, image_size=dc.image_size)
w_idx, a_idx = bilevel_split(len(data), dc.portion, dc.split, seed=0)
weight_data, arch_data = data.subset(w_idx), data.subset(a_idx)

# %% [markdown]
# ## The loop
#
# ``Batches(data, batch_size, seed).epoch(e)`` yields the batches of epoch ``e`` in a seeded order.
# ``preset.svi(...)`` is the ``BilevelSVI`` over the preset's pieces (its ``search.order`` and
# ``search.arch_first``; the sizes N of the two splits scale the likelihood). ``progress`` (epochs, a float)
# drives the terms' schedules; the first ``warmup_epochs`` train the weights only (``update_arch=False``);
# ``svi.step`` returns the two losses as floats.


# %%
def search(penalty: float) -> dict[str, torch.Tensor]:
    """Run DrNAS with the given skip penalty; return q(θ)'s mean op weights per edge."""
    preset = drnas(penalty)
    sc, batch = preset.config.search, preset.config.data.batch_size
    svi: BilevelSVI = preset.svi(weight_size=len(weight_data), arch_size=len(arch_data))
    w_batches, a_batches = Batches(weight_data, batch, seed=0), Batches(arch_data, batch, seed=1)
    steps = STEPS or min(len(w_batches), len(a_batches))
    for epoch in range(sc.epochs):
        for i, (w_batch, a_batch) in enumerate(zip(w_batches.epoch(epoch), a_batches.epoch(epoch), strict=False)):
            if i == steps:
                break
            result = svi.step(w_batch, a_batch, progress=epoch + i / steps, update_arch=epoch >= sc.warmup_epochs)
        arch = "-" if result.arch_loss is None else f"{result.arch_loss:.3f}"  # None: no architecture step
        print(f"penalty {penalty}: epoch {epoch} weight loss {result.weight_loss:.3f}, arch loss {arch}")
    return preset.guide.op_probs()


space = get_space("nb201")
skip = space.ops.index("skip_connect")
plain, penalised = search(0.0), search(1.0)
for name, probs in (("plain DrNAS", plain), ("with skip_penalty", penalised)):
    print(f"{name:>18}: cell {space.derive(probs)}; E[θ_skip] per edge",
          [round(v, 3) for v in probs["cell"][:, skip].tolist()])

# %% [markdown]
# The penalty lowers q(θ)'s expected weight of ``skip_connect`` on every edge below the plain run's,
# and below its starting value of 1/5. It does not by itself find a better cell: at full size (run on
# 2026-12-06) E[θ_skip] was 0.199-0.223 per edge without the term and 0.098-0.102 with it, and the
# penalised cell took ``none`` on four of its six edges (the plain one: ``nor_conv_3x3`` on four). The
# term's gradient lowers η_skip and raises every other op's η, the zero op's included; λ = 1 is too strong
# here. Tutorial 5 shows how to judge a cell by retraining it.

# %%
assert (penalised["cell"][:, skip] < plain["cell"][:, skip]).all()
assert (penalised["cell"][:, skip] < 0.2).all()
