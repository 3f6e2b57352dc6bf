"""Bayesian network weights for an existing ``nn.Module``: variational dropout as Pyro sites.

Priors are applied to the one supernet as data (no Bayesian copy of the layers), TyXe-style:

* ``bayesian_parameters(module)`` names the weights that become random variables (conv and
  linear weights; biases and BatchNorm parameters stay point estimates, and BatchNorm has no
  affine parameters inside the searched cells).
* The model samples sites ``w/<parameter name>`` from the log-uniform prior
  (``weight_sites_prior``), the guide samples them from N(μ_w, σ_w²) (``NormalWeights``);
  the sampled tensors go into the network through ``torch.func.functional_call``.
* ``LocalReparameterization`` is a Pyro messenger that remembers which values came from a
  Normal site and, while active, intercepts ``F.conv2d`` / ``F.linear`` whose weight is such a
  value: it returns mean f(x, μ) plus sqrt(f(x², σ²)) · ε with one ε per output unit
  (Kingma et al. 2015, local reparameterisation; VINNAS eq. 2), never using the sampled weight.
* Sparsity (VINNAS IV-B, Molchanov et al. 2017): weights with log λ = log σ²/μ² ≥ 3 are
  pruned; ``sparsity`` counts what is left (the paper's "# Params").

Everything here works for any module, so the retraining of a discrete network reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
import torch.nn as nn
import torch.nn.functional as F
from pyro.poutine.messenger import Messenger

from pyronas.distributions import LogUniform, log_lambda

WEIGHT = "w"
PRUNE_THRESHOLD = 3.0
# the un-intercepted functions (the LRT itself calls these)
_F_LINEAR = F.linear
_F_CONV2D = F.conv2d


def weight_site(name: str) -> str:
    """Name of the Pyro site of network parameter ``name``."""
    return f"{WEIGHT}/{name}"


def bayesian_parameters(module: nn.Module) -> dict[str, nn.Parameter]:
    """The weights made random: ``weight`` of every ``nn.Conv2d`` and ``nn.Linear``, by full name."""
    out = {}
    for mod_name, mod in module.named_modules():
        if isinstance(mod, nn.Conv2d | nn.Linear):
            out[f"{mod_name}.weight" if mod_name else "weight"] = mod.weight
    return out


def weight_sites_prior(shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """Model side: sample ``w/<name>`` ~ Π log-uniform for every named shape (VINNAS eq. 4)."""
    return {
        name: pyro.sample(weight_site(name), LogUniform(shape).to_event(len(shape)))
        for name, shape in shapes.items()
    }


def _key(name: str) -> str:
    return name.replace(".", "-")


class NormalWeights(nn.Module):
    """Mean-field Gaussian q(w) = Π N(μ_w, σ_w²) over named weights (VINNAS eq. 5).

    μ_w is Xavier-uniform initialised, log σ_w² is stored (init ``log_sigma2``) so variances
    stay positive and well scaled.

    Args:
        params: ``{name: tensor}`` whose shapes (and, for μ init, fan-in/out) are used.
        log_sigma2: initial log-variance (paper: −10).
    """

    def __init__(self, params: dict[str, torch.Tensor], log_sigma2: float = -10.0):
        super().__init__()
        self.names = list(params)
        self.loc = nn.ParameterDict()
        self.log_sigma2 = nn.ParameterDict()
        for name, p in params.items():
            loc = torch.empty_like(p.detach())
            nn.init.xavier_uniform_(loc) if loc.dim() >= 2 else nn.init.zeros_(loc)
            self.loc[_key(name)] = nn.Parameter(loc)
            self.log_sigma2[_key(name)] = nn.Parameter(torch.full_like(loc, log_sigma2))

    def loc_scale(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ_w, σ_w) of weight ``name``."""
        return self.loc[_key(name)], (0.5 * self.log_sigma2[_key(name)]).exp()

    def dist(self, name: str) -> dist.Distribution:
        """q(w) = N(μ, σ²) of weight ``name``."""
        loc, scale = self.loc_scale(name)
        return dist.Normal(loc, scale).to_event(loc.dim())

    def sample(self) -> dict[str, torch.Tensor]:
        """Guide side: sample every ``w/<name>`` from q(w)."""
        return {name: pyro.sample(weight_site(name), self.dist(name)) for name in self.names}

    def log_lambda(self, name: str) -> torch.Tensor:
        """log λ = log σ² − log μ² of weight ``name``."""
        loc, scale = self.loc_scale(name)
        return log_lambda(loc, scale)

    @torch.no_grad()
    def keep_masks(self, threshold: float = PRUNE_THRESHOLD) -> dict[str, torch.Tensor]:
        """Boolean masks of the weights kept (log λ < threshold)."""
        return {name: self.log_lambda(name) < threshold for name in self.names}

    @torch.no_grad()
    def pruned_means(self, threshold: float = PRUNE_THRESHOLD) -> dict[str, torch.Tensor]:
        """μ_w with the pruned weights set to 0: the deterministic network used after training."""
        return {name: self.loc[_key(name)] * m for name, m in self.keep_masks(threshold).items()}


