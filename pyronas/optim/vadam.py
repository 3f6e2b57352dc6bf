"""Variational Adam (VAdam): natural-gradient VI for a mean-field Gaussian q(θ) = N(μ, σ²).

BaLeNAS (eqs. 13-18), after VON / Vprop of Khan et al. (2018). The optimised tensor is the mean μ;
the precision lives in the optimizer state ``s`` and defines::

    σ_t² = 1 / (N (s_t + δ̃)),   δ̃ = δ / N                                    (text after eq. 14)

with δ the precision of the prior p(θ) = N(0, I/δ) (eq. 5) and N the dataset size. One step is::

    s_{t+1} = (1 − β_t) s_t + β_t h_t                                           (eq. 14 / 15 / 18)
    μ_{t+1} = μ_t − β_t (ĝ + δ̃ μ_t) / (s_{t+1} + δ̃)
                  + γ_t (s_t + δ̃) / (s_{t+1} + δ̃) ∘ (μ_t − μ_{t−1})             (eq. 13 / 17)

where ĝ is the gradient of the per-datum data loss ℓ̄/N *without the prior* at a Monte Carlo sample
θ_t ~ N(μ_t, σ_t²) (the prior enters only through δ̃ μ_t) and h_t estimates the Hessian diagonal:

* ``hessian="gm"`` (default, Vprop/VAdam, eqs. 15 and 18): h_t = ĝ ∘ ĝ, the gradient magnitude;
* ``hessian="von"`` (VON, eq. 14): h_t = diag ∇²ℓ̄(θ_t), from Hessian-vector products (exact, one
  product per coordinate, or Hutchinson's estimate E[z ∘ Hz] with ``hessian_probes`` Rademacher z).

Two ways to provide ĝ (and h_t for VON):

1. ``step(closure)``: the closure re-evaluates the data loss *without* calling ``backward``; the
   optimizer draws ``num_samples`` θ ~ N(μ, σ²), writes them into the parameters, differentiates
   the closure there (``torch.autograd.grad``), restores μ and averages.
2. ``step()`` after the caller has written ĝ into ``p.grad`` at a sample θ_t (the BaLeNAS guide
   samples α = μ + σ ε with σ read from :meth:`VAdam.sigma`, so backpropagating the loss to μ gives
   ĝ(θ_t)); for VON pass ``hessian_diag`` (one tensor per parameter, in parameter order).

With N (``num_data``) the optimizer knows the scale of the posterior; ``init_s`` is s_0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.optim import Optimizer

from pyronas.autodiff import hessian_vector_product

HESSIANS = ("gm", "von")


class VAdam(Optimizer):
    """Variational Adam (BaLeNAS eqs. 17-18; VON eqs. 13-14 with ``hessian="von"``).

    Args:
        params: the means μ of q (iterable of tensors or param groups).
        lr: β_t, the step size of both μ and s (eqs. 17, 18).
        momentum: γ_t of the momentum term of eq. 17 (0 = VON/Vprop, eq. 13).
        prior_precision: δ of p(θ) = N(0, I/δ) (eq. 5).
        num_data: N, the size of the data set the loss is averaged over; δ̃ = δ/N.
        init_s: s_0, the initial precision state (σ_0² = 1/(N s_0 + δ)).
        hessian: ``"gm"`` (ĝ∘ĝ, eq. 18) or ``"von"`` (diag Hessian, eq. 14).
        num_samples: Monte Carlo draws θ_t per step when a closure is given (read from the first group).
        hessian_probes: for VON with a closure: 0 = exact diagonal (one Hessian-vector product per
            coordinate), k > 0 = Hutchinson estimate with k Rademacher probes.
        s_rate: rate of the s update; ``None`` uses β_t as eq. 18 does (Khan et al.'s Vadam decouples
            it as 1 − β₂).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        prior_precision: float = 1.0,
        num_data: int = 1,
        init_s: float = 1.0,
        hessian: str = "gm",
        num_samples: int = 1,
        hessian_probes: int = 0,
        s_rate: float | None = None,
    ):
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if prior_precision <= 0:
            raise ValueError(f"prior_precision must be > 0, got {prior_precision}")
        if num_data < 1:
            raise ValueError(f"num_data must be >= 1, got {num_data}")
        if init_s < 0:
            raise ValueError(f"init_s must be >= 0, got {init_s}")
        if hessian not in HESSIANS:
            raise ValueError(f"hessian must be one of {HESSIANS}, got {hessian!r}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if s_rate is not None and not 0.0 < s_rate <= 1.0:
            raise ValueError(f"s_rate must be in (0, 1], got {s_rate}")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            prior_precision=prior_precision,
            num_data=num_data,
            init_s=init_s,
            hessian=hessian,
            num_samples=num_samples,
            hessian_probes=hessian_probes,
            s_rate=s_rate,
        )
        super().__init__(params, defaults)

    # --- the posterior scale ----------------------------------------------------------------
    def param_group(self, param: torch.Tensor) -> dict:
        """The param group holding ``param`` (its δ, N, s_0, ...)."""
        for group in self.param_groups:
            if any(p is param for p in group["params"]):
                return group
        raise KeyError("tensor is not a parameter of this VAdam")

    def precision_state(self, param: torch.Tensor) -> torch.Tensor:
        """s of ``param`` (s_0 = ``init_s`` before the first step)."""
        group = self.param_group(param)
        state = self.state.get(param, {})
        if "s" in state:
            return state["s"]
        return torch.full_like(param, group["init_s"]).detach()

    def sigma(self, param: torch.Tensor) -> torch.Tensor:
        """σ = 1 / sqrt(N (s + δ̃)), δ̃ = δ/N (BaLeNAS text after eq. 14), detached."""
        group = self.param_group(param)
        n, delta_t = group["num_data"], group["prior_precision"] / group["num_data"]
        return (n * (self.precision_state(param) + delta_t)).rsqrt().detach()

    # --- Monte Carlo gradient (and Hessian diagonal) at θ ~ q -------------------------------
    def _sample_grads(self, closure: Callable[[], torch.Tensor], params: list[torch.Tensor], hessian: bool):
        """ĝ (and diag ∇²) of the closure averaged over ``num_samples`` draws θ ~ N(μ, σ²)."""
        group0 = self.param_groups[0]
        n_samples, probes = group0["num_samples"], group0["hessian_probes"]
        mus = [p.detach().clone() for p in params]
        sigmas = [self.sigma(p) for p in params]
        g_sum = [torch.zeros_like(p) for p in params]
        h_sum = [torch.zeros_like(p) for p in params]
        loss_sum = 0.0
        try:
            for _ in range(n_samples):
                with torch.no_grad():
                    for p, mu, sd in zip(params, mus, sigmas, strict=True):
                        p.copy_(mu + sd * torch.randn_like(mu))
                with torch.enable_grad():
                    loss = closure()
                    grads = torch.autograd.grad(loss, params, create_graph=hessian)
                    if hessian:
                        for hs, hd in zip(h_sum, hessian_diagonal(grads, params, probes), strict=True):
                            hs.add_(hd)
                for gs, g in zip(g_sum, grads, strict=True):
                    gs.add_(g.detach())
                loss_sum += float(loss.detach())
        finally:
            with torch.no_grad():
                for p, mu in zip(params, mus, strict=True):
                    p.copy_(mu)
        scale = 1.0 / n_samples
        return [g * scale for g in g_sum], [h * scale for h in h_sum], loss_sum * scale

    # --- the update ---------------------------------------------------------------------------
    @torch.no_grad()
    def step(
        self,
        closure: Callable[[], torch.Tensor] | None = None,
        hessian_diag: Sequence[torch.Tensor] | None = None,
    ) -> float | None:
        """One VAdam step (eqs. 17-18, or 13-14 for VON). See the module docstring for the two modes.

        Returns the mean closure loss over the Monte Carlo draws (closure mode), else None.
        """
        params = [p for group in self.param_groups for p in group["params"]]
        von = any(group["hessian"] == "von" for group in self.param_groups)
        loss = None
        if closure is not None:
            grads, hdiag, loss = self._sample_grads(closure, params, hessian=von)
            if hessian_diag is not None:
                hdiag = list(hessian_diag)
        else:
            grads = [p.grad for p in params]
            hdiag = list(hessian_diag) if hessian_diag is not None else [None] * len(params)
            if len(hdiag) != len(params):
                raise ValueError(f"hessian_diag has {len(hdiag)} tensors for {len(params)} parameters")
        by_param = {id(p): (g, h) for p, g, h in zip(params, grads, hdiag, strict=True)}

        for group in self.param_groups:
            beta, gamma = group["lr"], group["momentum"]
            rate = beta if group["s_rate"] is None else group["s_rate"]
            delta_t = group["prior_precision"] / group["num_data"]
            for p in group["params"]:
                g, h = by_param[id(p)]
                if g is None:
                    continue
                if group["hessian"] == "gm":
                    h = g * g  # eq. 15 / 18: gradient-magnitude approximation
                elif h is None:
                    raise ValueError("hessian='von' needs a closure or hessian_diag in step()")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["s"] = torch.full_like(p, group["init_s"])
                    state["mu_prev"] = p.detach().clone()  # μ_{-1} = μ_0: no momentum at t = 0
                s_old = state["s"]
                s_new = (1.0 - rate) * s_old + rate * h  # eq. 14 / 18
                mu = p.detach().clone()
                update = -beta * (g + delta_t * mu) / (s_new + delta_t)  # eq. 13 / 17, first line
                if gamma != 0.0:
                    update += gamma * (s_old + delta_t) / (s_new + delta_t) * (mu - state["mu_prev"])
                p.add_(update)
                state["mu_prev"] = mu
                state["s"] = s_new
                state["step"] += 1
        return loss


