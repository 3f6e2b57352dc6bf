"""VINNAS positive SNR μ/σ² (IV-C): one definition for selection and plot; pruned ops never selected."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from pyronas.analysis import plots
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.nn.surgery import prune_supernet
from pyronas.select import rules


def test_plot_shows_the_snr_the_selection_uses(monkeypatch, tmp_path):
    """The SNR panel gets exactly rules.positive_snr (signed μ/σ²), negative entries included."""
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=(6, 5)), rng.uniform(0.2, 2.0, size=(6, 5))
    assert (mu < 0).any()
    seen = {}
    monkeypatch.setattr(plots.heatmaps, "_heatmap_grid", lambda rows, space, path: seen.setdefault("rows", rows))
    plots.plot_snr({"cell": (mu, sigma)}, space, tmp_path / "snr.png")
    title, values, _, _ = seen["rows"][0]
    assert "SNR" in title
    np.testing.assert_allclose(values["cell"], mu / sigma**2)
    np.testing.assert_allclose(values["cell"], rules.positive_snr(mu, sigma))
    assert plots.positive_snr is rules.positive_snr


def test_positive_snr_is_signed_mu_over_variance():
    loc, scale = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.5, 0.25])
    assert torch.equal(rules.positive_snr(loc, scale), torch.tensor([2.0, -4.0, 8.0]))


def test_snr_never_selects_a_pruned_op_when_every_kept_snr_is_negative():
    """NB201 edges pruned to {skip, conv 1x1, conv 3x3} (``none`` and the pool removed), every kept μ < 0:
    each edge gets the kept op with the largest (least negative) μ/σ², never a pruned one."""
    space = get_space("nb201")
    torch.manual_seed(0)
    net = Supernet(space, 4, 1, 1, 3)
    keep = torch.tensor([[1, 2, 3]] * 6)  # indices into the full op set: skip_connect, nor_conv_1x1, nor_conv_3x3
    prune_supernet(net, {"cell": keep})
    loc = -torch.rand(6, 3) - 0.1
    scale = 0.5 + torch.rand(6, 3)
    guide = SimpleNamespace(loc_scale=lambda: {"cell": (loc, scale)})
    search = SimpleNamespace(space=space, supernet=net, guide=guide)
    genotype = rules.select_snr(search)
    kept_names = [space.ops[i] for i in keep[0]]
    expected = [kept_names[int(i)] for i in (loc / scale**2).argmax(-1)]
    chosen = [op for op, _, _ in genotype.cells["cell"]]
    assert chosen == expected, (chosen, expected)
    assert "none" not in chosen and "avg_pool_3x3" not in chosen
