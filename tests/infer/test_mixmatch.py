"""Priors and guides per site group: shorthand = group form, the prior↔guide contract, autoguides on α."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
import torch.nn.functional as F

from pyronas.config import ConfigError, GroupConfig, GuideConfig, ModelConfig
from pyronas.infer.build import build_guide, build_model
from pyronas.infer.objectives import Objective, Schedule
from pyronas.infer.program import NoWeightGuide
from pyronas.nn.spaces import SPACES
from pyronas.nn.supernet import Supernet


def _net(space="nb201", seed=0):
    torch.manual_seed(seed)
    return Supernet(SPACES[space], 4, 1, 1, 10)


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(6, 1, 8, 8, generator=g), torch.randint(0, 10, (6,), generator=g)


def _loss(model_cfg, guide_cfg, elbo, kl_scales=None, space="nb201"):
    net = _net(space)
    model = build_model(model_cfg, net)
    guide = build_guide(guide_cfg, model, model_cfg)
    x, y = _batch()
    pyro.set_rng_seed(3)
    obj = Objective(elbo, kl_scales={p: Schedule(v) for p, v in (kl_scales or {}).items()})
    loss, _ = obj.loss(model, guide, x, y, n_data=500)
    return loss, model, guide


@pytest.mark.usefixtures("one_thread")
def test_shorthand_and_group_form_give_the_same_loss():
    # VINNAS: log-uniform α and w, mean-field q(α) q(w), analytic KL (TraceMeanField_ELBO)
    a, model, guide = _loss(
        ModelConfig(name="log_uniform", params={"bayesian_weights": True, "zero_clip": 0.0}),
        GuideConfig(name="mean_field", params={"log_sigma2": -8.0}),
        pyro.infer.TraceMeanField_ELBO(),
        space="vinnas_m",
    )
    b, model_g, guide_g = _loss(
        ModelConfig(alpha=GroupConfig("log_uniform", {"zero_clip": 0.0}), weights=GroupConfig("log_uniform")),
        GuideConfig(
            alpha=GroupConfig("mean_field", {"log_sigma2": -8.0}),
            weights=GroupConfig("mean_field", {"log_sigma2": -8.0}),
        ),
        pyro.infer.TraceMeanField_ELBO(),
        space="vinnas_m",
    )
    assert len(model.prior.weight_shapes) > 0 and guide.weights.names == guide_g.weights.names
    assert torch.isfinite(a) and a.item() == pytest.approx(b.item(), rel=1e-6)
    # DrNAS: Dirichlet prior and guide, the KL site kept
    c, _, _ = _loss(ModelConfig(name="dirichlet"), GuideConfig(name="dirichlet"), pyro.infer.TraceMeanField_ELBO())
    d, _, g = _loss(
        ModelConfig(alpha=GroupConfig("dirichlet")),
        GuideConfig(alpha=GroupConfig("dirichlet")),
        pyro.infer.TraceMeanField_ELBO(),
    )
    assert isinstance(g.weight_guide, NoWeightGuide)
    assert c.item() == pytest.approx(d.item(), rel=1e-6)
    # a different seed gives a different loss: the comparison can fail
    e, _, _ = _loss(
        ModelConfig(name="dirichlet"),
        GuideConfig(name="dirichlet", params={"init_scale": 1.0}),
        pyro.infer.TraceMeanField_ELBO(),
    )
    assert e.item() != pytest.approx(c.item(), rel=1e-6)


@pytest.mark.usefixtures("one_thread")
def test_dirichlet_alpha_with_bayesian_weights_adds_the_weight_kl():
    """DrNAS' Dirichlet α with VINNAS' Bayesian weights: loss = DrNAS loss + KL(q(w) ‖ p(w)) / N (the
    weight part alone; the α and likelihood parts are those of the same program without q(w))."""
    model_cfg = ModelConfig(alpha=GroupConfig("dirichlet"), weights=GroupConfig("log_uniform"))
    guide_cfg = GuideConfig(alpha=GroupConfig("dirichlet"), weights=GroupConfig("mean_field"))
    full, model, guide = _loss(model_cfg, guide_cfg, pyro.infer.TraceMeanField_ELBO())
    masked, _, _ = _loss(model_cfg, guide_cfg, pyro.infer.TraceMeanField_ELBO(), kl_scales={"w/": 0.0})
    from pyronas.distributions import molchanov_kl

    kl_w = sum(molchanov_kl(guide.weights.log_lambda(n)).sum() for n in guide.weights.names)
    assert full.item() == pytest.approx(masked.item() + kl_w.item() / 500, rel=1e-5)


@pytest.mark.parametrize(
    "model_cfg, guide_cfg, message",
    [
        (
            ModelConfig(name="dirichlet"),
            GuideConfig(alpha=GroupConfig("mean_field")),
            "guide.alpha.name 'mean_field' \\(real\\) does not match model.name 'dirichlet' \\(simplex\\)",
        ),
        (
            ModelConfig(alpha=GroupConfig("dirichlet")),
            GuideConfig(name="delta"),
            "guide.name 'delta' \\(real\\) does not match model.alpha.name 'dirichlet' \\(simplex\\)",
        ),
        (
            ModelConfig(alpha=GroupConfig("flat")),
            GuideConfig(alpha=GroupConfig("delta"), weights=GroupConfig("mean_field")),
            "guide.weights.name 'mean_field' is a q\\(w\\) but model.weights.name 'none' has no weight sites",
        ),
        (
            ModelConfig(alpha=GroupConfig("flat"), weights=GroupConfig("log_uniform")),
            GuideConfig(name="delta"),
            "model.weights.name 'log_uniform' makes the weights random .* guide.name 'delta' gives them no q",
        ),
        (
            ModelConfig(name="flat"),
            GuideConfig(name="balenas"),
            "guide.name 'balenas' needs the prior GaussianPrior, model.name 'flat' is FlatPrior",
        ),
    ],
)
def test_incompatible_pairs_are_refused_naming_both_keys(model_cfg, guide_cfg, message):
    model = build_model(model_cfg, _net())
    with pytest.raises(ConfigError, match=message):
        build_guide(guide_cfg, model, model_cfg)


def test_group_config_errors_name_the_key():
    from pyronas.config import load_config

    with pytest.raises(ConfigError, match="model: give either model.name"):
        load_config(overrides=["model.name=flat", "model.alpha.name=dirichlet"])
    with pytest.raises(ConfigError, match="guide.params: only with guide.name"):
        load_config(overrides=["guide.alpha.name=delta", "guide.params={init_scale: 1.0}"])
    with pytest.raises(ConfigError, match="model.weights.name: model 'dirichlet' has no WeightPrior"):
        build_model(ModelConfig(weights=GroupConfig("dirichlet")), _net())
    with pytest.raises(ConfigError, match="guide.alpha.name: unknown guide 'nope'"):
        build_guide(GuideConfig(alpha=GroupConfig("nope")), build_model(ModelConfig(), _net()))


# --- autoguides on α ---------------------------------------------------------------------------------------
def _auto(family, prior="gaussian", prior_params=None, **params):
    net = _net()
    mc = ModelConfig(name=prior, params=prior_params or {})
    model = build_model(mc, net)
    guide = build_guide(GuideConfig(alpha=GroupConfig("auto", {"family": family, **params})), model, mc)
    return net, model, guide


def _log_normal(x, loc, var):
    return (-0.5 * (math.log(2 * math.pi) + var.log() + (x - loc) ** 2 / var)).sum()


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("elbo", [pyro.infer.Trace_ELBO(), pyro.infer.TraceMeanField_ELBO()])
def test_lowrank_mvn_loss_equals_a_hand_written_elbo(elbo):
    """−ELBO/N = −[N·mean log p(y|α) + log p(α) − log q(α)]/N at the drawn α, with log q from the
    guide's parameters: N(vec α; μ, F Fᵀ + D), F = cov_factor·σ, D = σ² (real α: no Jacobian)."""
    net, model, guide = _auto("lowrank_mvn", prior_params={"delta": 2.0}, rank=3, init_scale=0.3, init_sigma=0.5)
    x, y = _batch()
    pyro.set_rng_seed(5)
    loss, rec = Objective(elbo).loss(model, guide, x, y, n_data=500)
    alpha = rec.values["alpha/cell"][0].detach()
    auto = guide.alpha_guide.auto
    with pyro.settings.context(module_local_params=True), torch.no_grad():
        scale, factor, loc = auto.scale, auto.cov_factor, auto.loc
    cov = (factor * scale[:, None]) @ (factor * scale[:, None]).T + torch.diag(scale**2)
    z = alpha.reshape(-1) - loc
    log_q = -0.5 * (z.numel() * math.log(2 * math.pi) + torch.logdet(cov) + z @ torch.linalg.solve(cov, z))
    log_p = _log_normal(alpha, torch.zeros(()), torch.tensor(1 / 2.0))
    loglik = -F.cross_entropy(net(x, {"cell": F.softmax(alpha, -1)}), y, reduction="sum") * 500 / 6
    expected = -(loglik + log_p - log_q) / 500
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # gradients reach every parameter of q(α)
    grads = torch.autograd.grad(loss, guide.arch_parameters())
    assert len(grads) == 3 and all(g.abs().sum() > 0 for g in grads)


