"""The architecture posterior as InferenceData: round trip, Monte Carlo means, R-hat across runs."""

from __future__ import annotations

import numpy as np
import pyro.distributions as dist
import pytest
import torch
import torch.nn as nn

from pyronas.analysis.diagnostics import (
    diagnose_guides,
    draw_posterior,
    read_netcdf,
    summary_table,
    to_inference_data,
    write_netcdf,
)
from pyronas.guides.delta import DeltaGuide
from pyronas.infer.program import AlphaGuide, AlphaPrior, SupernetModel
from pyronas.models.flat import FlatPrior
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet


class SimplexPrior(AlphaPrior):
    """θ on the simplex: the mixing weights are θ itself."""

    support = "simplex"

    def alpha_dist(self, kind):
        return dist.Dirichlet(torch.ones(self.arch_shapes[kind])).to_event(1)

    def to_weights(self, alpha):
        return alpha


class DirichletGuide(AlphaGuide):
    """q(θ) = Π_edges Dir(β); analytic mean β / Σβ."""

    support = "simplex"

    def __init__(self, model, concentration: dict[str, torch.Tensor]):
        super().__init__(model)
        self.log_beta = nn.ParameterDict({k: nn.Parameter(c.log()) for k, c in concentration.items()})

    def alpha_dist(self, kind):
        return dist.Dirichlet(self.log_beta[kind].exp()).to_event(1)


class GaussianGuide(AlphaGuide):
    """q(α) = N(μ, σ²) per op (real-valued α, softmax weights)."""

    def __init__(self, model, mu: dict[str, torch.Tensor], sigma: float = 1.0):
        super().__init__(model)
        self.mu = nn.ParameterDict({k: nn.Parameter(m.clone()) for k, m in mu.items()})
        self.sigma = sigma

    def alpha_dist(self, kind):
        return dist.Normal(self.mu[kind], self.sigma).to_event(2)


@pytest.fixture(scope="module")
def darts():
    space = get_space("darts")
    net = Supernet(space, C=2, layers=3, in_channels=1, num_classes=3)
    return space, net


def _model(net):
    return SupernetModel(net, FlatPrior(net))


def test_netcdf_round_trip_keeps_dims_coords_values(darts, tmp_path):
    space, net = darts
    model = SupernetModel(net, SimplexPrior(net))
    g = torch.Generator().manual_seed(0)
    guides = [
        DirichletGuide(model, {k: 0.5 + 3 * torch.rand(s, generator=g) for k, s in net.arch_shapes().items()})
        for _ in range(2)
    ]
    idata = to_inference_data([draw_posterior(q, space, 50, seed=i) for i, q in enumerate(guides)], space)
    back = read_netcdf(write_netcdf(idata, tmp_path / "post.nc"))
    for var in ("theta", "op_probs"):
        da, db = idata.posterior[var], back.posterior[var]
        assert da.dims == db.dims == ("chain", "draw", "cell", "edge", "op")
        assert da.shape == (2, 50, 2, space.num_edges, space.num_ops)
        np.testing.assert_array_equal(da.values, db.values)
    assert list(back.posterior.coords["op"].values) == list(space.ops)
    assert list(back.posterior.coords["edge"].values) == space.edge_labels()
    assert "2<-0" in back.posterior.coords["edge"].values
    assert list(back.posterior.coords["cell"].values) == ["normal", "reduce"]
    assert back.posterior.attrs["raw_variable"] == "theta"


def test_dirichlet_sample_mean_matches_analytic_mean(darts):
    space, net = darts
    model = SupernetModel(net, SimplexPrior(net))
    g = torch.Generator().manual_seed(1)
    beta = {k: 0.3 + 5 * torch.rand(s, generator=g) for k, s in net.arch_shapes().items()}
    draws = draw_posterior(DirichletGuide(model, beta), space, num_samples=4000)
    assert draws.raw_name == "theta"
    for kind, b in beta.items():
        analytic = (b / b.sum(-1, keepdim=True)).numpy()
        a0 = b.sum(-1, keepdim=True)
        sd = (b * (a0 - b) / (a0**2 * (a0 + 1))).sqrt().numpy()
        err = np.abs(draws.probs[kind].mean(0) - analytic)
        assert (err < 5 * sd / np.sqrt(4000) + 1e-6).all()  # 5 Monte Carlo standard errors


