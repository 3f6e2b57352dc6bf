"""NUTS reference posterior for α: a conjugate problem recovered, and the comparison with a VI guide."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from pyronas.analysis.nuts import alpha_model, compare, run_nuts, supernet_log_likelihood
from pyronas.config import GroupConfig, GuideConfig, ModelConfig
from pyronas.infer.build import build_guide, build_model
from pyronas.infer.program import SupernetModel
from pyronas.models.gaussian import GaussianPrior
from pyronas.nn.spaces import SPACES
from pyronas.nn.supernet import Supernet


@pytest.mark.usefixtures("one_thread")
def test_nuts_recovers_a_conjugate_gaussian_posterior():
    """α ~ N(0, 1/δ) per coordinate, y_i | α ~ N(α, s²) for i = 1..m: the posterior is
    N(Σy/s² / (δ + m/s²), 1/(δ + m/s²)), sampled through the same α-only model NUTS uses for a supernet."""
    torch.manual_seed(0)
    shapes = SimpleNamespace(arch_shapes=lambda: {"cell": (2, 3)})  # the prior only reads the shapes
    delta, s, m = 2.0, 0.5, 4
    model = SupernetModel(shapes, GaussianPrior(shapes, delta))
    truth = torch.randn(2, 3)
    y = truth + s * torch.randn(m, 2, 3)

    def log_likelihood(alpha):
        return torch.distributions.Normal(alpha["cell"], s).log_prob(y).sum()

    assert callable(alpha_model(model.prior, log_likelihood))
    result = run_nuts(model.prior, log_likelihood, num_samples=200, warmup_steps=80, num_chains=2, seed=1)
    draws = result.alpha["cell"].reshape(-1, 2, 3)
    assert result.alpha["cell"].shape == (2, 200, 2, 3)
    precision = delta + m / s**2
    mean, sd = (y.sum(0) / s**2) / precision, 1 / math.sqrt(precision)
    # 400 draws: the Monte Carlo error of a mean is ≲ sd / sqrt(ESS) with ESS ≳ 100
    assert (draws.mean(0) - mean).abs().max() < 4 * sd / math.sqrt(100)
    assert draws.std(0).mean().item() == pytest.approx(sd, rel=0.1)
    assert result.wall_time > 0 and all(0.5 < a <= 1 for a in result.accept_prob)


@pytest.mark.usefixtures("one_thread")
def test_comparison_with_a_vi_guide_on_a_tiny_supernet(tmp_path):
    torch.manual_seed(0)
    net = Supernet(SPACES["nb201"], 2, 1, 1, 3)
    mc = ModelConfig(name="gaussian", params={"delta": 1.0})
    model = build_model(mc, net)
    guide = build_guide(GuideConfig(alpha=GroupConfig("auto", {"family": "lowrank_mvn", "rank": 2})), model, mc)
    x, y = torch.randn(6, 1, 6, 6), torch.randint(0, 3, (6,))
    loglik = supernet_log_likelihood(model, x, y, n_data=24)
    params = [p.requires_grad for p in net.parameters()]
    result = run_nuts(model.prior, loglik, num_samples=12, warmup_steps=8, num_chains=2, max_tree_depth=2)
    cmp = compare(result, model.prior, guide, SPACES["nb201"], num_samples=200, out_dir=tmp_path)
    t = cmp.table
    assert len(t) == 30 and {"nuts_mean", "vi_mean", "nuts_r_hat", "nuts_ess_bulk", "vi_hdi_3%"} <= set(t.columns)
    # both are distributions over the ops of each edge
    assert t.groupby("edge")["nuts_mean"].sum().sub(1).abs().max() < 1e-5
    assert t.groupby("edge")["vi_mean"].sum().sub(1).abs().max() < 1e-5
    assert math.isfinite(cmp.max_rhat) and cmp.min_ess_bulk > 0
    assert cmp.nuts.posterior["alpha"].shape == (2, 12, 1, 6, 5)
    for f in ("nuts", "vi", "csv", "png"):
        assert cmp.files[f].stat().st_size > 0
    assert [p.requires_grad for p in net.parameters()] == params


@pytest.mark.usefixtures("one_thread")
def test_chain_subsets_in_separate_calls_assemble_the_same_reference(tmp_path):
    """``only``: two calls (two processes in practice) sample chains {0} and {1} into one chain_dir; the first
    returns None (a chain is missing), the second the 2-chain result, identical to sampling both in one call."""
    shapes = SimpleNamespace(arch_shapes=lambda: {"cell": (1, 3)})
    model = SupernetModel(shapes, GaussianPrior(shapes, 1.0))

    def log_likelihood(alpha):
        return torch.distributions.Normal(alpha["cell"], 0.5).log_prob(torch.ones(1, 3)).sum()

    kw = dict(num_samples=10, warmup_steps=10, num_chains=2, seed=3, max_tree_depth=3)
    with pytest.raises(ValueError, match="chain_dir"):
        run_nuts(model.prior, log_likelihood, only=[0], **kw)
    assert run_nuts(model.prior, log_likelihood, chain_dir=tmp_path / "split", only=[0], **kw) is None
    split = run_nuts(model.prior, log_likelihood, chain_dir=tmp_path / "split", only=[1], **kw)
    whole = run_nuts(model.prior, log_likelihood, chain_dir=tmp_path / "whole", **kw)
    assert split.alpha["cell"].shape == (2, 10, 1, 3)
    assert torch.equal(split.alpha["cell"], whole.alpha["cell"])
