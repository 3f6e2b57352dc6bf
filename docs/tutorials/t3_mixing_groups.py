# %% [markdown]
# # 3. Mixing priors and guides per site group, and the KL ramp that makes it train
#
# A pyronas program has two groups of latent sites: the architecture ``alpha/<kind>`` and, when the prior
# makes network weights random, the weights ``w/<parameter>``. Priors and guides are given per group, so
# methods mix in two config lines:
#
#     model: {alpha: {name: dirichlet}, weights: {name: log_uniform}}      # DrNAS' θ, VINNAS' weights
#     guide: {alpha: {name: dirichlet}, weights: {name: mean_field}}
#
# Added to DrNAS' CPU config (the packaged ``drnas_nb201_fmnist``) they give a Dirichlet posterior over the
# op weights θ and a log-uniform (ARD) prior on every conv and linear weight with a mean-field Gaussian
# q(w) (VINNAS). DrNAS' objective stays: the per-datum negative ELBO with the α KL masked and the L2 anchor
# on η, and now a weight KL,
#
#     loss = −E_q[log p(y | x, θ, w)] / N  +  γ_w(epoch) · KL(q(w) ‖ p(w)) / N  +  ½λ‖η‖²
#
# with γ_w = 1 from the first step unless a ramp is given (VINNAS Algorithm 1, line 19: γ grows linearly
# from 0). This tutorial measures the two terms, shows that without the ramp this search stays near chance
# accuracy, and that the ramp fixes it; then it swaps the α guide for a Pyro autoguide.
#
# ``python docs/tutorials/t3_mixing_groups.py`` runs three searches of 3 epochs on 1,500 / 1,500 images
# (each took about 3 minutes on a busy 2-core machine); ``PYRONAS_TUTORIAL_TINY=1`` runs a few steps of each.

# %%
import os
from pathlib import Path

from pyronas.callbacks.base import Callback
from pyronas.config import load_config
from pyronas.config_files import resolve_config
from pyronas.infer import Search
from pyronas.infer.first_step import kl_balance

TINY = os.environ.get("PYRONAS_TUTORIAL_TINY") == "1"
OUT = Path(os.environ.get("PYRONAS_TUTORIAL_OUT", "runs/tutorials")) / "t3_mixing_groups"
SIZE = ["search.epochs=3", "search.warmup_epochs=1", "search.callbacks=[]"]
SIZE += (["data.portion=0.02", "supernet.C=4", "search.steps_per_epoch=3", "search.eval_batches=2"] if TINY
         else ["data.portion=0.05", "search.eval_batches=8"])
EVERY = 1 if TINY else 8  # steps between two looks at the balance
GROUPS = ["model={alpha: {name: dirichlet}, weights: {name: log_uniform}}",
          "guide={alpha: {name: dirichlet, params: {init_scale: 1.0e-3}}, weights: {name: mean_field}}"]
DRNAS, COMBO = resolve_config("drnas_nb201_fmnist"), resolve_config("combo_dirichlet_lu")  # packaged configs
RAMP = 'objective.kl_scales={"alpha/": {weight: 0.0}, "w/": {weight: 1.0, start_epoch: 1, end_epoch: 3}}'

# %% [markdown]
# ## The two terms at the first step
#
# ``kl_balance`` (``pyronas.infer.first_step``) evaluates the two parts of the per-datum loss on one batch:
# the likelihood term −log p(y | ...) / N and each group's KL / N as the objective weighs it at a given
# progress (in closed form where one is registered, as Molchanov's for the log-uniform prior). The search
# runs the same check before its first step and logs a warning naming the ramp keys when a KL term is more
# than ten times the likelihood.

# %%
no_ramp = Search(load_config(DRNAS, [*GROUPS, *SIZE]), OUT / "no_ramp")
first_batch = next(iter(no_ramp.weight_batches.epoch(0)))
N = len(no_ramp.weight_data)
likelihood, kl = kl_balance(no_ramp.model, no_ramp.guide, no_ramp.objective, first_batch, N)
n_weights = sum(s.numel() for s in no_ramp.model.prior.weight_shapes.values())
print(f"{n_weights} random weights, N = {N} images: likelihood term {likelihood:.3f}, weight KL / N {kl['w/']:.3f}")

# %% [markdown]
# Each random weight starts with a small variance (log σ² = −10), so each costs several nats of KL from the
# log-uniform prior, and there are far more weights than images: the KL / N is many times the likelihood
# term (2.3 nats at chance for 10 classes). (70 times here at the full size of this tutorial; 18 times for
# the 6,000 images of the CPU config.)

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
ramped = Search(load_config(DRNAS, [*GROUPS, RAMP, *SIZE]), OUT / "ramp")
ramp_balance = run(ramped, "ramp (γ_w: 0 → 1 over epochs 1-3)")

# %% [markdown]
# With the ramp, γ_w is 0 during the first epoch: the weight KL is masked and the network learns from the
# likelihood alone; the KL then enters linearly while the data already shape q(w). Without it the KL / N
# dominates from the first step, and the supernet stays near chance. Measured with these two configs at
# this tutorial's full size (1,500 / 1,500 images, 3 epochs, seed 0; 2026-12-06), the architecture-split
# accuracy per epoch was 0.175, 0.164, 0.166 without the ramp (chance: 0.1) and 0.334, 0.487, 0.483 with it.
# The failure needs DrNAS' plain SGD on the weights, whose steps grow with the KL's gradient: the same
# program with Adam on the weights (which rescales every coordinate's step) and no ramp learned (0.387,
# 0.513, 0.474), though less well than with the ramp.
#
# ``configs/combo_dirichlet_lu.yaml`` ships this combination with the ramp, the closed-form weight KL
# (``elbo: meanfield``, ``TraceMeanField_ELBO``: a lower-variance gradient than the one-draw estimate of
# ``elbo: trace``) and Adam on the weights; at the same size it reached 0.561, 0.641, 0.674.

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
auto = Search(load_config(COMBO, [
    'guide={alpha: {name: auto, params: {family: lowrank_mvn, rank: 2}}, weights: {name: mean_field}}',
    'objective={elbo: meanfield, kl_scales: {"alpha/": {weight: 1.0},'
    ' "w/": {weight: 1.0, start_epoch: 1, end_epoch: 3}}}',
    *SIZE,
]), OUT / "autoguide")
run(auto, "AutoLowRankMultivariateNormal on θ + mean-field q(w), ramp")
likelihood, kl = kl_balance(auto.model, auto.guide, auto.objective, first_batch, N, progress=float(auto.epoch))
print(f"after the search: likelihood term {likelihood:.3f}, α term {kl['alpha/']:.4f}, weight KL / N {kl['w/']:.3f}")
assert auto.guide.correlated

# %% [markdown]
# At full size (run on 2026-12-06) this program reached 0.689, 0.723, 0.737 on the architecture split, and
# its weight KL / N fell from 169 to about 70 while the likelihood term fell from 2.4 to 0.76.
