"""VIM-NAS guide (guides/vim.py): shapes, the N(μ_φ, 1) law, and the ELBO = VIM objective + const."""

from __future__ import annotations

import math
from pathlib import Path

import pyro
import pytest
import torch
import torch.nn.functional as F

from pyronas.config import load_config
from pyronas.distributions import molchanov_kl
from pyronas.guides.vim import VIMGuide
from pyronas.infer import make_objective
from pyronas.infer.objectives import Objective
from pyronas.infer.program import SupernetModel, alpha_site
from pyronas.models.flat import FlatPrior
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build

pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(space: str = "nb201", layers: int = 1, C: int = 4) -> SupernetModel:
    net = Supernet(get_space(space), C=C, layers=layers, in_channels=1, num_classes=3)
    return SupernetModel(net, FlatPrior(net))


@pytest.fixture(scope="module")
def nb201_model() -> SupernetModel:
    torch.manual_seed(0)
    return make_model("nb201")


@pytest.mark.parametrize("space, layers", [("nb201", 1), ("darts", 3)])
@pytest.mark.parametrize("size", ["small", "default", "large"])
def test_phi_output_shape_matches_edges_by_ops(space, layers, size):
    torch.manual_seed(0)
    model = make_model(space, layers)
    guide = VIMGuide(model, size=size)
    sp = get_space(space)
    assert set(guide.arch_shapes) == set(sp.cell_kinds)
    for kind in sp.cell_kinds:
        assert guide.epsilon(kind).shape == (1, 3, sp.num_edges, sp.num_ops)
        assert guide.mu(kind).shape == sp.arch_shape
        assert guide.alpha_dist(kind).event_shape == sp.arch_shape
    # one generator per kind, with 1 / 2 / 5 ConvReLUBN modules
    depth = {"small": 1, "default": 2, "large": 5}[size]
    assert all(len(net) == depth for net in guide.phi.values())
    first = next(iter(guide.phi.values()))
    assert first[0][0].in_channels == 3 and first[-1][0].out_channels == 1


def test_default_phi_is_the_papers_network(nb201_model):
    phi = VIMGuide(nb201_model).phi["cell"]
    convs = [m[0] for m in phi]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(3, 14, (3, 3)), (14, 1, (3, 3))]
    assert isinstance(phi[0][1], torch.nn.ReLU) and isinstance(phi[0][2], torch.nn.BatchNorm2d)


def test_mc_mean_is_mu_and_variance_is_one(nb201_model):
    torch.manual_seed(1)
    guide = VIMGuide(nb201_model)
    n = 40000
    draws = guide.sample_alpha(n)["cell"]
    mu = guide.mu("cell").detach()
    assert draws.shape == (n, 6, 5)
    # 5 standard errors of the mean (sd 1) and of the variance (sd ≈ sqrt(2/n))
    assert (draws.mean(0) - mu).abs().max() < 5 / math.sqrt(n)
    assert (draws.var(0) - 1).abs().max() < 5 * math.sqrt(2 / n)


def test_mu_is_deterministic_and_equal_in_train_and_eval_mode(nb201_model):
    torch.manual_seed(2)
    guide = VIMGuide(nb201_model)
    mu_train = guide.mu("cell").detach()
    guide.eval()
    mu_eval = guide.mu("cell").detach()
    guide.train()
    torch.testing.assert_close(mu_train, mu_eval)
    torch.testing.assert_close(guide.mu("cell").detach(), mu_train)
    # the architecture image is not constant: φ(ε) differs across (edge, op) positions
    assert mu_train.std() > 0.1


def _pyro_loss_and_ce(model, guide, x, y, n_data):
    """Pyro's per-datum Trace_ELBO loss, and the CE of the very architecture the guide sampled."""
    loss, rec = Objective(pyro.infer.Trace_ELBO()).loss(model, guide, x, y, n_data)
    (alpha,) = rec.values[alpha_site("cell")]
    logits = model.supernet(x, {"cell": F.softmax(alpha, -1)})
    return loss, F.cross_entropy(logits, y), alpha


