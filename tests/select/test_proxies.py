"""Training-free proxies (BaLeNAS eq. 8): SNIP by hand, GraSP's Hvp vs finite differences, SynFlow invariances."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pyronas.nn.spaces import Genotype, get_space
from pyronas.select.proxies import best_of, grasp, grasp_hessian_gradient, score_genotype, snip, synflow, zero_cost_nas


def _two_layer(act: nn.Module, dtype=torch.float32) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), act, nn.Linear(5, 3)).to(dtype)


def test_snip_equals_hand_computed_gradient_times_weight():
    net = _two_layer(nn.ReLU(), torch.float64)
    x, y = torch.randn(7, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    W1, b1, W2, b2 = (p.detach() for p in net.parameters())
    pre = x @ W1.T + b1
    h = pre.clamp_min(0)
    logits = h @ W2.T + b2
    d_logits = (logits.softmax(-1) - F.one_hot(y, 3)) / x.shape[0]
    dW2 = d_logits.T @ h
    dW1 = ((d_logits @ W2) * (pre > 0)).T @ x
    expected = (dW1 * W1).abs().sum() + (dW2 * W2).abs().sum()
    assert snip(net, x, y) == pytest.approx(float(expected), rel=1e-10)
    assert net.training  # mode restored, parameters untouched
    assert all(p.grad is None for p in net.parameters())


def test_grasp_hessian_vector_product_matches_finite_differences():
    net = _two_layer(nn.Tanh(), torch.float64)
    x, y = torch.randn(9, 4, dtype=torch.float64), torch.randint(0, 3, (9,))
    params, hg = grasp_hessian_gradient(net, x, y)
    assert len(params) == 2  # the two weight matrices

    def grad_at(shift: float, direction: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            for p, d in zip(params, direction, strict=True):
                p.add_(shift * d)
        g = torch.autograd.grad(F.cross_entropy(net(x), y), params)
        with torch.no_grad():
            for p, d in zip(params, direction, strict=True):
                p.sub_(shift * d)
        return g

    g = [t.detach() for t in grad_at(0.0, [torch.zeros_like(p) for p in params])]
    eps = 1e-5
    fd = [(a - b) / (2 * eps) for a, b in zip(grad_at(eps, g), grad_at(-eps, g), strict=True)]
    for a, b in zip(hg, fd, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-10)
    expected = -sum((h * p.detach()).sum() for h, p in zip(fd, params, strict=True))
    assert grasp(net, x, y) == pytest.approx(float(expected), rel=1e-5)


def _conv_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 3),
    )


def test_synflow_is_data_agnostic_and_rescaling_invariant():
    net = _conv_net()
    before = [p.detach().clone() for p in net.parameters()]
    x1, x2 = torch.randn(5, 1, 8, 8), 100 * torch.rand(2, 1, 8, 8)
    s = synflow(net, x1)
    assert s > 0
    assert synflow(net, x2, torch.zeros(2)) == pytest.approx(s, rel=1e-12)
    # the network is untouched (signs, dtype, BatchNorm)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert isinstance(net[1], nn.BatchNorm2d) and net[0].weight.dtype == torch.float32

    c = 7.0
    with torch.no_grad():  # layer l (conv 1, its bias too) by c, layer l + 1 by 1/c; flip signs too
        net[0].weight.mul_(-c)
        net[0].bias.mul_(c)
        net[3].weight.div_(c)
    assert synflow(net, x1) == pytest.approx(s, rel=1e-6)  # float32 weights: rounding only
    with torch.no_grad():  # but rescaling one layer alone changes it
        net[3].weight.mul_(c)
    assert synflow(net, x1) != pytest.approx(s, rel=1e-3)


def test_synflow_closed_form_on_bias_free_linear_net():
    """R_SF = 1ᵀ|W3||W2||W1|1 is degree-1 homogeneous in each layer, so Σ_θ θ ∂R/∂θ = L · R."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Linear(5, 6, bias=False), nn.Linear(6, 3, bias=False))
    W1, W2, W3 = (p.detach().double().abs() for p in net.parameters())
    r = (W3 @ W2 @ W1 @ torch.ones(4, dtype=torch.float64)).sum()
    assert synflow(net, torch.randn(2, 4)) == pytest.approx(3 * float(r), rel=1e-12)


def test_proxies_score_discrete_networks_of_the_space():
    space = get_space("nb201")
    edges = space.edges
    convs = Genotype.from_nb201_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    nothing = Genotype("nb201", {"cell": [("none", i, j) for i, j in edges]}, convs.concat)
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,))
    kw = dict(C=4, layers=1, num_classes=3)
    for name in ("snip", "grasp", "synflow"):
        value = score_genotype(convs, name, x, y, **kw)
        assert torch.isfinite(torch.tensor(value))
        assert score_genotype(convs, name, x, y, **kw) == value  # seeded initialisation
    assert score_genotype(convs, "synflow", x, y, **kw) > score_genotype(nothing, "synflow", x, y, **kw)
    with pytest.raises(ValueError, match="unknown proxy"):
        score_genotype(convs, "jacov", x, y, **kw)


def test_zero_cost_nas_returns_the_best_random_architecture():
    space = get_space("nb201")

    def n_convs(g: Genotype) -> float:
        return sum(op.startswith("nor_conv") for op, _, _ in g.cells["cell"])

    best, genotypes, scores = zero_cost_nas(space, n_convs, num_samples=20, generator=torch.Generator().manual_seed(0))
    assert len(genotypes) == 20 and len({str(g) for g in genotypes}) > 10
    assert n_convs(best) == max(scores) and best in genotypes
    assert best_of(genotypes, n_convs)[0] is genotypes[scores.index(max(scores))]