@pytest.mark.usefixtures("one_thread")
def test_auto_normal_loss_equals_a_hand_written_elbo_and_kl_scale_masks_the_whole_alpha_term():
    net, model, guide = _auto("normal", prior_params={"delta": 1.0}, init_scale=0.2, init_sigma=0.3)
    x, y = _batch()
    pyro.set_rng_seed(7)
    loss, rec = Objective(pyro.infer.TraceMeanField_ELBO()).loss(model, guide, x, y, n_data=200)
    alpha = rec.values["alpha/cell"][0].detach()
    loc, scale = guide.loc_scale()["cell"]
    logits = net(x, {"cell": F.softmax(alpha, -1)})
    nll = F.cross_entropy(logits, y)
    log_q = _log_normal(alpha, loc, scale**2)
    log_p = _log_normal(alpha, torch.zeros(()), torch.ones(()))
    assert loss.item() == pytest.approx((nll - (log_p - log_q) / 200).item(), rel=1e-5)
    # γ = 0 on "alpha/" masks prior, α site and the auxiliary latent: the loss is the cross-entropy
    pyro.set_rng_seed(7)
    masked, rec = Objective(pyro.infer.Trace_ELBO(), kl_scales={"alpha/": Schedule(0.0)}).loss(model, guide, x, y, 200)
    alpha = rec.values["alpha/cell"][0].detach()
    assert masked.item() == pytest.approx(F.cross_entropy(net(x, {"cell": F.softmax(alpha, -1)}), y).item(), rel=1e-5)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("family", ["normal", "lowrank_mvn", "iaf", "delta"])