def test_pyro_loss_is_cross_entropy_of_sampled_architecture_plus_constant(nb201_model):
    torch.manual_seed(3)
    model, guide = nb201_model, VIMGuide(nb201_model)
    x, y, n_data = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,)), 100
    loss, ce, alpha = _pyro_loss_and_ce(model, guide, x, y, n_data)
    xi = alpha - guide.mu("cell")
    d = xi.numel()
    # log p(A) = 0 (flat) and log q(A) = -½‖ξ‖² - ½ d log 2π: loss = CE - (½‖ξ‖² + ½ d log 2π) / N
    const = -(0.5 * (xi**2).sum() + 0.5 * d * math.log(2 * math.pi)) / n_data
    torch.testing.assert_close(loss, ce + const)
    # the extra part does not depend on θ or φ: identical gradients
    params = list(model.supernet.parameters()) + list(guide.parameters())
    g_loss = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    g_ce = torch.autograd.grad(ce, params, allow_unused=True)
    n_phi = 0
    for p, a, b in zip(params, g_loss, g_ce, strict=True):
        if b is None:
            continue
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
        n_phi += any(p is q for q in guide.parameters())
    assert n_phi > 0  # φ really receives the CE gradient through A = μ_φ + ξ


def test_expected_extra_part_is_the_constant_entropy(nb201_model):
    """E_ξ[loss − CE] = −H(N(μ,1))/N for any φ: check under two different networks."""
    x, y, n_data = torch.randn(2, 1, 4, 4), torch.randint(0, 3, (2,)), 50
    d = 6 * 5
    entropy = 0.5 * d * math.log(2 * math.pi * math.e)
    for seed in (4, 5):
        torch.manual_seed(seed)
        guide = VIMGuide(nb201_model)
        with torch.no_grad():
            pairs = [_pyro_loss_and_ce(nb201_model, guide, x, y, n_data)[:2] for _ in range(120)]
        diffs = torch.stack([loss - ce for loss, ce in pairs])
        # sd of ½‖ξ‖²/N is sqrt(d/2)/N
        assert abs(diffs.mean().item() + entropy / n_data) < 5 * math.sqrt(d / 2) / n_data / math.sqrt(120)


def test_point_variant_loss_is_exactly_cross_entropy(nb201_model):
    torch.manual_seed(6)
    guide = VIMGuide(nb201_model, point=True)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    loss, ce, alpha = _pyro_loss_and_ce(nb201_model, guide, x, y, 100)
    torch.testing.assert_close(alpha, guide.mu("cell"))
    torch.testing.assert_close(loss, ce)
    torch.testing.assert_close(guide.op_probs()["cell"], F.softmax(guide.mu("cell"), -1).detach())


def test_dropout_variant_sigma_positive_and_samples_use_it(nb201_model):
    torch.manual_seed(7)
    guide = VIMGuide(nb201_model, dropout=True)
    s = guide.sigma("cell")
    assert s.shape == (6, 5) and (s > 0).all()
    assert s.std() > 0  # learned per (edge, op), not a constant
    draws = guide.sample_alpha(40000)["cell"]
    torch.testing.assert_close(draws.std(0), s.detach(), atol=0.03, rtol=0.03)
    log_delta = guide.log_dropout_rate("cell")
    torch.testing.assert_close(log_delta, (s**2 / guide.mu("cell") ** 2).log())
    # φ' is a separate network that the ELBO's entropy term reaches
    assert set(guide.phi_sigma.keys()) == {"cell"}


