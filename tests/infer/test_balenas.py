"""BaLeNAS program pieces: the Gaussian prior, the guide whose σ is VAdam's state, and the loss gradient."""

from __future__ import annotations

import math

import pyro
import pytest
import torch

from pyronas.infer.objectives import Objective, Schedule
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.optim.vadam import VAdam
from pyronas.registry import build


def _program(delta: float = 2.0):
    torch.manual_seed(0)
    net = Supernet(get_space("nb201"), C=4, layers=1, in_channels=1, num_classes=3)
    prior = build("models", "gaussian", {"delta": delta}, net, where="model.params")
    model = SupernetModel(net, prior)
    guide = build("guides", "balenas", {}, model, where="guide.params")
    return model, guide


def test_gaussian_prior_log_density():
    model, _ = _program(delta=2.0)
    d = model.prior.alpha_dist("cell")
    a = torch.randn(d.event_shape)
    expected = (-0.5 * 2.0 * a**2 + 0.5 * math.log(2.0) - 0.5 * math.log(2 * math.pi)).sum()
    assert torch.allclose(d.log_prob(a), expected, atol=1e-4)
    with pytest.raises(ValueError, match="delta"):
        build("models", "gaussian", {"delta": 0.0}, model.supernet, where="model.params")


def test_guide_sigma_is_vadam_state():
    _, guide = _program(delta=2.0)
    mu = guide.mu["cell"]
    # before binding: s = 0, σ² = 1/δ
    assert torch.allclose(guide.scale("cell"), torch.full_like(mu, 1 / math.sqrt(2.0)))
    opt = VAdam(guide.arch_parameters(), lr=0.1, prior_precision=2.0, num_data=50, init_s=0.5)
    guide.bind_optimizer(opt)
    # step 0: σ² = 1/(N (s_0 + δ̃)) = 1/(50 * 0.5 + 2)
    assert torch.allclose(guide.scale("cell"), torch.full_like(mu, 1 / math.sqrt(27.0)))
    mu.grad = torch.full_like(mu, 0.2)
    opt.step()
    s1 = 0.9 * 0.5 + 0.1 * 0.04
    assert torch.allclose(guide.scale("cell"), torch.full_like(mu, 1 / math.sqrt(50 * s1 + 2.0)))
    loc, scale = guide.loc_scale()["cell"]
    assert torch.equal(loc, mu.detach()) and torch.equal(scale, guide.scale("cell"))


def test_bind_rejects_wrong_optimizer_or_precision():
    _, guide = _program(delta=2.0)
    with pytest.raises(TypeError, match="vadam"):
        guide.bind_optimizer(torch.optim.Adam(guide.arch_parameters()))
    with pytest.raises(ValueError, match="prior_precision"):
        guide.bind_optimizer(VAdam(guide.arch_parameters(), prior_precision=1.0))
    with pytest.raises(ValueError, match="does not optimise"):
        guide.bind_optimizer(VAdam([torch.nn.Parameter(torch.zeros(1))], prior_precision=2.0))


def test_guide_draws_have_vadam_sigma():
    _, guide = _program(delta=1.0)
    opt = VAdam(guide.arch_parameters(), prior_precision=1.0, num_data=10, init_s=0.6)  # σ² = 1/7
    guide.bind_optimizer(opt)
    draws = guide.sample_alpha(4000)["cell"]
    assert torch.allclose(draws.mean(0), guide.mu["cell"].detach(), atol=0.03)
    assert torch.allclose(draws.var(0), torch.full_like(draws[0], 1 / 7), rtol=0.12)


def test_loss_gradient_is_data_gradient_at_the_sample():
    """With the α KL masked (BaLeNAS configs), ∂loss/∂μ = ∇_α NLL(α) at the sampled α = μ + σ ε: ĝ(θ_t) of eq. 17."""
    model, guide = _program(delta=1.0)
    guide.bind_optimizer(VAdam(guide.arch_parameters(), prior_precision=1.0, num_data=100, init_s=0.01))
    objective = Objective(pyro.infer.Trace_ELBO(), kl_scales={"alpha/": Schedule(0.0)})
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 3, (6,))
    loss, rec = objective.loss(model, guide, x, y, n_data=100)
    (g_mu,) = torch.autograd.grad(loss, [guide.mu["cell"]])
    alpha = rec.values["alpha/cell"][0].detach().requires_grad_(True)
    assert not torch.allclose(alpha, guide.mu["cell"])  # it really is a sample
    logits = model.supernet(x, {"cell": model.prior.to_weights(alpha)})
    nll = torch.nn.functional.cross_entropy(logits, y)
    (g_alpha,) = torch.autograd.grad(nll, [alpha])
    assert torch.allclose(g_mu, g_alpha, atol=1e-6)


@pytest.mark.parametrize(
    "name",
    [
        "balenas_nb201",
        "balenas_nb201_2nd",
        "balenas_tf_nb201",
        "balenas_darts",
        "balenas_darts_2nd",
        "balenas_tf_darts",
        "balenas_nb201_fmnist",
    ],
)
def test_configs_build_vadam_matching_the_prior(name):
    from pathlib import Path

    from pyronas.config import load_config
    from pyronas.optim.factory import make_optimizer

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml")
    assert cfg.model.name == "gaussian" and cfg.guide.name == "balenas"
    assert cfg.objective.kl_scales["alpha/"].weight == 0.0  # the prior acts through VAdam only
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg.optim.arch, "optim.arch")
    assert isinstance(opt, VAdam)
    assert opt.defaults["prior_precision"] == cfg.model.params["delta"]
    if "tf" in name:
        assert cfg.select.rule == "sample_score" and cfg.select.params["num_samples"] in (10, 50, 100)


def test_vadam_factory_rejects_weight_decay():
    from pyronas.config import load_config
    from pyronas.optim.factory import make_optimizer

    cfg = load_config(None, ["optim.arch.name=vadam", "optim.arch.weight_decay=0.001"])
    with pytest.raises(ValueError, match="weight_decay"):
        make_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg.optim.arch, "optim.arch")