def test_point_mass_probs_are_softmax_of_alpha(darts):
    space, net = darts
    model = _model(net)
    q = DeltaGuide(model, init_scale=1.0)
    draws = draw_posterior(q, space, num_samples=7)
    assert draws.raw_name == "alpha"
    for kind in space.cell_kinds:
        expected = torch.softmax(q.alpha[kind].detach(), -1).numpy()
        np.testing.assert_allclose(draws.probs[kind], np.broadcast_to(expected, (7, *expected.shape)), rtol=1e-6)
        np.testing.assert_allclose(draws.raw[kind][0], q.alpha[kind].detach().numpy())


def test_rhat_near_one_for_identical_guides_and_large_for_opposite_preferences(darts, tmp_path):
    space, net = darts
    model = _model(net)
    shapes = net.arch_shapes()
    mu = {k: torch.zeros(s) for k, s in shapes.items()}
    for m in mu.values():
        m[:, space.ops.index("sep_conv_3x3")] = 2.0
    same = diagnose_guides([GaussianGuide(model, mu), GaussianGuide(model, mu)], space, 1000, out_dir=tmp_path)
    assert same.table["r_hat"].max() < 1.01
    assert same.unstable.empty
    assert same.verdict.startswith("REPRODUCIBLE")
    assert (tmp_path / "posterior.nc").stat().st_size > 0
    csv = (tmp_path / "summary.csv").read_text().splitlines()
    assert csv[0].startswith("cell,edge,op,mean,sd,hdi_3%,hdi_97%")
    assert len(csv) == 1 + 2 * space.num_edges * space.num_ops

    flipped = {k: torch.zeros(s) for k, s in shapes.items()}
    for m in flipped.values():
        m[:, space.ops.index("skip_connect")] = 2.0
    diff = diagnose_guides([GaussianGuide(model, mu), GaussianGuide(model, flipped)], space, 1000)
    sep = diff.table[diff.table["op"] == "sep_conv_3x3"]
    assert (sep["r_hat"] > 1.1).all()
    assert len(diff.unstable) == 2 * space.num_edges
    assert diff.verdict.startswith("NOT REPRODUCIBLE")


def test_point_mass_rhat_is_one_when_equal_and_inf_when_different(darts):
    space, net = darts
    model = _model(net)
    q1 = DeltaGuide(model, init_scale=1.0)
    q2 = DeltaGuide(model, init_scale=1.0)
    q2.load_state_dict(q1.state_dict())
    assert (diagnose_guides([q1, q2], space, 20).table["r_hat"] == 1.0).all()
    q3 = DeltaGuide(model, init_scale=1.0)
    assert np.isinf(diagnose_guides([q1, q3], space, 20).table["r_hat"]).all()


def test_summary_of_a_symmetric_gaussian_single_run(darts):
    """α ~ N(0, σ²) iid over ops: every op has E[softmax α] = 1/|O| by symmetry."""
    space, net = darts
    model = _model(net)
    mu = {k: torch.zeros(s) for k, s in net.arch_shapes().items()}
    n = 2000
    idata = to_inference_data([draw_posterior(GaussianGuide(model, mu, sigma=0.5), space, n)], space)
    table = summary_table(idata)
    assert (np.abs(table["mean"] - 1 / space.num_ops) < 5 * table["sd"] / np.sqrt(n)).all()
    assert (table["hdi_3%"] < table["mean"]).all() and (table["mean"] < table["hdi_97%"]).all()
    assert (table["ess_bulk"] > 0.5 * n).all()  # independent draws
    assert table["r_hat"].max() < 1.02  # one chain: split halves of iid draws
    assert (table["chain_spread"] == 0).all()
