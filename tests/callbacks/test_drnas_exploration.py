"""DrNAS section 4.4 exploration study: diverse draws at the anchor, converged draws when β concentrates."""

from __future__ import annotations

import torch

from pyronas.callbacks.exploration import exploration_study
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build


def _program(space="nb201"):
    torch.manual_seed(0)
    net = Supernet(get_space(space), C=4, layers=1, in_channels=1, num_classes=3)
    model = SupernetModel(net, build("models", "dirichlet", {}, net, where="m"))
    return net, build("guides", "dirichlet", {}, model, where="g")


def test_exploration_at_the_anchor_is_diverse():
    net, guide = _program()
    rng = torch.get_rng_state()
    study = exploration_study(guide, net, get_space("nb201"), n=100, seed=0)
    assert torch.equal(rng, torch.get_rng_state())
    # 5^6 architectures, θ ~ Dir(1): nearly every draw is a different one
    assert study["distinct"] > 80 and study["match_mean"] < 0.1
    assert 0.1 < study["edge_agreement"] < 0.35  # ≈ 1/5 by symmetry
    assert sum(t["count"] for t in study["top"]) <= 100


def test_exploration_converges_when_beta_concentrates():
    net, guide = _program()
    space = get_space("nb201")
    chosen = torch.tensor([3, 1, 2, 3, 0, 2])
    with torch.no_grad():
        eta = torch.full((6, 5), -4.0)
        eta[torch.arange(6), chosen] = 30.0
        guide.eta["cell"].copy_(eta)
    study = exploration_study(guide, net, space, n=100, seed=1)
    expected = "+".join(
        "|" + "|".join(f"{space.ops[int(chosen[e])]}~{i}" for e, (i, j) in enumerate(space.edges) if j == t) + "|"
        for t in range(1, 4)
    )
    assert study["mean_genotype"] == expected
    assert study["distinct"] <= 3 and study["match_mean"] > 0.9 and study["edge_agreement"] > 0.98
    assert study["top"][0]["is_mean"]
