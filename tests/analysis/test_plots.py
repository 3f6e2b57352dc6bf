"""Figures of a run: readers of history/metrics and non-empty PNGs for every plot."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import numpy as np
import pyro.distributions as dist
import pytest
import torch
import torch.nn as nn

from pyronas.analysis import plots as plots
from pyronas.infer.program import AlphaGuide, SupernetModel
from pyronas.models.flat import FlatPrior
from pyronas.nn.spaces import Genotype, get_space
from pyronas.nn.supernet import Supernet


def assert_png(path):
    """A real, non-blank PNG."""
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.shape[0] > 50 and img.shape[1] > 50
    assert img[..., :3].std() > 0.01  # something was drawn


class GaussianGuide(AlphaGuide):
    def __init__(self, model):
        super().__init__(model)
        self.mu = nn.ParameterDict({k: nn.Parameter(torch.randn(s)) for k, s in self.arch_shapes.items()})
        self.log_sigma = nn.ParameterDict({k: nn.Parameter(-torch.rand(s)) for k, s in self.arch_shapes.items()})

    def alpha_dist(self, kind):
        return dist.Normal(self.mu[kind], self.log_sigma[kind].exp()).to_event(2)

    def loc_scale(self):
        return {k: (self.mu[k], self.log_sigma[k].exp()) for k in self.arch_shapes}


def _fake_run(tmp_path, space, epochs=4):
    """history.json / metrics.json in the engine's format, from real derivations of random weights."""
    g = torch.Generator().manual_seed(0)
    history = []
    for e in range(epochs):
        w = {k: torch.softmax((1 + e) * torch.randn(space.arch_shape, generator=g), -1) for k in space.cell_kinds}
        history.append(
            {"epoch": e, "op_probs": {k: v.tolist() for k, v in w.items()}, "genotype": space.derive(w).to_dict()}
        )
    history.insert(1, {"epoch": 0.5})  # records without op probs / genotype are skipped
    (tmp_path / "history.json").write_text(json.dumps(history))
    metrics = [{"epoch": e, "hessian_eig": 0.5 * e + 1} for e in range(epochs)] + [
        {"epoch": epochs, "hessian_eig": None}
    ]
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    return history


def test_readers_are_defensive(tmp_path):
    space = get_space("nb201")
    history = _fake_run(tmp_path, space)
    loaded = plots.load_history(tmp_path)
    assert len(loaded) == len(history)
    epochs, probs = plots.anytime_op_probs(loaded, "cell")
    assert epochs.tolist() == [0, 1, 2, 3] and probs.shape == (4, space.num_edges, space.num_ops)
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-5)
    e, eig = plots.hessian_curve(plots.load_metrics(tmp_path))
    assert e.tolist() == [0, 1, 2, 3] and eig.tolist() == [1.0, 1.5, 2.0, 2.5]
    assert plots.load_history(tmp_path / "missing") == []
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "history.json").write_text("{not json")
    assert plots.load_history(tmp_path / "broken") == []


def test_skip_counts_of_known_genotypes():
    cells = {
        "normal": [("skip_connect", 0, 2), ("sep_conv_3x3", 1, 2), ("skip_connect", 0, 3), ("skip_connect", 1, 3)],
        "reduce": [("skip_connect", 0, 2), ("max_pool_3x3", 1, 2)],
    }
    g1 = Genotype("darts", cells, {"normal": [2, 3], "reduce": [2, 3]})
    g2 = Genotype("darts", {**cells, "normal": cells["normal"][:2]}, g1.concat)
    history = [{"epoch": 0, "genotype": g1.to_dict()}, {"epoch": 1, "genotype": g2.to_dict()}, {"epoch": 2}]
    epochs, counts = plots.skip_counts(history, "normal")
    assert epochs.tolist() == [0, 1] and counts.tolist() == [3, 1]
    assert plots.skip_counts(history, "reduce")[1].tolist() == [1, 1]


def test_positive_snr_is_the_selections_signed_mu_over_variance():
    mu, sigma = np.array([2.0, -1.0, 0.5]), np.array([0.5, 0.1, 1.0])
    np.testing.assert_allclose(plots.positive_snr(mu, sigma), [8.0, -100.0, 0.5])


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_plot_run_writes_every_figure(tmp_path, name):
    space = get_space(name)
    _fake_run(tmp_path, space)
    net = Supernet(space, C=2, layers=1 if name == "nb201" else 3, in_channels=1, num_classes=3)
    guide = GaussianGuide(SupernetModel(net, FlatPrior(net)))
    files = plots.plot_run(tmp_path, space, out_dir=tmp_path / "fig", guide=guide)
    expected = {f"anytime_{k}" for k in space.cell_kinds} | {f"cell_{k}" for k in space.cell_kinds}
    expected |= {"op_probs", "snr", "skip_connect", "hessian"}
    assert set(files) == expected
    for path in files.values():
        assert path.parent == tmp_path / "fig"
        assert_png(path)


@pytest.mark.parametrize("use_graphviz", [pytest.param(True, marks=pytest.mark.requires("dot")), False])
def test_cell_diagram_with_and_without_graphviz(tmp_path, use_graphviz):
    space = get_space("darts")
    g = space.random_genotype(torch.Generator().manual_seed(0))
    assert_png(plots.plot_cell(g, "normal", space, tmp_path / "cell.png", use_graphviz=use_graphviz))
    dot = plots.cell_dot(g, "normal", space)
    assert dot.count("->") == len(g.cells["normal"]) + len(g.concat["normal"])
