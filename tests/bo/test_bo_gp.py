"""GP surrogate and acquisition functions of the BO baseline: closed forms, Monte Carlo, ARD."""

import math

import pytest
import torch

from pyronas.bo.acquisition import (
    acquisition,
    expected_improvement,
    integrated_acquisition,
    probability_of_improvement,
    ucb_kappa,
    xi_schedule,
)
from pyronas.bo.gp import GPHypers, GPPosterior, GPPriors, Standardizer, default_hypers, fit_map, fit_nuts


def _kernel(A, B, h, kind):
    r2 = (((A[:, None, :] - B[None, :, :]) / h.lengthscale) ** 2).sum(-1)
    if kind == "se":
        return h.variance * torch.exp(-0.5 * r2)
    r = torch.sqrt(5.0 * r2)
    return h.variance * (1.0 + r + 5.0 * r2 / 3.0) * torch.exp(-r)


def _data(n=7, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g)
    y = torch.sin(4 * X[:, 0]) + 0.3 * X[:, 1]
    h = GPHypers(torch.tensor(0.2), torch.tensor(1.3), torch.tensor([0.4, 0.7])[:d], torch.tensor(0.05))
    return X, y, h


@pytest.mark.parametrize("kind", ["matern52", "se"])
def test_posterior_matches_closed_form(kind):
    X, y, h = _data()
    Xs = torch.rand(5, 2, generator=torch.Generator().manual_seed(1))
    k = "se" if kind == "se" else "m52"
    K = _kernel(X, X, h, k) + h.noise * torch.eye(len(X))
    Ks = _kernel(X, Xs, h, k)
    mu = h.mean + Ks.T @ torch.linalg.solve(K, y - h.mean)
    cov = _kernel(Xs, Xs, h, k) - Ks.T @ torch.linalg.solve(K, Ks)
    post = GPPosterior(X, y, h, kind)
    m, v = post.predict(Xs)
    assert torch.allclose(m, mu, atol=1e-4)
    assert torch.allclose(v, cov.diagonal(), atol=1e-4)
    m2, c2 = post.predict(Xs, full_cov=True, noiseless=False)
    assert torch.allclose(c2, cov + h.noise * torch.eye(5), atol=1e-4)
    # noisy incumbent = highest posterior mean at the evaluated points, not max(y)
    assert post.incumbent() == pytest.approx(float(post.predict(X)[0].max()), abs=1e-6)


def test_ei_pi_equal_monte_carlo():
    X, y, h = _data()
    post = GPPosterior(X, y, h)
    Xs = torch.rand(4, 2, generator=torch.Generator().manual_seed(2))
    mu, var = post.predict(Xs)
    f_best = post.incumbent()
    g = torch.Generator().manual_seed(3)
    f = mu + var.sqrt() * torch.randn(400_000, 4, generator=g)
    for xi in (0.0, 0.1):
        ei_mc = (f - f_best - xi).clamp_min(0).mean(0)
        pi_mc = (f > f_best + xi).float().mean(0)
        assert torch.allclose(expected_improvement(mu, var.sqrt(), f_best, xi), ei_mc, atol=3e-3)
        assert torch.allclose(probability_of_improvement(mu, var.sqrt(), f_best, xi), pi_mc, atol=3e-3)
        assert torch.allclose(acquisition(post, Xs, "ei", xi=xi), ei_mc, atol=3e-3)
    # zero variance: EI is the plain improvement
    z = torch.zeros(2)
    assert torch.equal(expected_improvement(torch.tensor([1.0, -1.0]), z, 0.5), torch.tensor([0.5, 0.0]))


def test_ucb_kappa_formula():
    t, d, delta, nu = 10, 30, 0.1, 0.5
    tau = 2 * math.log(t ** (d / 2 + 2) * math.pi**2 / (3 * delta))
    assert ucb_kappa(t, d, delta, nu) == pytest.approx(math.sqrt(nu * tau), rel=1e-10)
    assert ucb_kappa(20, d, delta) > ucb_kappa(10, d, delta) > ucb_kappa(10, d, 0.5)
    with pytest.raises(ValueError):
        ucb_kappa(0, d)
    assert xi_schedule(0.1, 1, 10, "decreasing") == pytest.approx(0.1)
    assert xi_schedule(0.1, 11, 10, "decreasing") == 0.0