def test_built_by_name_with_validated_params(nb201_model):
    g = build("guides", "vim", {"size": "small", "point": True}, nb201_model, where="guide.params")
    assert isinstance(g, VIMGuide) and g.point and len(g.phi["cell"]) == 1
    with pytest.raises(ValueError, match="guide.params.depth"):
        build("guides", "vim", {"depth": 3}, nb201_model, where="guide.params")
    with pytest.raises(ValueError, match="size"):
        VIMGuide(nb201_model, size="huge")
    with pytest.raises(ValueError, match="exclusive"):
        VIMGuide(nb201_model, point=True, dropout=True)


def test_dropout_sparsity_term_is_the_molchanov_kl_to_the_log_uniform_prior():
    """VIM-NAS-Dropout with the log-uniform prior on A and TraceMeanField_ELBO:
    loss = CE(sampled A) + Σ molchanov_kl(log δ) / N, δ = s²/μ² (sec. 3.5; Molchanov eq. 14)."""
    torch.manual_seed(8)
    net = Supernet(get_space("nb201"), C=4, layers=1, in_channels=1, num_classes=3)
    prior = build("models", "log_uniform", {"bayesian_weights": False, "zero_clip": None}, net, where="model.params")
    model = SupernetModel(net, prior)
    guide = VIMGuide(model, dropout=True)
    x, y, n_data = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,)), 100
    loss, rec = Objective(pyro.infer.TraceMeanField_ELBO()).loss(model, guide, x, y, n_data)
    (alpha,) = rec.values[alpha_site("cell")]
    ce = F.cross_entropy(net(x, {"cell": F.softmax(alpha, -1)}), y)
    log_delta = guide.log_dropout_rate("cell")
    kl = molchanov_kl(log_delta).sum()
    torch.testing.assert_close(loss, ce + kl / n_data)
    # the documented closed form, written out: k1 - k1 sigmoid(k2 + k3 log δ) + ½ log(1 + 1/δ) >= 0
    k1, k2, k3 = 0.63576, 1.8732, 1.48695
    delta = guide.sigma("cell") ** 2 / guide.mu("cell") ** 2
    closed = (k1 - k1 * torch.sigmoid(k2 + k3 * delta.log()) + 0.5 * torch.log1p(1 / delta)).sum()
    torch.testing.assert_close(kl, closed, rtol=1e-4, atol=1e-4)
    assert kl > 0
    # the KL pulls on φ' (σ) as well as φ (μ): both networks get a gradient from the sparsity term
    g_sigma = torch.autograd.grad(kl, list(guide.phi_sigma.parameters()), allow_unused=True)
    g_mu = torch.autograd.grad(molchanov_kl(guide.log_dropout_rate("cell")).sum(), list(guide.phi.parameters()))
    assert any(g is not None and g.abs().sum() > 0 for g in g_sigma)
    assert any(g.abs().sum() > 0 for g in g_mu)


VIM_CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("vimnas*.yaml"))


@pytest.mark.parametrize("path", VIM_CONFIGS, ids=lambda p: p.name)
def test_every_vimnas_config_builds_its_program_and_gives_a_finite_loss(path):
    """Every VIM-NAS config names a valid prior, guide (params validated) and ELBO; a tiny supernet of its
    space with the configured prior and guide gives a finite loss and gradients for φ."""
    cfg = load_config(path)
    assert cfg.guide.name == "vim" and cfg.optim.arch.name == "sgd" and cfg.optim.arch.lr == 0.025
    space = get_space(cfg.space)
    net = Supernet(space, C=4, layers=1 if space.n_inputs == 1 else 3, in_channels=1, num_classes=3)
    prior = build("models", cfg.model.name, cfg.model.params, net, where="model.params")
    model = SupernetModel(net, prior)
    guide = build("guides", cfg.guide.name, cfg.guide.params, model, where="guide.params")
    loss, _ = make_objective(cfg).loss(model, guide, torch.randn(4, 1, 8, 8), torch.randint(0, 3, (4,)), 100)
    assert torch.isfinite(loss)
    grads = torch.autograd.grad(loss, guide.arch_parameters(), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
