"""Modes and a Laplace whitening of p(α | D), so NUTS sees an isotropic target from its first step.

The split-scaled α posterior is narrow (its likelihood is scaled to N images) and its directions
differ in width by orders of magnitude (a softmax α is invariant to a constant added per edge, so
only the prior fixes that direction). NUTS started on it with a unit mass matrix spends its warm-up
at the tree-depth cap. Here, in the prior's unconstrained space u (α itself for a real α, the
stick-breaking coordinates of θ for a Dirichlet prior), with potential

    U(u) = −log p(T(u)) − log|det ∂T/∂u| − log_likelihood(T(u)),

``find_modes`` runs a local optimiser from several dispersed starts (a multiple-start check: how
many distinct optima), ``laplace`` takes the Hessian H of U at a mode u*, and ``Whitening`` maps
z ∈ R^d to u = u* + L z with L Lᵀ = H⁻¹. The map is affine, so its Jacobian is a constant and the
z-posterior is the exact α posterior re-expressed: NUTS samples z (``whitened_model``) with a mass
matrix that is already about right, and dense adaptation corrects what the Laplace fit misses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions.transforms import biject_to

from pyronas.infer.program import ArchPrior

LogLikelihood = Callable[[dict[str, torch.Tensor]], torch.Tensor]
Z_SITE = "alpha/_z"


class Unconstrained:
    """The α sites of a prior flattened into one unconstrained vector u (kinds in ``arch_shapes`` order)."""

    def __init__(self, prior: ArchPrior):
        self.prior = prior
        self.kinds = list(prior.arch_shapes)
        self.transforms = {k: biject_to(prior.alpha_dist(k).support) for k in self.kinds}
        self.shapes = {k: self.transforms[k].inverse_shape(prior.alpha_dist(k).shape()) for k in self.kinds}
        self.sizes = [int(torch.Size(self.shapes[k]).numel()) for k in self.kinds]
        self.dim = sum(self.sizes)

    def to_alpha(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{kind: α}`` of u (``[..., d]`` → ``[..., edges, ops]``)."""
        parts = torch.split(u, self.sizes, dim=-1)
        lead = u.shape[:-1]
        pairs = zip(self.kinds, parts, strict=True)
        return {k: self.transforms[k](p.reshape(*lead, *self.shapes[k])) for k, p in pairs}

    def to_u(self, alpha: dict[str, torch.Tensor]) -> torch.Tensor:
        """u of ``{kind or alpha/kind: α}``."""
        vals = {k.removeprefix("alpha/"): v for k, v in alpha.items()}
        parts = [self.transforms[k].inv(vals[k]).reshape(-1) for k in self.kinds]
        return torch.cat(parts)

    def potential(self, log_likelihood: LogLikelihood, u: torch.Tensor) -> torch.Tensor:
        """U(u) = −log p(α) − log|det ∂α/∂u| − log_likelihood(α), α = T(u) (one u, shape [d])."""
        alpha = self.to_alpha(u)
        parts = torch.split(u, self.sizes)
        log_p = u.new_zeros(())
        for (k, a), p in zip(alpha.items(), parts, strict=True):
            t = self.transforms[k]
            log_p = log_p + self.prior.alpha_dist(k).log_prob(a).sum()
            log_p = log_p + t.log_abs_det_jacobian(p.reshape(self.shapes[k]), a).sum()
        return -(log_p + log_likelihood(alpha))


@dataclass
class Mode:
    """A local optimum u* of U, its potential, and the start it was reached from."""

    u: torch.Tensor
    potential: float
    start: int
    grad_norm: float = float("nan")