def test_ard_switches_irrelevant_dimension_off():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(40, 3, generator=g)
    y = torch.sin(6 * X[:, 0]) + 0.5 * X[:, 1] + 0.01 * torch.randn(40, generator=g)
    init = default_hypers(3)
    init.lengthscale = torch.ones(3)  # all dims start equally relevant
    h, _ = fit_map(X, Standardizer.fit(y)(y), GPPriors(), "matern52", init=init, steps=300, lr=0.05)
    ls = h.lengthscale
    assert ls[2] > 10.0 and ls[2] > 10 * ls[0]
    assert ls[0] < ls[1] < ls[2]


def test_pending_fantasies_kill_ei_at_the_pending_point():
    X, y, h = _data()
    Xc = torch.tensor([[0.95, 0.95], [0.5, 0.05]])
    plain = integrated_acquisition(X, y, [h], Xc, "ei")
    g = torch.Generator().manual_seed(0)
    fant = integrated_acquisition(X, y, [h], Xc, "ei", pending=Xc[:1], n_fantasies=32, generator=g)
    assert plain[0] > 1e-3
    assert fant[0] < 0.2 * plain[0]
    # fantasies are joint draws from the posterior predictive
    post = GPPosterior(X, y, h)
    draws = post.sample_fantasies(Xc, 20_000, torch.Generator().manual_seed(1))
    mu, cov = post.predict(Xc, full_cov=True, noiseless=False)
    assert torch.allclose(draws.mean(0), mu, atol=0.03)
    assert torch.allclose(torch.cov(draws.T), cov, atol=0.03)


def test_nuts_samples_and_integrated_acquisition_is_their_average():
    X, y, _ = _data(n=10)
    torch.manual_seed(0)
    hs = fit_nuts(X, Standardizer.fit(y)(y), num_samples=4, warmup_steps=10, max_tree_depth=4)
    assert len(hs) == 4 and all(bool((h.lengthscale > 0).all()) and h.noise > 0 for h in hs)
    assert not torch.equal(hs[0].lengthscale, hs[-1].lengthscale)
    Xc = torch.rand(6, 2, generator=torch.Generator().manual_seed(5))
    ys = Standardizer.fit(y)(y)
    avg = integrated_acquisition(X, ys, hs, Xc, "pi", xi=0.05)
    each = torch.stack([acquisition(GPPosterior(X, ys, h), Xc, "pi", xi=0.05) for h in hs])
    assert torch.allclose(avg, each.mean(0), atol=1e-6)


def test_integrated_acquisition_defaults_are_plain_ei_and_ucb_with_kappa_2():
    """Without ``xi``/``kappa``, the (integrated) acquisition is plain EI (xi = 0) and UCB mu + 2 sigma, written
    out from the posterior's mean and variance."""
    X, y, h = _data()
    Xc = torch.rand(5, 2, generator=torch.Generator().manual_seed(4))
    post = GPPosterior(X, y, h)
    mu, var = post.predict(Xc)
    sigma = var.sqrt()
    z = (mu - post.incumbent()) / sigma
    normal = torch.distributions.Normal(0.0, 1.0)
    ei = (mu - post.incumbent()) * normal.cdf(z) + sigma * normal.log_prob(z).exp()
    assert torch.allclose(integrated_acquisition(X, y, [h], Xc, "ei"), ei, atol=1e-6)
    assert torch.allclose(integrated_acquisition(X, y, [h], Xc, "ucb"), mu + 2.0 * sigma, atol=1e-6)
    assert torch.allclose(acquisition(post, Xc, "ei"), ei, atol=1e-6)
    assert torch.allclose(acquisition(post, Xc, "ucb"), mu + 2.0 * sigma, atol=1e-6)


def test_unknown_acquisition_names_itself_and_the_known_ones():
    X, y, h = _data()
    with pytest.raises(ValueError, match=r"unknown acquisition 'lcb'; known: ei, pi, ucb"):
        acquisition(GPPosterior(X, y, h), X[:2], "lcb")
