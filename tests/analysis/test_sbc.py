"""Simulation-based calibration: exact posteriors and NUTS pass, deliberately wrong posteriors are rejected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyronas.analysis.sbc import MixingProblem, exact_sampler, nuts_sampler, sbc_ranks, uniformity


def test_closed_form_posterior_is_exact():
    """The linear problem's closed form against a brute-force importance estimate of its mean."""
    problem = MixingProblem(edges=2, ops=2, n=6, linear=True, seed=3)
    truth, y = problem.simulate(0)
    mean, cov = problem.exact_posterior(y)
    a = torch.randn(200_000, 2, 2, generator=torch.Generator().manual_seed(0))  # prior draws, δ = 1
    lw = torch.distributions.Normal(problem.mean(a), problem.noise).log_prob(y).sum(-1)
    w = torch.softmax(lw.double(), 0)
    assert torch.allclose((w[:, None] * a.reshape(-1, 4).double()).sum(0).float(), mean, atol=0.03)
    assert torch.all(cov.diagonal() > 0)


def test_sbc_passes_the_exact_posterior_and_rejects_wrong_ones():
    problem = MixingProblem(edges=2, ops=3, n=8, linear=True)
    exact = uniformity(sbc_ranks(problem, exact_sampler(), 150, 19), 19)
    assert exact.passed, exact.p_values
    narrow = uniformity(sbc_ranks(problem, exact_sampler(scale=0.5), 150, 19), 19)
    shifted = uniformity(sbc_ranks(problem, exact_sampler(shift=0.75), 150, 19), 19)
    wide = sbc_ranks(problem, exact_sampler(scale=2.0), 150, 19)
    assert not narrow.passed and not shifted.passed and not uniformity(wide, 19).passed
    # the shapes Talts et al. describe: ∪ for too narrow, ∩ for too wide
    ends = lambda r: np.isin(r, [0, 19]).mean()  # noqa: E731
    assert ends(sbc_ranks(problem, exact_sampler(scale=0.5), 100, 19)) > 0.3 > 0.02 > ends(wide)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize(
    "simulations, warmup, draws, num_ranks",
    [(16, 40, 40, 4), pytest.param(40, 60, 60, 9, marks=pytest.mark.slow)],
)
def test_nuts_passes_sbc_on_the_softmax_mixing_problem(simulations, warmup, draws, num_ranks):
    """Tiny runs (16 or 40 simulations: a weak test, it only catches a grossly wrong sampler);
    scripts/bench/sbc.py runs the full one."""
    problem = MixingProblem(edges=2, ops=2, n=8, noise=0.3)
    ranks = sbc_ranks(problem, nuts_sampler(warmup, draws, max_tree_depth=4), simulations, num_ranks)
    result = uniformity(ranks, num_ranks)
    assert result.passed, result.p_values
    assert ranks.shape == (simulations, 4) and ranks.min() >= 0 and ranks.max() <= num_ranks