def hessian_diagonal(
    grads: Sequence[torch.Tensor], params: Sequence[torch.Tensor], probes: int = 0
) -> list[torch.Tensor]:
    """diag ∇²ℓ from Hessian-vector products.

    ``probes = 0``: exact, one product per coordinate (H e_i)_i; ``probes = k``: Hutchinson's
    unbiased estimate (1/k) Σ z ∘ Hz with Rademacher z.
    """
    params = list(params)
    diag = [torch.zeros_like(p) for p in params]
    if probes > 0:
        for _ in range(probes):
            zs = [torch.randint_like(p, 2) * 2 - 1 for p in params]
            hz = hessian_vector_product(grads, params, zs)
            for d, z, v in zip(diag, zs, hz, strict=True):
                if v is not None:
                    d.add_(z * v.detach() / probes)
        return diag
    for k, p in enumerate(params):
        flat = diag[k].view(-1)
        for i in range(p.numel()):
            es = [torch.zeros_like(q) for q in params]
            es[k].view(-1)[i] = 1.0
            hv = hessian_vector_product(grads, params, es)[k]
            flat[i] = 0.0 if hv is None else hv.detach().reshape(-1)[i]
    return diag


def sigma_from(s: torch.Tensor | float, prior_precision: float, num_data: int) -> torch.Tensor:
    """σ = 1/sqrt(N s + δ) as a free function (the formula of :meth:`VAdam.sigma`)."""
    s = torch.as_tensor(s, dtype=torch.get_default_dtype())
    return (num_data * s + prior_precision).rsqrt()


__all__ = ["VAdam", "hessian_diagonal", "hessian_vector_product", "sigma_from", "HESSIANS"]
