"""Thompson sampling: a joint posterior draw over a shortlist of candidates (``pyronas.bo.acquisition``)."""

import pytest
import torch

from pyronas.bo.acquisition import integrated_acquisition, thompson_draw
from pyronas.bo.config import BOConfig
from pyronas.bo.gp import GPHypers, GPPosterior
from pyronas.errors import ConfigError


def _posterior():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(8, 3, generator=g, dtype=torch.float64)
    y = torch.sin(3 * X.sum(1))
    h = GPHypers(torch.tensor(0.0), torch.tensor(1.0), torch.full((3,), 0.5), torch.tensor(1e-2))
    return GPPosterior(X.float(), y.float(), h, "se"), torch.rand(6, 3, generator=g)


def test_draws_have_the_posterior_mean_and_covariance():
    """Monte Carlo reference: 20,000 joint draws over all candidates match the closed-form posterior."""
    post, Xc = _posterior()
    g = torch.Generator().manual_seed(1)
    draws = torch.stack([thompson_draw(post, Xc, shortlist=6, generator=g) for _ in range(20_000)]).double()
    mu, cov = post.predict(Xc, full_cov=True)
    assert torch.allclose(draws.mean(0), mu.double(), atol=4 * float(cov.diagonal().max().sqrt()) / 141 + 1e-3)
    emp = torch.cov(draws.T)
    assert torch.allclose(emp, cov.double(), atol=0.05 * float(cov.diagonal().max()) + 1e-4)


def test_the_shortlist_is_the_highest_upper_bounds_and_the_rest_is_minus_infinity():
    post, Xc = _posterior()
    mu, var = post.predict(Xc)
    top = set(torch.topk(mu + 3 * var.sqrt(), 2).indices.tolist())
    a = thompson_draw(post, Xc, shortlist=2, generator=torch.Generator().manual_seed(0))
    assert {i for i in range(6) if torch.isfinite(a[i])} == top


def test_integrated_ts_is_one_draw_under_one_hyperparameter_sample():
    post, Xc = _posterior()
    flat = GPHypers(torch.tensor(0.0), torch.tensor(1e-8), torch.full((3,), 0.5), torch.tensor(1e-2))
    # a near-zero amplitude: the draw is the constant mean 0; the other sample's draw is not
    a = integrated_acquisition(post.X, post.y, [flat], Xc, "ts", kernel="se", generator=torch.Generator())
    assert torch.allclose(a, torch.zeros(6), atol=1e-3)
    b = integrated_acquisition(post.X, post.y, [post.hypers], Xc, "ts", kernel="se", generator=torch.Generator())
    assert not torch.allclose(b, torch.zeros(6), atol=1e-2)
    with pytest.raises(ConfigError, match="bo.ts_shortlist"):
        BOConfig(acquisition="ts", ts_shortlist=0)
