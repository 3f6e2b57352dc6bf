# %% [markdown]
# # 3. Mixing priors and guides per site group, and the KL ramp that makes it train
#
# A pyronas program has two groups of latent sites: the architecture ``alpha/<kind>`` and, when the prior
# makes network weights random, the weights ``w/<parameter>``. Priors and guides are given per group, so
# methods mix in a config line:
#
#     model: {alpha: {name: dirichlet}, weights: {name: log_uniform}}      # DrNAS' θ, VINNAS' weights
#     guide: {alpha: {name: dirichlet}, weights: {name: mean_field}}
#
# ``configs/combo_dirichlet_lu.yaml`` is that program: a Dirichlet posterior over the op weights θ (DrNAS)
# and a log-uniform (ARD) prior on every conv and linear weight with a mean-field Gaussian q(w) and
# Molchanov's analytic KL (VINNAS). Its objective is the per-datum negative ELBO,
#
#     loss = −E_q[log p(y | x, θ, w)] / N  +  γ_w(epoch) · KL(q(w) ‖ p(w)) / N   (+ DrNAS' anchor on η)
#
# This tutorial shows why γ_w must be *ramped* from 0 (VINNAS Algorithm 1, line 19): without the ramp the
# weight KL / N is far larger than the likelihood term at the start, the optimiser spends the search
# shrinking it, and the supernet stays at chance accuracy. Then it swaps the α guide for a Pyro autoguide.
#
# ``python docs/tutorials/t3_mixing_groups.py`` runs three searches of 6 epochs (about ten minutes on a
# CPU); ``PYRONAS_TUTORIAL_TINY=1`` runs a few steps of each.

# %%
import os
from pathlib import Path

from pyronas.callbacks.base import Callback
from pyronas.config import load_config
from pyronas.infer import Search
from pyronas.infer.first_step import kl_balance

TINY = os.environ.get("PYRONAS_TUTORIAL_TINY") == "1"
OUT = Path(os.environ.get("PYRONAS_TUTORIAL_OUT", "runs/tutorials")) / "t3_mixing_groups"
SIZE = ["data.portion=0.02", "supernet.C=4", "search.epochs=3", "search.warmup_epochs=1",
        "search.steps_per_epoch=3", "search.eval_batches=2"] if TINY else []
EVERY = 1 if TINY else 30  # steps between two looks at the balance
NO_RAMP = 'objective.kl_scales={"alpha/": {weight: 0.0}, "w/": {weight: 1.0}}'  # γ_w = 1 from the first step
RAMP = 'objective.kl_scales={"alpha/": {weight: 0.0}, "w/": {weight: 1.0, start_epoch: 1, end_epoch: 3}}'

# %% [markdown]
# ## The two terms at the first step
#
# ``kl_balance`` (``pyronas.infer.first_step``) evaluates the two parts of the per-datum loss on one batch:
# the likelihood term −log p(y | ...) / N and each group's KL / N as the objective weighs it at a given
# progress (the closed-form KL where one is registered, as ``elbo: meanfield`` uses it). The search runs
# the same check before its first step and logs a warning naming the ramp keys when a KL term is more than
# ten times the likelihood.

# %%
no_ramp = Search(load_config("configs/combo_dirichlet_lu.yaml", [NO_RAMP, *SIZE]), OUT / "no_ramp")
first_batch = next(iter(no_ramp.weight_batches.epoch(0)))
N = len(no_ramp.weight_data)
likelihood, kl = kl_balance(no_ramp.model, no_ramp.guide, no_ramp.objective, first_batch, N)
n_weights = sum(s.numel() for s in no_ramp.model.prior.weight_shapes.values())
print(f"{n_weights} random weights, N = {N} images: likelihood term {likelihood:.3f}, weight KL / N {kl['w/']:.3f}")

# %% [markdown]
# Each of the random weights starts with a small variance (log σ² = −10), so each costs several nats of
# KL from the log-uniform prior, and there are far more weights than images: the KL / N is several times
# the likelihood term (2.3 nats at chance for 10 classes).

