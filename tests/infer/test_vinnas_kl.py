"""LogUniform prior and the Molchanov KL registered for Pyro (VINNAS eq. 4-5)."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.distributions import kl_divergence

from pyronas.distributions import LogUniform, log_lambda, molchanov_kl


def test_log_prob_is_minus_log_abs_and_shaped_like_parameter():
    p = LogUniform((3, 4))
    w = torch.randn(3, 4)
    assert p.batch_shape == (3, 4) and p.event_shape == ()
    assert torch.allclose(p.log_prob(w), -w.abs().log())
    assert p.to_event(2).log_prob(w).shape == ()
    assert p.expand((5, 3, 4)).batch_shape == (5, 3, 4)
    with pytest.raises(NotImplementedError):
        p.sample()


def test_kl_nonnegative_decreasing_and_vanishing():
    ll = torch.linspace(-20, 20, 2001, dtype=torch.float64)
    kl = molchanov_kl(ll)
    assert (kl >= 0).all()
    assert (kl[1:] < kl[:-1]).all()
    assert kl[-1] < 1e-6
    # small λ: KL ≈ -½ log λ + const (the ½ log(1 + 1/λ) branch dominates)
    assert kl[0] == pytest.approx(10.0 + 0.63576, rel=1e-3)


@pytest.mark.parametrize("lam", [0.01, 0.1, 0.5, 1.0, 3.0])
def test_kl_matches_monte_carlo_up_to_constant(lam):
    """E_q[log q(w) + log|w|] by Monte Carlo, minus its λ → ∞ limit, equals the approximation."""
    gen = torch.Generator().manual_seed(0)
    eps = torch.randn(2_000_000, generator=gen, dtype=torch.float64)
    prior = LogUniform()

    def mc_kl(mu: float, sigma: float) -> float:
        q = dist.Normal(torch.tensor(mu, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64))
        w = mu + sigma * eps
        return (q.log_prob(w) - prior.log_prob(w)).mean().item()

    const = mc_kl(0.0, 1.0)  # λ = ∞, where the approximation is 0
    sigma = 0.7
    mu = sigma / math.sqrt(lam)
    mc = mc_kl(mu, sigma) - const
    approx = molchanov_kl(torch.tensor(math.log(lam), dtype=torch.float64)).item()
    assert approx == pytest.approx(mc, rel=0.04, abs=0.01)


def test_registered_kl_elementwise_and_through_independent():
    loc, scale = torch.randn(3, 4), torch.rand(3, 4) + 0.1
    q = dist.Normal(loc, scale)
    expect = molchanov_kl(log_lambda(loc, scale))
    assert torch.allclose(kl_divergence(q, LogUniform((3, 4))), expect)
    assert torch.allclose(kl_divergence(q.to_event(2), LogUniform((3, 4)).to_event(2)), expect.sum())


def test_trace_meanfield_elbo_uses_analytic_kl_scaled_by_poutine_scale():
    loc, scale = torch.randn(5, 2), torch.rand(5, 2) + 0.1

    def model():
        with pyro.poutine.scale(scale=0.3):
            pyro.sample("w/x", LogUniform((5, 2)).to_event(2))

    def guide():
        with pyro.poutine.scale(scale=0.3):
            pyro.sample("w/x", dist.Normal(loc, scale).to_event(2))

    loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, guide)
    assert loss.item() == pytest.approx(0.3 * molchanov_kl(log_lambda(loc, scale)).sum().item(), rel=1e-5)
