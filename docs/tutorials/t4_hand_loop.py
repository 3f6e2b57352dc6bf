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

import pyro
import torch

from pyronas.data.datasets import Batches, bilevel_split, load_dataset
from pyronas.guides.dirichlet import DirichletGuide
from pyronas.infer import BilevelSVI, Objective, Schedule, SupernetModel, TermContext, TermSpec, register_term
from pyronas.models.dirichlet import DirichletPrior
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet

TINY = os.environ.get("PYRONAS_TUTORIAL_TINY") == "1"
EPOCHS, STEPS, PORTION, C = (1, 4, 0.02, 4) if TINY else (4, 90, 0.2, 8)

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
# ## DrNAS, piece by piece
#
# The data (Fashion-MNIST, 16 px, two disjoint splits), the supernet (plain PyTorch), the Pyro program:
# ``DirichletPrior`` (θ ~ Dir(1), ``models/dirichlet.py``) under the supernet and a categorical
# likelihood, ``DirichletGuide`` (θ ~ Dir(ELU(η) + 1), ``guides/dirichlet.py``), and the objective of
# DrNAS eq. 2 — E_q[CE] + ½λ‖η‖² with the Dirichlet KL site masked (``kl_scales``) — plus our term.


# %%
def drnas(penalty: float, seed: int = 0):
    """DrNAS' model, guide, objective and optimizers; ``penalty``: the weight λ of ``skip_penalty``."""
    torch.manual_seed(seed)
    space = get_space("nb201")
    supernet = Supernet(space, C=C, layers=1, in_channels=1, num_classes=10)
    model = SupernetModel(supernet, DirichletPrior(supernet))
    guide = DirichletGuide(model, init_scale=1e-3)
    terms = [TermSpec("l2_anchor", Schedule(1e-3))]
    if penalty:
        terms.append(TermSpec("skip_penalty", Schedule(penalty)))
    objective = Objective(pyro.infer.Trace_ELBO(), terms, kl_scales={"alpha/": Schedule(0.0)})
    weight_optim = torch.optim.SGD(supernet.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    arch_optim = torch.optim.Adam(guide.parameters(), lr=3e-3, betas=(0.5, 0.999))
    return model, guide, objective, weight_optim, arch_optim


data = load_dataset("fashion_mnist", image_size=16)
w_idx, a_idx = bilevel_split(len(data), PORTION, 0.5, seed=0)
weight_data, arch_data = data.subset(w_idx), data.subset(a_idx)

# %% [markdown]
# ## The loop
#
# ``Batches(data, batch_size, seed).epoch(e)`` yields the batches of epoch ``e`` in a seeded order.
# ``progress`` (epochs, a float) drives the terms' schedules; ``svi.step`` returns the two losses as
# floats.


# %%
def search(penalty: float) -> dict[str, torch.Tensor]:
    """Run DrNAS with the given skip penalty; return q(θ)'s mean op weights per edge."""
    model, guide, objective, weight_optim, arch_optim = drnas(penalty)
    svi = BilevelSVI(model, guide, objective, weight_optim, arch_optim,
                     weight_size=len(weight_data), arch_size=len(arch_data), arch_first=True)
    w_batches, a_batches = Batches(weight_data, 64, seed=0), Batches(arch_data, 64, seed=1)
    for epoch in range(EPOCHS):
        for i, (w_batch, a_batch) in enumerate(zip(w_batches.epoch(epoch), a_batches.epoch(epoch), strict=False)):
            if i == STEPS:
                break
            result = svi.step(w_batch, a_batch, progress=epoch + i / STEPS)
        print(f"penalty {penalty}: epoch {epoch} weight loss {result.weight_loss:.3f}, "
              f"arch loss {result.arch_loss:.3f}")
    return guide.op_probs()


space = get_space("nb201")
skip = space.ops.index("skip_connect")
plain, penalised = search(0.0), search(1.0)
for name, probs in (("plain DrNAS", plain), ("with skip_penalty", penalised)):
    print(f"{name:>18}: cell {space.derive(probs)}; E[θ_skip] per edge",
          [round(v, 3) for v in probs["cell"][:, skip].tolist()])

# %% [markdown]
# The penalty lowers q(θ)'s expected weight of ``skip_connect`` on every edge below the plain run's,
# and below its starting value of 1/5. (Whether that finds a better cell is a question for tutorial 5's
# retraining.)

# %%
assert (penalised["cell"][:, skip] < plain["cell"][:, skip]).all()
assert (penalised["cell"][:, skip] < 0.2).all()