# %%
assert kl["w/"] > likelihood

# %% [markdown]
# ## Training without and with the ramp
#
# A small callback records the two terms on the first batch as the search goes (``on_step_end`` sees the
# search's state, ``pyronas.callbacks.base``), at the objective's current weight γ_w.


# %%
class Balance(Callback):
    """Every ``EVERY`` steps: (epoch progress, likelihood term, weighted weight KL / N) on ``first_batch``."""

    def __init__(self):
        self.rows: list[tuple[float, float, float]] = []

    def on_step_end(self, search, step: int) -> None:
        if step % EVERY == 0:
            steps = search.cfg.search.steps_per_epoch or len(search.weight_data) // search.cfg.data.batch_size
            progress = search.epoch + search.step / steps
            lik, kl = kl_balance(search.model, search.guide, search.objective, first_batch, len(search.weight_data),
                                 progress)
            self.rows.append((progress, lik, kl.get("w/", 0.0)))


def run(search: Search, label: str) -> Balance:
    """Run ``search`` with a ``Balance`` callback; print its accuracy per epoch and the balance."""
    balance = Balance()
    search.callbacks.append(balance)
    search.run(progress_bar=False)
    accuracy = ", ".join(f"{row['val_acc']:.3f}" for row in search.metrics)
    print(f"{label}: architecture-split accuracy per epoch {accuracy}")
    for progress, lik, kl_w in balance.rows[:: max(1, len(balance.rows) // 6)]:
        print(f"    epoch {progress:4.2f}: likelihood term {lik:.3f}   γ_w · KL / N {kl_w:.3f}")
    return balance


run(no_ramp, "no ramp (γ_w = 1)")
ramped = Search(load_config("configs/combo_dirichlet_lu.yaml", [RAMP, *SIZE]), OUT / "ramp")
ramp_balance = run(ramped, "ramp (γ_w: 0 → 1 over epochs 1-3)")

# %% [markdown]
# With the ramp, γ_w is 0 during the first epoch: the weight KL is masked and the network learns from the
# likelihood alone; the KL then enters linearly while the data already shape q(w). Without it, the KL / N
# dominates from the first step. At the full size of the config (6 epochs) the run without the ramp stays
# near chance (0.1) while the ramped one learns.

# %%
assert ramp_balance.rows[0][0] < 1 and ramp_balance.rows[0][2] == 0.0  # masked in the first epoch

# %% [markdown]
# ## A Pyro autoguide on α
#
# Any Pyro autoguide can be the α group's guide (``guides/auto.py``: ``AutoNormal``, ``AutoLowRankMultivariateNormal``,
# ``AutoIAFNormal``, ``AutoDelta``). It is built over the α sites alone, so the weights keep their mean-field
# q(w) and its analytic KL; it transforms to the prior's support, the simplex here. A low-rank multivariate
# Normal couples the edges and ops of the cell (``guide.correlated``: ``pyronas diagnose`` then draws α's
# correlation matrix). Its α term is Monte Carlo (log q − log p of the draw), weighted by γ_α = 1; the
# weight KL keeps its ramp.

# %%
auto = Search(load_config("configs/combo_dirichlet_lu.yaml", [
    'guide={alpha: {name: auto, params: {family: lowrank_mvn, rank: 2}}, weights: {name: mean_field}}',
    'objective={elbo: meanfield, kl_scales: {"alpha/": {weight: 1.0},'
    ' "w/": {weight: 1.0, start_epoch: 1, end_epoch: 3}}}',
    *SIZE,
]), OUT / "autoguide")
run(auto, "AutoLowRankMultivariateNormal on θ + mean-field q(w), ramp")
likelihood, kl = kl_balance(auto.model, auto.guide, auto.objective, first_batch, N, progress=float(auto.epoch))
print(f"after the search: likelihood term {likelihood:.3f}, α term {kl['alpha/']:.4f}, weight KL / N {kl['w/']:.3f}")
assert auto.guide.correlated