@dataclass
class Sparsity:
    """Non-zero parameter count after pruning (VINNAS "# Params")."""

    kept: int
    total: int

    @property
    def fraction(self) -> float:
        """Kept weights / all weights."""
        return self.kept / max(self.total, 1)


@torch.no_grad()
def sparsity(weights: NormalWeights, module: nn.Module | None = None, threshold: float = PRUNE_THRESHOLD) -> Sparsity:
    """Count the weights kept at ``log λ < threshold``; with ``module``, its other (deterministic)
    parameters count in full, so the result is the network's non-zero parameter count."""
    masks = weights.keep_masks(threshold)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    if module is not None:
        bayes = {id(p) for p in bayesian_parameters(module).values()}
        rest = sum(p.numel() for p in module.parameters() if id(p) not in bayes)
        kept, total = kept + rest, total + rest
    return Sparsity(kept, total)


def lrt_linear(x: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, bias=None) -> torch.Tensor:
    """Local reparameterisation of ``F.linear``: N(x μᵀ + b, x² σ²ᵀ), one ε per output unit."""
    mean = _F_LINEAR(x, loc, bias)
    var = _F_LINEAR(x * x, scale * scale)
    return mean + var.clamp_min(1e-16).sqrt() * torch.randn_like(mean)


def lrt_conv2d(x: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, bias=None, *args, **kwargs) -> torch.Tensor:
    """Local reparameterisation of ``F.conv2d``: N(conv(x, μ) + b, conv(x², σ²)), one ε per output unit."""
    mean = _F_CONV2D(x, loc, bias, *args, **kwargs)
    var = _F_CONV2D(x * x, scale * scale, None, *args, **kwargs)
    return mean + var.clamp_min(1e-16).sqrt() * torch.randn_like(mean)



def _normal_of(fn) -> dist.Normal | None:
    while isinstance(fn, dist.Independent | torch.distributions.Independent):
        fn = fn.base_dist
    return fn if isinstance(fn, torch.distributions.Normal) else None


class LocalReparameterization(Messenger):
    """Effect handler: layers whose weight was sampled at a Normal site use the local
    reparameterisation trick (Kingma et al. 2015) instead of the sampled weight.

    The handler records, by identity, the values of Normal ``w/`` sites sampled while it is
    active; while active, ``torch.nn.functional.conv2d`` and ``linear`` dispatch to
    ``lrt_conv2d`` / ``lrt_linear`` when given such a value as weight. Use it either around the
    whole ELBO computation (guide and model), or -- as ``models/log_uniform.py`` does -- enter it
    in the guide while sampling the weights and in the model around the network's forward
    (``ArchPrior.network_context``); the record persists between the two until ``reset()``.
    Values that were not recorded (e.g. the posterior means plugged in for prediction) go
    through the ordinary functions.

    Args:
        prefix: only sites whose names start with it are recorded.
    """

    def __init__(self, prefix: str = WEIGHT + "/"):
        super().__init__()
        self.prefix = prefix
        self._table: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._saved: list[tuple] = []  # the functions replaced, one entry per (nested) entry

    def _pyro_post_sample(self, msg) -> None:
        if not msg["name"].startswith(self.prefix):
            return
        normal = _normal_of(msg["fn"])
        if normal is not None:
            v = msg["value"]
            self._table[id(v)] = (v, normal.loc, normal.scale)

    def reset(self) -> None:
        """Forget the recorded values (call before a new guide run)."""
        self._table.clear()

    def _lookup(self, weight) -> tuple[torch.Tensor, torch.Tensor] | None:
        hit = self._table.get(id(weight))
        if hit is None or hit[0] is not weight:
            return None
        return hit[1], hit[2]

    def __enter__(self):
        outer_linear, outer_conv = F.linear, F.conv2d
        self._saved.append((outer_linear, outer_conv))

        def linear(input, weight, bias=None):
            ls = self._lookup(weight)
            return outer_linear(input, weight, bias) if ls is None else lrt_linear(input, *ls, bias)

        def conv2d(input, weight, bias=None, *args, **kwargs):
            ls = self._lookup(weight)
            if ls is None:
                return outer_conv(input, weight, bias, *args, **kwargs)
            return lrt_conv2d(input, *ls, bias, *args, **kwargs)

        F.linear, F.conv2d = linear, conv2d
        return super().__enter__()

    def __exit__(self, *exc):
        F.linear, F.conv2d = self._saved.pop()
        return super().__exit__(*exc)

