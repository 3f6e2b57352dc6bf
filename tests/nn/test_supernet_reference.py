"""Supernet, likelihood and schedule maths against hand-written references (public behaviour only)."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
import torch.nn.functional as F

from pyronas.config import OptimConfig
from pyronas.distributions import SmoothedCategorical
from pyronas.infer.objectives import Objective
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import MixedOp, Supernet
from pyronas.optim.factory import lr_at
from pyronas.registry import build


def test_none_on_every_edge_leaves_only_the_classifier_bias():
    """NB201 with one-hot ``none`` everywhere: every cell outputs zeros, so does everything after it
    (conv of 0, batch-norm of a constant 0 with zero shift), and the logits are the classifier bias."""
    space = get_space("nb201")
    torch.manual_seed(0)
    net = Supernet(space, 4, 1, 3, 5)
    with torch.no_grad():
        net.classifier.bias.copy_(torch.randn(5))
    w = F.one_hot(torch.full((6,), space.ops.index("none")), len(space.ops)).float()
    logits = net(torch.randn(3, 3, 8, 8), {"cell": w})
    assert torch.allclose(logits, net.classifier.bias.detach().expand(3, 5), atol=1e-6)
    # a skip from the cell input (edge 0 -> 3) does change the logits
    w2 = w.clone()
    w2[3] = F.one_hot(torch.tensor(space.ops.index("skip_connect")), len(space.ops)).float()
    assert not torch.allclose(net(torch.randn(3, 3, 8, 8), {"cell": w2}), logits, atol=1e-3)


@pytest.mark.parametrize("stride", [1, 2])
def test_one_hot_mixed_op_is_that_op_alone(stride):
    ops = list(get_space("darts").ops)
    torch.manual_seed(1)
    mixed = MixedOp(ops, 4, stride)
    x = torch.randn(2, 4, 8, 8)
    for k in range(len(ops)):
        alone = torch.zeros(len(ops))
        alone[k] = 1.0
        # the same op once more, with every other weight 0: a pruned MixedOp of op k only
        single = MixedOp([ops[k]], 4, stride)
        single.ops[0].load_state_dict(mixed.ops[k].state_dict())
        assert torch.allclose(mixed(x, alone), single(x, torch.ones(1)), atol=1e-6), ops[k]


@pytest.mark.parametrize("stride,size", [(1, 8), (2, 8), (2, 7)])
def test_partial_channels_two_is_the_pc_darts_construction(stride, size):
    """K = 2 (PC-DARTS; DrNAS sec. 2.4): split the channels in halves, mix the ops on the first half,
    pass the second half through (max-pooled 2x2 on a stride-2 edge), concatenate, shuffle channels
    with 2 groups: output channel 2i is mixed-op channel i, channel 2i+1 is bypass channel i."""
    ops = list(get_space("darts").ops)
    torch.manual_seed(2)
    pc = MixedOp(ops, 8, stride, partial_channels=2)
    full = MixedOp(ops, 4, stride)  # the same ops on 4 channels, sharing pc's parameters
    full.load_state_dict(pc.state_dict())
    x, w = torch.randn(2, 8, size, size), torch.softmax(torch.randn(len(ops)), 0)
    xa, xb = x[:, :4], x[:, 4:]
    mixed = full(xa, w)
    # an odd map: the stride-2 ops give ceil(size / 2), so the bypass pools with ceil_mode
    bypass = F.max_pool2d(xb, 2, 2, ceil_mode=size % 2 == 1) if stride == 2 else xb
    assert bypass.shape[2:] == mixed.shape[2:] == ((size + 1) // 2 if stride == 2 else size,) * 2
    expected = torch.empty(2, 8, *mixed.shape[2:])
    expected[:, 0::2] = mixed
    expected[:, 1::2] = bypass
    assert torch.allclose(pc(x, w), expected, atol=1e-6)


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_label_smoothed_likelihood_is_torch_label_smoothed_cross_entropy(eps):
    torch.manual_seed(3)
    logits, y = 3 * torch.randn(7, 5), torch.randint(0, 5, (7,))
    log_lik = SmoothedCategorical(logits=logits, epsilon=eps).log_prob(y)
    assert torch.allclose(-log_lik.mean(), F.cross_entropy(logits, y, label_smoothing=eps), atol=1e-6)
    per_example = F.cross_entropy(logits, y, label_smoothing=eps, reduction="none")
    assert torch.allclose(-log_lik, per_example, atol=1e-6)


def test_model_label_smoothing_gives_the_smoothed_cross_entropy_per_datum():
    """Point-mass guide + flat prior + ``label_smoothing`` ε: the per-datum loss is torch's label-smoothed
    cross-entropy of the supernet at softmax α̂."""
    torch.manual_seed(4)
    net = Supernet(get_space("nb201"), 4, 1, 1, 3)
    model = SupernetModel(net, build("models", "flat", {}, net, where="m"), label_smoothing=0.2)
    guide = build("guides", "delta", {}, model, where="g")
    x, y = torch.randn(5, 1, 8, 8), torch.randint(0, 3, (5,))
    loss, _ = Objective(pyro.infer.Trace_ELBO()).loss(model, guide, x, y, 40)
    logits = net(x, {"cell": torch.softmax(guide.alpha["cell"], -1)})
    assert torch.allclose(loss, F.cross_entropy(logits, y, label_smoothing=0.2), atol=1e-5)


def test_cosine_lr_at_is_the_closed_form_and_torch_cosine_annealing():
    cfg = OptimConfig(name="sgd", lr=0.025, lr_min=0.001, schedule="cosine")
    epochs = 10
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=cfg.lr_min)
    for e in range(epochs + 1):
        closed = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * e / epochs))
        assert lr_at(cfg, e, epochs) == pytest.approx(closed, rel=1e-12)
        assert lr_at(cfg, e, epochs) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9), e
        opt.step()
        sched.step()
    assert lr_at(cfg, 0, epochs) == cfg.lr and lr_at(cfg, epochs, epochs) == pytest.approx(cfg.lr_min)
    constant = OptimConfig(name="sgd", lr=0.025, lr_min=0.001, schedule="constant")
    assert all(lr_at(constant, e, epochs) == 0.025 for e in range(epochs + 1))


def test_mixed_op_search_convention_has_no_affine_batchnorm_and_checks_channels():
    """DARTS' search cells use BatchNorm without affine parameters, in the ops and after pooling; a
    channel count not divisible by K is refused naming both."""
    op = MixedOp(list(get_space("darts").ops), 4, 1)
    bns = [m for m in op.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.affine for m in bns)
    with pytest.raises(ValueError, match="channels 6 not divisible by partial_channels=4"):
        MixedOp(["skip_connect"], 6, 1, partial_channels=4)
