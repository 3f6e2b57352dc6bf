"""Variational dropout weights: local reparameterisation as an effect handler, pruning, counts."""

import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.distributions import molchanov_kl
from pyronas.nn.bayesian import (
    LocalReparameterization,
    NormalWeights,
    bayesian_parameters,
    sparsity,
    weight_sites_prior,
)


def _moments_match(lrt: torch.Tensor, direct: torch.Tensor, n: int) -> None:
    """Per-unit mean and variance agree within ~5 standard errors."""
    m1, m2 = lrt.mean(0), direct.mean(0)
    v1, v2 = lrt.var(0), direct.var(0)
    se_mean = (v2 / n).sqrt()
    assert ((m1 - m2).abs() < 5 * se_mean * 2**0.5 + 1e-6).all()
    # var of the sample variance ≈ 2σ⁴/(n-1) for Gaussian outputs
    se_var = v2 * (2 / (n - 1)) ** 0.5
    assert ((v1 - v2).abs() < 5 * se_var * 2**0.5 + 1e-6).all()
    assert (v1 > 0).all()


def test_lrt_linear_matches_weight_sampling():
    gen = torch.manual_seed(0)
    n = 20000
    x = torch.randn(1, 6)
    loc, scale = torch.randn(3, 6), 0.5 * torch.rand(3, 6) + 0.1
    with LocalReparameterization():
        w = pyro.sample("w/weight", dist.Normal(loc, scale).to_event(2))
        lrt = F.linear(x.expand(n, 6), w)
    ws = dist.Normal(loc, scale).sample((n,))  # direct: one weight draw per example
    direct = torch.einsum("ni,noi->no", x.expand(n, 6), ws)
    assert not torch.allclose(lrt, F.linear(x.expand(n, 6), w))
    _moments_match(lrt, direct, n)
    del gen


@pytest.mark.parametrize("groups", [1, 4])
def test_lrt_conv2d_matches_weight_sampling(groups):
    torch.manual_seed(1)
    n = 4000
    conv = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=groups, bias=False)
    x = torch.randn(1, 4, 5, 5)
    loc = torch.randn_like(conv.weight)
    scale = 0.3 * torch.rand_like(loc) + 0.05
    with LocalReparameterization():
        w = pyro.sample("w/weight", dist.Normal(loc, scale).to_event(4))
        lrt = torch.func.functional_call(conv, {"weight": w}, (x.expand(n, -1, -1, -1),))
    ws = dist.Normal(loc, scale).sample((n,))
    direct = torch.stack([F.conv2d(x, ws[i], None, 1, 2, 2, groups)[0] for i in range(n)])
    _moments_match(lrt.flatten(1), direct.flatten(1), n)


def test_handler_leaves_other_weights_alone_and_restores_functions():
    x, w = torch.randn(2, 3), torch.randn(4, 3)
    lin, conv = F.linear, F.conv2d
    with LocalReparameterization():
        v = pyro.sample("w/a", dist.Normal(torch.zeros(4, 3), 1.0).to_event(2))
        b = pyro.sample("other", dist.Normal(torch.zeros(4, 3), 1.0).to_event(2))  # not a w/ site
        assert torch.equal(F.linear(x, w), x @ w.T)
        assert torch.allclose(F.linear(x, b), x @ b.T)
        assert not torch.allclose(F.linear(x, v), x @ v.T)
    assert F.linear is lin and F.conv2d is conv


def test_lrt_gradients_reach_loc_and_log_sigma2():
    lin = nn.Linear(5, 2)
    q = NormalWeights(bayesian_parameters(lin))
    with LocalReparameterization():
        w = q.sample()
        out = torch.func.functional_call(lin, w, (torch.randn(8, 5),))
    out.pow(2).sum().backward()
    assert q.loc["weight"].grad.abs().sum() > 0
    assert q.log_sigma2["weight"].grad.abs().sum() > 0


def test_normal_weights_init_and_meanfield_elbo():
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    params = bayesian_parameters(net)
    assert set(params) == {"0.weight", "2.weight"}
    q = NormalWeights(params)
    bound = (6 / (1 * 9 + 3 * 9)) ** 0.5
    assert q.loc["0-weight"].abs().max() <= bound
    assert torch.allclose(q.log_sigma2["2-weight"], torch.tensor(-10.0))
    shapes = {k: p.shape for k, p in params.items()}
    x, y = torch.randn(6, 1, 6, 6), torch.randint(0, 2, (6,))

    def model():
        w = weight_sites_prior(shapes)
        logits = torch.func.functional_call(net, w, (x,))
        with pyro.plate("data", 6):
            pyro.sample("y", dist.Categorical(logits=logits), obs=y)

    with LocalReparameterization():
        loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, q.sample)
    kl = sum(molchanov_kl(q.log_lambda(n)).sum() for n in params)
    nll_bound = loss - kl  # the data term is a cross-entropy sum: positive
    assert nll_bound > 0 and nll_bound < 6 * 10


def test_pruning_at_log_lambda_3_zeroes_exactly_those_and_counts():
    lin = nn.Linear(4, 3)
    q = NormalWeights(bayesian_parameters(lin))
    with torch.no_grad():
        q.loc["weight"].fill_(1.0)  # log μ² = 0, so log λ = log σ²
        ls2 = torch.tensor([[-10.0, 2.9, 3.0, 3.1], [5.0, -1.0, 0.0, 2.99], [3.0, 3.0, -20.0, 10.0]])
        q.log_sigma2["weight"].copy_(ls2)
    keep = q.keep_masks()["weight"]
    assert torch.equal(keep, ls2 < 3.0)
    pruned = q.pruned_means()["weight"]
    assert torch.equal(pruned == 0, ls2 >= 3.0)
    s = sparsity(q)
    assert (s.kept, s.total) == (int((ls2 < 3).sum()), 12) == (6, 12)
    s_net = sparsity(q, lin)  # + 3 bias parameters, deterministic
    assert (s_net.kept, s_net.total) == (9, 15)
    assert sparsity(q, threshold=100.0).kept == 12
