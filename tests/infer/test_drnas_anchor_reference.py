"""DrNAS' anchor on η: exactly one, of the size the official code applies (Adam weight decay 1e-3, gradient 1e-3·η)."""

from __future__ import annotations

from pathlib import Path

import pyro
import pytest
import torch

from pyronas.config import load_config
from pyronas.infer import make_objective
from pyronas.infer.objectives import Objective, Schedule, TermContext, TermSpec, l2_anchor
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.optim.factory import make_optimizer
from pyronas.registry import build

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("drnas_*.yaml"))
KL_ANCHOR = ["objective.elbo=meanfield", "objective.terms=[]", 'objective.kl_scales={"alpha/": {weight: 1.0}}']
OFFICIAL = 1e-3  # xiangning-chen/DrNAS architect.py: Adam(weight_decay=reg_scale), reg_scale = 1e-3


def _program(space: str):
    torch.manual_seed(0)
    net = Supernet(get_space(space), 2, 2 if space == "darts" else 1, 1, 3).eval()
    model = SupernetModel(net, build("models", "dirichlet", {}, net, where="model"))
    guide = build("guides", "dirichlet", {}, model, where="guide")
    with torch.no_grad():
        for eta in guide.eta.values():
            eta.copy_(torch.linspace(-1.5, 2.0, eta.numel()).reshape(eta.shape))
    return model, guide


def test_l2_anchor_gradient_is_lambda_eta_as_documented():
    """λ · l2_anchor = λ/2 ‖η‖², so ∇_η = λ η exactly (the docstring's statement)."""
    model, guide = _program("darts")
    lam = 1e-3
    eta = list(guide.eta.values())
    grads = torch.autograd.grad(lam * l2_anchor(TermContext(model, guide, {}, 0.0)), eta)
    for g, p in zip(grads, eta, strict=True):
        assert torch.equal(g, lam * p.detach())


def _anchor_gradient(objective: Objective, optimizer: torch.optim.Optimizer, model, guide) -> list[torch.Tensor]:
    """What pulls η towards the anchor in one architecture step: ∇_η of the objective minus ∇_η of the
    plain expected cross-entropy (same batch, same θ draw), plus the optimizer's coupled weight decay."""
    x, y, n = torch.randn(2, 1, 6, 6), torch.randint(0, 3, (2,)), 500
    eta = guide.arch_parameters()
    plain = Objective(pyro.infer.Trace_ELBO(), [], {"alpha/": Schedule(0.0)})
    torch.manual_seed(3)
    g_obj = torch.autograd.grad(objective.loss(model, guide, x, y, n)[0], eta)
    torch.manual_seed(3)
    g_ce = torch.autograd.grad(plain.loss(model, guide, x, y, n)[0], eta)
    assert not isinstance(optimizer, torch.optim.AdamW)  # decoupled decay would be a second, unscaled anchor
    decay = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    return [a - b + decay[id(p)] * p.detach() for a, b, p in zip(g_obj, g_ce, eta, strict=True)]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_applies_one_l2_anchor_of_the_official_size(path):
    cfg = load_config(path)
    model, guide = _program(cfg.space)
    optimizer = make_optimizer(guide.arch_parameters(), cfg.optim.arch, "optim.arch")
    for g, p in zip(
        _anchor_gradient(make_objective(cfg), optimizer, model, guide), guide.arch_parameters(), strict=True
    ):
        assert torch.allclose(g, OFFICIAL * p.detach(), atol=1e-7), (g / p).flatten()[:3]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_kl_variant_has_no_weight_decay_left(path):
    """Appendix A.5 as the config comments state it: the anchor is the KL alone (the official code sets
    the weight decay to 0 with reg_type kl), i.e. ∇_η KL(Dir(β) ‖ Dir(1)) / N and nothing else."""
    cfg = load_config(path, KL_ANCHOR)
    model, guide = _program(cfg.space)
    optimizer = make_optimizer(guide.arch_parameters(), cfg.optim.arch, "optim.arch")
    eta = guide.arch_parameters()
    kl = sum(
        torch.distributions.kl_divergence(
            torch.distributions.Dirichlet(torch.nn.functional.elu(p) + 1),
            torch.distributions.Dirichlet(torch.ones_like(p)),
        ).sum()
        for p in eta
    )
    expected = torch.autograd.grad(kl / 500, eta)
    for g, e in zip(_anchor_gradient(make_objective(cfg), optimizer, model, guide), expected, strict=True):
        assert torch.allclose(g, e, atol=1e-7)


def test_term_spec_builds_the_same_anchor_as_the_config():
    """scripts/search_drnas.py's ``--anchor l2`` objective equals the config's."""
    model, guide = _program("nb201")
    cfg = load_config(CONFIGS[0])
    script = Objective(pyro.infer.Trace_ELBO(), [TermSpec("l2_anchor", Schedule(1e-3))], {"alpha/": Schedule(0.0)})
    optimizer = make_optimizer(guide.arch_parameters(), cfg.optim.arch, "optim.arch")
    for g, p in zip(_anchor_gradient(script, optimizer, model, guide), guide.arch_parameters(), strict=True):
        assert torch.allclose(g, OFFICIAL * p.detach(), atol=1e-7)
