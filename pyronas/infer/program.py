"""The Pyro program: prior (``pyronas.models``) + supernet + likelihood, and the guide base class.

A method is a (model, guide, objective) triple over one supernet:

* ``ArchPrior`` subclasses (one file each in ``models/``) say which distribution the
  architecture sites ``alpha/<kind>`` have, how a sampled value becomes mixing weights, and,
  optionally, which network weights are Pyro sites too.
* ``SupernetModel`` composes a prior with the supernet and a categorical likelihood observed
  inside ``pyro.plate("data", n_data, subsample=...)``, so the log-likelihood of a batch is
  scaled to the size of its data split (``n_data / batch``).
* ``ArchGuide`` subclasses (one file each in ``guides/``) hold the variational parameters and
  sample the same sites from real distributions (Delta, Normal, Dirichlet, ...).

Every module here is a plain ``nn.Module`` holding its own parameters: nothing lives in Pyro's
global param store, so two searches in one process never share state.
"""

from __future__ import annotations

import contextlib

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.distributions import SmoothedCategorical
from pyronas.nn.supernet import Supernet

ALPHA = "alpha"


def alpha_site(kind: str) -> str:
    """Name of the architecture sample site of cell kind ``kind``."""
    return f"{ALPHA}/{kind}"


class ArchPrior(nn.Module):
    """Base class of priors (``models/*.py``). Subclasses implement ``alpha_dist``.

    ``to_weights`` maps a site value to supernet mixing weights: softmax over ops for real-valued
    α (default), identity for simplex-valued θ (Dirichlet).
    """

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

    def network_weights(self, supernet: Supernet) -> dict[str, torch.Tensor]:
        """Sample the network weights that are Pyro sites (default: none, point estimates).

        Returns ``{parameter name: sampled tensor}`` used via ``torch.func.functional_call``.
        """
        return {}

    def network_context(self) -> contextlib.AbstractContextManager:
        """Context entered around the supernet forward (e.g. a local-reparameterisation
        effect handler for Bayesian weights); default: nothing."""
        return contextlib.nullcontext()


class SupernetModel(nn.Module):
    """p(y, α[, w] | x) = p(α) [p(w)] Π_n Cat(y_n | supernet(x_n; softmax α, w)).

    Args:
        supernet: the weight-sharing supernet.
        prior: an ``ArchPrior``.
        label_smoothing: ε of a label-smoothed likelihood (0 = plain categorical).
    """

    def __init__(self, supernet: Supernet, prior: ArchPrior, label_smoothing: float = 0.0):
        super().__init__()
        self.supernet = supernet
        self.prior = prior
        self.label_smoothing = label_smoothing

    def sample_weights(self) -> dict[str, torch.Tensor]:
        """Sample every ``alpha/<kind>`` site and map it to mixing weights."""
        return {
            kind: self.prior.to_weights(pyro.sample(alpha_site(kind), self.prior.alpha_dist(kind)))
            for kind in self.prior.arch_shapes
        }

    def logits(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        sampled = self.prior.network_weights(self.supernet)
        with self.prior.network_context():
            if sampled:
                return torch.func.functional_call(self.supernet, sampled, (x, weights), strict=False)
            return self.supernet(x, weights)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, n_data: int) -> torch.Tensor:
        weights = self.sample_weights()
        logits = self.logits(x, weights)
        with pyro.plate("data", n_data, subsample=torch.arange(x.shape[0], device=x.device)):
            if self.label_smoothing > 0:
                likelihood = SmoothedCategorical(logits=logits, epsilon=self.label_smoothing)
            else:
                likelihood = dist.Categorical(logits=logits)
            pyro.sample("y", likelihood, obs=y)
        return logits


class ArchGuide(nn.Module):
    """Base class of variational families (``guides/*.py``).

    A guide is called with the model's arguments and samples every ``alpha/<kind>`` site (and
    the network-weight sites if its prior declares any). Subclasses implement ``forward``
    and ``alpha_dist`` (or override ``op_probs``/``sample_alpha``).

    Attributes:
        supports_second_order: False where the unrolled 2nd-order DARTS gradient would be wrong
            (e.g. Dirichlet ``rsample`` is once-differentiable); the search refuses ``order: 2``.
        shared_draw: True where one draw of the guide serves both steps of a bilevel iteration
            (VIM-NAS Alg. 1 line 3); the engine then replays the same noise in both losses.
    """

    supports_second_order: bool = True
    shared_draw: bool = False

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
        """Guide parameters updated with the network weights (e.g. q(w) of VINNAS)."""
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
