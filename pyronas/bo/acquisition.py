"""Acquisition functions of Bayesian optimisation (maximisation), integrated over GP hyperparameters
and over fantasised outcomes of pending evaluations.

With the GP posterior ``f(x) ~ N(mu(x), sigma(x)^2)`` and the incumbent value ``f(x+)``:

- PI (Kushner 1964, with trade-off xi):  ``PI(x) = Phi(Z)``,  ``Z = (mu(x) - f(x+) - xi) / sigma(x)``;
- EI (Mockus 1978, Jones 1998, Lizotte's xi): ``EI(x) = (mu(x) - f(x+) - xi) Phi(Z) + sigma(x) phi(Z)``
  (0 where ``sigma(x) = 0``);
- GP-UCB (Srinivas et al. 2010): ``UCB(x) = mu(x) + kappa_t sigma(x)``, ``kappa_t = sqrt(nu tau_t)``,
  ``tau_t = 2 log(t^(d/2 + 2) pi^2 / (3 delta))``;
- Thompson sampling (Thompson 1933; Kandasamy et al. 2018 for BO): the argmax of one joint draw
  ``f ~ p(f | data)`` over the candidates. The draw is exact on a shortlist, the ``M`` candidates with the highest
  ``mu + 3 sigma``; a candidate outside it would need a draw above its own mean + 3 sd *and* above every
  shortlisted draw, so it is left out (value ``-inf``).

Noisy observations: the incumbent ``f(x+)`` is the highest posterior mean over the evaluated points.
Hyperparameter uncertainty: the integrated acquisition ``a(x) = (1/S) sum_s a(x; theta_s)`` over posterior
samples ``theta_s`` (Snoek et al. 2012). Pending evaluations ``X_p``: EI averaged over joint fantasies
``y_p ~ p(y_p | X_p, data, theta_s)``, each conditioning the GP on the fantasised data (Snoek et al. 2012).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from pyronas.bo.gp import GPHypers, GPPosterior

_NORMAL = torch.distributions.Normal(0.0, 1.0)


def probability_of_improvement(mu: torch.Tensor, sigma: torch.Tensor, f_best: float, xi: float = 0.0) -> torch.Tensor:
    """``PI(x) = Phi((mu - f(x+) - xi) / sigma)``; at ``sigma = 0`` the indicator ``mu > f(x+) + xi``."""
    gain = mu - f_best - xi
    safe = sigma.clamp_min(1e-12)
    return torch.where(sigma > 1e-12, _NORMAL.cdf(gain / safe), (gain > 0).to(mu.dtype))


def expected_improvement(mu: torch.Tensor, sigma: torch.Tensor, f_best: float, xi: float = 0.0) -> torch.Tensor:
    """Closed-form ``EI(x) = (mu - f(x+) - xi) Phi(Z) + sigma phi(Z)``; ``max(gain, 0)`` at ``sigma = 0``."""
    gain = mu - f_best - xi
    safe = sigma.clamp_min(1e-12)
    z = gain / safe
    ei = gain * _NORMAL.cdf(z) + safe * _NORMAL.log_prob(z).exp()
    return torch.where(sigma > 1e-12, ei.clamp_min(0.0), gain.clamp_min(0.0))


def ucb_kappa(t: int, d: int, delta: float = 0.1, nu: float = 1.0) -> float:
    """``kappa_t = sqrt(nu tau_t)``, ``tau_t = 2 log(t^(d/2+2) pi^2 / (3 delta))`` (Srinivas et al. 2010)."""
    if t < 1 or not 0.0 < delta < 1.0:
        raise ValueError(f"GP-UCB needs t >= 1 and 0 < delta < 1, got t={t}, delta={delta}")
    tau = 2.0 * ((d / 2.0 + 2.0) * math.log(t) + math.log(math.pi**2 / (3.0 * delta)))
    return math.sqrt(nu * tau)


def upper_confidence_bound(mu: torch.Tensor, sigma: torch.Tensor, kappa: float) -> torch.Tensor:
    """``UCB(x) = mu(x) + kappa sigma(x)``."""
    return mu + kappa * sigma


def thompson_draw(
    post: GPPosterior, Xc: torch.Tensor, shortlist: int = 1000, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One joint posterior draw of the latent ``f`` at the ``shortlist`` candidates with the highest
    ``mu + 3 sigma`` (``-inf`` elsewhere): its argmax is the Thompson-sampling proposal."""
    mu, var = post.predict(Xc)
    keep = torch.topk(mu + 3.0 * var.sqrt(), min(shortlist, Xc.shape[0])).indices
    m, cov = post.predict(Xc[keep], full_cov=True)
    eye = torch.eye(keep.numel(), dtype=cov.dtype)
    scale = float(cov.diagonal().mean().clamp_min(1e-12))
    for jitter in GPPosterior.JITTERS:  # the posterior's ladder, here relative to the mean variance
        L, info = torch.linalg.cholesky_ex(cov + jitter * scale * eye)
        if int(info) == 0:
            break
    else:
        raise torch.linalg.LinAlgError("Thompson draw: the shortlist's posterior covariance is not positive definite")
    z = torch.randn(keep.numel(), generator=generator, dtype=cov.dtype)
    out = torch.full((Xc.shape[0],), -float("inf"), dtype=mu.dtype)
    out[keep] = m + L @ z
    return out