@pytest.mark.parametrize("prior", ["flat", "dirichlet"])
def test_autoguides_fit_any_prior_support_and_summarise(family, prior):
    net, model, guide = _auto(family, prior)
    probs = guide.op_probs()["cell"]
    assert probs.shape == (6, 5) and torch.allclose(probs.sum(-1), torch.ones(6))
    draws = guide.sample_alpha(4)["cell"]
    if prior == "dirichlet":
        assert (draws >= 0).all() and torch.allclose(draws.sum(-1), torch.ones(4, 6))
    ls = guide.loc_scale()
    assert (ls is None) == (family == "delta" or prior == "dirichlet")
    x, y = _batch()
    loss, _ = Objective(pyro.infer.Trace_ELBO()).loss(model, guide, x, y, 100)
    assert torch.isfinite(loss)
    # the search's parameter split: every autoguide parameter is an architecture parameter
    assert guide.weight_parameters() == [] and len(guide.arch_parameters()) >= 1


@pytest.mark.usefixtures("one_thread")
def test_lowrank_covariance_matches_the_sample_correlation_of_its_draws():
    _, _, guide = _auto("lowrank_mvn", rank=2, init_sigma=0.5)
    with torch.no_grad():  # make the factor large, so edges are strongly correlated
        guide.alpha_guide.auto.cov_factor.mul_(4.0)
    cov = guide.covariance()
    corr = cov / torch.outer(cov.diag().sqrt(), cov.diag().sqrt())
    draws = guide.sample_alpha(4000)["cell"].reshape(4000, -1)
    sample = torch.corrcoef(draws.T)
    assert (corr - sample).abs().max() < 0.08
    assert (corr - torch.eye(30)).abs().max() > 0.3  # really correlated


@pytest.mark.usefixtures("one_thread")
def test_diagnose_keeps_and_plots_the_alpha_correlation_of_a_correlated_guide(tmp_path):
    from pyronas.analysis.diagnostics import diagnose_guides, read_netcdf

    _, _, guide = _auto("lowrank_mvn", rank=2, init_sigma=0.5)
    with torch.no_grad():
        guide.alpha_guide.auto.cov_factor.mul_(4.0)
    assert guide.correlated
    result = diagnose_guides([guide], SPACES["nb201"], num_samples=1500, out_dir=tmp_path)
    back = read_netcdf(result.files["netcdf"])
    corr = back.alpha_correlation["corr"].values
    first = f"cell/{SPACES['nb201'].edge_labels()[0]}/none"
    assert corr.shape == (30, 30) and back.alpha_correlation["corr"].coords["param"].values[0] == first
    cov = guide.covariance()
    exact = cov / torch.outer(cov.diag().sqrt(), cov.diag().sqrt())
    assert abs(corr - exact.numpy()).max() < 0.12  # from the draws kept in the posterior group
    png = result.files["correlation"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a mean-field guide gets no correlation group
    _, _, normal = _auto("normal")
    assert not normal.correlated
    assert "alpha_correlation" not in diagnose_guides([normal], SPACES["nb201"], num_samples=50).idata.groups()