def find_modes(
    space: Unconstrained, log_likelihood: LogLikelihood, starts: list[torch.Tensor], steps: int = 100,
    rounds: int = 10, gtol: float = 1e-2,
) -> list[Mode]:
    """L-BFGS (strong Wolfe line search) on U from every start, ``rounds`` × ``steps`` iterations at
    most, until ‖∇U‖ < ``gtol``; the points reached (with their ‖∇U‖), lowest U first."""
    found = []
    for i, s in enumerate(starts):
        u = s.detach().clone().requires_grad_(True)
        opt = torch.optim.LBFGS([u], lr=1.0, max_iter=steps, history_size=50, line_search_fn="strong_wolfe",
                                tolerance_grad=gtol / 10, tolerance_change=1e-12)

        def closure(u: torch.Tensor = u, opt: torch.optim.Optimizer = opt) -> torch.Tensor:
            opt.zero_grad()
            loss = space.potential(log_likelihood, u)
            loss.backward()
            return loss

        for _ in range(rounds):
            opt.step(closure)
            if u.grad is not None and float(u.grad.norm()) < gtol:
                break
        v = u.detach().clone().requires_grad_(True)
        pot = space.potential(log_likelihood, v)
        (g,) = torch.autograd.grad(pot, v)
        found.append(Mode(v.detach(), float(pot.detach()), i, float(g.norm())))
    return sorted(found, key=lambda m: m.potential)


def distinct_modes(optima: list[Mode], whitening: Whitening, radius: float = 3.0, tol: float = 1.0) -> list[Mode]:
    """Group optima: one mode per group of optima within ``radius`` Laplace sds (z units of
    ``whitening``, the fit at the best optimum) and ``tol`` nats of each other. A count from a finite
    number of starts, not a proof that there are no other modes."""
    distinct: list[Mode] = []
    for m in optima:
        zm = whitening.to_z(m.u)
        if all((zm - whitening.to_z(d.u)).norm() > radius or abs(m.potential - d.potential) > tol for d in distinct):
            distinct.append(m)
    return distinct


@dataclass
class Whitening:
    """u = center + chol · z: the Laplace fit N(center, chol cholᵀ) of the posterior in u space."""

    space: Unconstrained
    center: torch.Tensor
    chol: torch.Tensor

    def to_u(self, z: torch.Tensor) -> torch.Tensor:
        """Whitened coordinates z to the unconstrained α vector u = c + L z."""
        return self.center + z @ self.chol.T

    def to_z(self, u: torch.Tensor) -> torch.Tensor:
        """The unconstrained α vector u to whitened coordinates z = L⁻¹ (u − c)."""
        return torch.linalg.solve_triangular(self.chol, (u - self.center).unsqueeze(-1), upper=False).squeeze(-1)

    def to_alpha(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Whitened coordinates z to α per cell kind."""
        return self.space.to_alpha(self.to_u(z))


def laplace(
    space: Unconstrained, log_likelihood: LogLikelihood, center: torch.Tensor, floor: float = 1.0
) -> Whitening:
    """The Laplace fit at ``center``: H = ∇²U(center), L = chol(H⁻¹). Eigenvalues of H below ``floor``
    (a ReLU network's potential is not convex everywhere) are raised to it: a direction is given at
    most the width 1/√floor (default 1, the width of a N(0, 1) prior), which dense mass adaptation
    then corrects."""
    h = torch.autograd.functional.hessian(lambda u: space.potential(log_likelihood, u), center.detach())
    h = 0.5 * (h + h.T)
    evals, evecs = torch.linalg.eigh(h.double())
    evals = evals.clamp_min(floor)
    cov = (evecs / evals) @ evecs.T
    chol = torch.linalg.cholesky(cov).to(center.dtype)
    return Whitening(space, center.detach(), chol)


def whitened_model(whitening: Whitening, log_likelihood: LogLikelihood) -> Callable[[], None]:
    """The α posterior in z coordinates: z ~ N(0, I) as a sampleable base, then
    ``pyro.factor(−U(u* + L z) + ½‖z‖²)``, which cancels the base: the density of z is exp(−U(u* + L z))."""
    d = whitening.space.dim

    def model() -> None:
        z = pyro.sample(Z_SITE, dist.Normal(torch.zeros(d), 1.0).to_event(1))
        u = whitening.to_u(z)
        pyro.factor("log_posterior", -whitening.space.potential(log_likelihood, u) + 0.5 * z.pow(2).sum())

    return model