def xi_schedule(xi: float, t: int, budget: int, schedule: str = "constant") -> float:
    """Trade-off ``xi_t``: constant, or Kushner's decreasing schedule (linear from ``xi`` to 0 over the budget)."""
    if schedule == "constant":
        return xi
    if schedule == "decreasing":
        return xi * max(0.0, 1.0 - (t - 1) / max(budget, 1))
    raise ValueError(f"unknown xi schedule {schedule!r}; known: constant, decreasing")


def acquisition(
    post: GPPosterior, Xc: torch.Tensor, kind: str, *, xi: float = 0.0, kappa: float = 2.0
) -> torch.Tensor:
    """One acquisition function ``kind`` in {ei, pi, ucb} under one GP posterior, at candidates ``Xc``."""
    mu, var = post.predict(Xc)
    sigma = var.sqrt()
    if kind == "ucb":
        return upper_confidence_bound(mu, sigma, kappa)
    f_best = post.incumbent()
    if kind == "ei":
        return expected_improvement(mu, sigma, f_best, xi)
    if kind == "pi":
        return probability_of_improvement(mu, sigma, f_best, xi)
    raise ValueError(f"unknown acquisition {kind!r}; known: ei, pi, ucb (ts: integrated_acquisition)")


def integrated_acquisition(
    X: torch.Tensor,
    y: torch.Tensor,
    hypers: Sequence[GPHypers],
    Xc: torch.Tensor,
    kind: str = "ei",
    *,
    kernel: str = "matern52",
    xi: float = 0.0,
    kappa: float = 2.0,
    pending: torch.Tensor | None = None,
    n_fantasies: int = 10,
    generator: torch.Generator | None = None,
    shortlist: int = 1000,
) -> torch.Tensor:
    """Monte Carlo average of the acquisition over hyperparameter samples and pending-point fantasies.

    ``a(x) = 1/(S F) sum_s sum_f a(x | data + (X_p, y_p^(s,f)), theta_s)`` with ``y_p^(s,f)`` drawn jointly from
    the posterior predictive under ``theta_s``; without pending points ``F = 1`` and nothing is fantasised.
    Thompson sampling (``ts``) is not averaged: one joint draw under one hyperparameter sample ``theta_s``
    (``s`` uniform), pending points ignored (the caller excludes them and the batch's earlier picks).
    """
    if kind == "ts":
        s = int(torch.randint(len(hypers), (1,), generator=generator))
        return thompson_draw(GPPosterior(X, y, hypers[s], kernel), Xc, shortlist, generator)
    total = torch.zeros(Xc.shape[0])
    count = 0
    for h in hypers:
        post = GPPosterior(X, y, h, kernel)
        if pending is None or pending.shape[0] == 0:
            total += acquisition(post, Xc, kind, xi=xi, kappa=kappa)
            count += 1
            continue
        fantasies = post.sample_fantasies(pending, n_fantasies, generator)
        for yp in fantasies:
            total += acquisition(post.condition(pending, yp), Xc, kind, xi=xi, kappa=kappa)
            count += 1
    return total / count
