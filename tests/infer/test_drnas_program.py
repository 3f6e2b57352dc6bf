"""DrNAS as a Pyro program: Dirichlet prior/guide, pathwise gradients, L2 and KL anchors."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
import torch.nn.functional as F

from pyronas.infer.objectives import Objective, Schedule, TermSpec
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build

ETA = torch.tensor([[0.8, -0.5, 0.0, 1.5, -1.2], [0.1, 0.3, -0.2, 0.0, 2.0]])


def _program(space: str = "nb201", C: int = 4, layers: int = 1):
    torch.manual_seed(0)
    net = Supernet(get_space(space), C=C, layers=layers, in_channels=1, num_classes=3)
    prior = build("models", "dirichlet", {}, net, where="model")
    model = SupernetModel(net, prior)
    guide = build("guides", "dirichlet", {}, model, where="guide")
    return net, model, guide


def test_prior_and_guide_sites_have_the_documented_shapes():
    net, model, guide = _program()
    shape = net.arch_shapes()["cell"]
    p = model.prior.alpha_dist("cell")
    assert p.event_shape == shape and p.batch_shape == ()
    theta = p.sample()
    assert torch.allclose(theta.sum(-1), torch.ones(shape[0]))
    assert model.prior.to_weights(theta) is theta  # identity: θ is on the simplex
    q = guide.alpha_dist("cell")
    assert q.event_shape == shape and q.has_rsample
    assert not guide.supports_second_order
    # η ≈ 1e-3 N(0,1): β starts at the anchor
    assert guide.eta["cell"].abs().max() < 0.01
    assert torch.allclose(guide.beta("cell"), torch.ones(shape), atol=0.01)


def test_guide_monte_carlo_mean_converges_to_dirichlet_mean():
    _, _, guide = _program(layers=1)
    with torch.no_grad():
        guide.eta["cell"].copy_(torch.cat([ETA, ETA.flip(-1), ETA[:1] * 2, -ETA[:1]]))
    beta = F.elu(guide.eta["cell"]) + 1
    analytic = beta / beta.sum(-1, keepdim=True)
    assert torch.allclose(guide.op_probs()["cell"], analytic)
    torch.manual_seed(1)
    n = 40000
    draws = guide.sample_alpha(n)["cell"]
    mc = draws.mean(0)
    # standard error of a Dirichlet component: sqrt(m(1-m)/(β0+1)/n)
    se = (analytic * (1 - analytic) / (beta.sum(-1, keepdim=True) + 1) / n).sqrt()
    assert ((mc - analytic).abs() < 5 * se).all()
    # and the MC estimate is not trivially the analytic mean from a different distribution
    assert ((draws.mean(0) - 0.2).abs().max()) > 0.05


def test_pathwise_gradient_of_expected_theta_matches_analytic():
    """∂E[θ_i]/∂η_j by the pathwise (implicit reparameterisation) estimator vs
    ∂(β_i/Σβ)/∂η_j = (δ_ij/B − β_i/B²) · dβ_j/dη_j, dβ/dη = 1 (η>0) or e^η (η≤0)."""
    _, _, guide = _program()
    eta = ETA[0]
    beta = F.elu(eta) + 1
    B = beta.sum()
    dbeta = torch.where(eta > 0, torch.ones_like(eta), eta.exp())
    i = 3
    analytic = ((i == torch.arange(5)).float() / B - beta[i] / B**2) * dbeta
    torch.manual_seed(2)
    grads = []
    for _ in range(20):
        e = eta.clone().requires_grad_(True)
        theta = pyro.distributions.Dirichlet(F.elu(e) + 1).rsample((5000,))
        (g,) = torch.autograd.grad(theta[:, i].mean(), e)
        grads.append(g)
    grads = torch.stack(grads)
    est, se = grads.mean(0), grads.std(0) / math.sqrt(len(grads))
    assert ((est - analytic).abs() < 5 * se + 1e-4).all(), (est, analytic, se)
    # and the same through the guide's own site (one pathwise rsample per forward)
    with torch.no_grad():
        guide.eta["cell"].zero_()
        guide.eta["cell"][0] = eta
    tr = pyro.poutine.trace(guide).get_trace(None, None, 1)
    theta = tr.nodes["alpha/cell"]["value"]
    assert theta.shape == guide.eta["cell"].shape and theta.requires_grad
    (g,) = torch.autograd.grad(theta[0, i], guide.eta["cell"])
    assert g[0].abs().sum() > 0 and g[1:].abs().sum() == 0


def _batch():
    g = torch.Generator().manual_seed(3)
    return torch.randn(6, 1, 8, 8, generator=g), torch.randint(0, 3, (6,), generator=g)


def _manual_ce(model, guide, x, y, seed):
    """The expected-CE part by hand: the θ the guide draws under ``seed``, then the mean CE."""
    torch.manual_seed(seed)
    theta = guide.alpha_dist("cell").rsample()
    return F.cross_entropy(model.supernet(x, {"cell": theta}), y)


def test_l2_anchor_loss_is_ce_plus_half_lambda_eta_squared():
    net, model, guide = _program()
    net.eval()  # BN in eval mode (track=False: batch statistics either way); deterministic replays
    with torch.no_grad():
        guide.eta["cell"].copy_(torch.cat([ETA, ETA.flip(-1), ETA[:1] * 2, -ETA[:1]]))
    x, y = _batch()
    lam, n_data = 1e-3, 600
    l2 = Objective(pyro.infer.Trace_ELBO(), [TermSpec("l2_anchor", Schedule(lam))], {"alpha/": Schedule(0.0)})
    torch.manual_seed(7)
    loss, _ = l2.loss(model, guide, x, y, n_data)
    expected = _manual_ce(model, guide, x, y, 7) + 0.5 * lam * (guide.eta["cell"] ** 2).sum()
    assert torch.allclose(loss, expected, atol=1e-5), (loss, expected)
    # the gradient w.r.t. η contains the anchor's λη (the official code's Adam weight decay λ)
    (g_l2,) = torch.autograd.grad(loss, guide.eta["cell"])
    torch.manual_seed(7)
    (g_ce,) = torch.autograd.grad(_manual_ce(model, guide, x, y, 7), guide.eta["cell"])
    assert torch.allclose(g_l2 - g_ce, lam * guide.eta["cell"].detach(), atol=1e-6)


def _dirichlet_kl_to_uniform(beta: torch.Tensor) -> torch.Tensor:
    """KL(Dir(β) ‖ Dir(1)) = lnΓ(β0) − Σ lnΓ(β_o) − lnΓ(K) + Σ (β_o − 1)(ψ(β_o) − ψ(β0)), summed over edges."""
    b0 = beta.sum(-1)
    K = beta.shape[-1]
    kl = (
        torch.lgamma(b0)
        - torch.lgamma(beta).sum(-1)
        - math.lgamma(K)
        + ((beta - 1) * (torch.digamma(beta) - torch.digamma(b0).unsqueeze(-1))).sum(-1)
    )
    return kl.sum()


def test_kl_anchor_loss_is_ce_plus_dirichlet_kl_over_n():
    net, model, guide = _program()
    net.eval()
    with torch.no_grad():
        guide.eta["cell"].copy_(torch.cat([ETA, ETA.flip(-1), ETA[:1] * 2, -ETA[:1]]))
    x, y = _batch()
    n_data = 600
    kl_obj = Objective(pyro.infer.TraceMeanField_ELBO())
    torch.manual_seed(7)
    loss, _ = kl_obj.loss(model, guide, x, y, n_data)
    beta = guide.beta("cell").detach()
    kl = _dirichlet_kl_to_uniform(beta)
    assert kl > 0.1  # the hand-made η is far enough from the anchor for the check to bite
    expected = _manual_ce(model, guide, x, y, 7) + kl / n_data
    assert torch.allclose(loss, expected, atol=1e-5), (loss, expected)
    # at the anchor (η = 0 → β = 1) the KL vanishes
    with torch.no_grad():
        guide.eta["cell"].zero_()
    torch.manual_seed(7)
    loss0, _ = kl_obj.loss(model, guide, x, y, n_data)
    assert torch.allclose(loss0, _manual_ce(model, guide, x, y, 7), atol=1e-6)


def test_guide_prune_ops_keeps_the_chosen_columns():
    _, _, guide = _program()
    eta = guide.eta["cell"].detach().clone()
    keep = torch.tensor([[0, 2, 4]] * eta.shape[0])
    guide.prune_ops({"cell": keep})
    assert guide.arch_shapes["cell"] == (eta.shape[0], 3)
    assert torch.equal(guide.eta["cell"].detach(), eta[:, [0, 2, 4]])
    assert guide.alpha_dist("cell").event_shape == (eta.shape[0], 3)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_svi_loss_runs_and_backpropagates(space):
    net, model, guide = _program(space, C=4, layers=1 if space == "nb201" else 3)
    x, y = _batch()
    x = x.expand(-1, 1, -1, -1)
    obj = Objective(pyro.infer.Trace_ELBO(), [TermSpec("l2_anchor", Schedule(1e-3))], {"alpha/": Schedule(0.0)})
    loss, rec = obj.loss(model, guide, x, y, 100)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in guide.eta.values())
    assert rec.logits.shape == (6, 3)
