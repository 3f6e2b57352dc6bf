"""The papers' last departures (issue 29, section 3), each against the paper's or official code's figure:
DrNAS' NB201 warm-up and the official BatchNorm tracking, VINNAS' entropy at the dataset-level scale,
VIM-NAS' selection from the generator's mean and its paper-budget config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pyro
import pytest
import torch
import torch.nn as nn

from pyronas.config import load_config
from pyronas.infer.objectives import Objective, Schedule, TermSpec
from pyronas.infer.program import SupernetModel, as_arch_guide
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build
from pyronas.select.rules import select

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# the paper-scale search configs of the two official spaces (the CPU demos keep their measured settings)
PAPER_CONFIGS = sorted(
    p.name
    for p in CONFIGS.glob("*.yaml")
    if p.name.startswith(("darts_", "drnas_", "balenas_", "vimnas_"))
    and "fmnist" not in p.name
    and load_config(p).space in ("nb201", "darts")
)


def test_drnas_nb201_updates_the_architecture_from_epoch_0():
    """201-space/train_search.py calls architect.step every step (its `# if epoch >= 15:` is commented out);
    only the progressive script (DARTS-space, and 201-space/train_search_progressive.py) warms up 10 epochs."""
    assert load_config(CONFIGS / "drnas_nb201_cifar10.yaml").search.warmup_epochs == 0
    darts = load_config(CONFIGS / "drnas_darts_cifar10.yaml")
    assert darts.search.warmup_epochs == 0  # counted per stage instead (tests/callbacks/test_progressive_warmup.py)
    (progressive,) = [c for c in darts.search.callbacks if c.name == "progressive"]
    assert progressive.params["warmup_epochs"] == 10


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_track_batchnorm_running_stats_as_the_official_code(name):
    """DrNAS' TinyNetwork(track_running_stats=True), NAS-Bench-201's DARTS-V1.sh BN=1 and nn.BatchNorm2d's default in
    DARTS'/DrNAS' DARTS-space operations.py: every BatchNorm of the search cells keeps running statistics."""
    cfg = load_config(CONFIGS / name)
    assert cfg.supernet.track_running_stats
    net = Supernet(get_space(cfg.space), 4, 1, 1, 3, track_running_stats=cfg.supernet.track_running_stats)
    cell_bns = [m for n, m in net.named_modules() if isinstance(m, nn.BatchNorm2d) and "cells" in n]
    assert cell_bns and all(bn.track_running_stats for bn in cell_bns)


@pytest.mark.parametrize("name", ["vinnas_c.yaml", "vinnas_f.yaml", "vinnas_m.yaml"])
def test_vinnas_configs_keep_batchnorm_tracking_off_as_the_paper(name):
    """VINNAS sec. V, search settings: "We disable tracking of BN's learnable parameters for affine transformation
    or stats tracking"."""
    assert load_config(CONFIGS / name).supernet.track_running_stats is False


def test_the_option_stays_and_the_demo_configs_keep_it_off():
    assert len(PAPER_CONFIGS) >= 20
    assert not load_config(CONFIGS / "drnas_nb201_fmnist.yaml").supernet.track_running_stats
    net = Supernet(get_space("nb201"), 4, 1, 1, 3, track_running_stats=False)
    assert not any(m.track_running_stats for m in net.modules() if isinstance(m, nn.BatchNorm2d) and m.affine is False)


def test_vinnas_entropy_enters_the_per_datum_loss_with_1_over_n():
    """VINNAS eq. 8 / appendix eq. 16 is dataset-level: −Σ_data log p + γ1 KL_w + γ2 KL_α + γ3 Σ H. Divided by N
    (the per-datum loss), γ3's term is γ3 · Σ H / N. A point-mass guide makes Σ H = Σ_edges H(softmax α̂) exact."""
    torch.manual_seed(0)
    net = Supernet(get_space("nb201"), 2, 1, 1, 3)
    model = SupernetModel(net, build("models", "flat", {}, net, where="m"))
    guide = as_arch_guide(build("guides", "delta", {}, model, where="g"), model)
    with torch.no_grad():
        for p in guide.arch_parameters():
            p.copy_(torch.randn_like(p))
    x, y, n_data, gamma3 = torch.randn(4, 1, 6, 6), torch.randint(0, 3, (4,)), 1000, 0.5
    plain = Objective(pyro.infer.Trace_ELBO())
    with_entropy = Objective(pyro.infer.Trace_ELBO(), [TermSpec("entropy", Schedule(gamma3))])
    net.eval()  # no batch statistics: both losses see the same network function
    base = plain.loss(model, guide, x, y, n_data)[0]
    total = with_entropy.loss(model, guide, x, y, n_data)[0]
    probs = torch.softmax(guide.alpha_guide.alpha["cell"].detach(), -1)
    h = float(-(probs * probs.log()).sum())
    assert float((total - base).detach()) == pytest.approx(gamma3 * h / n_data, rel=1e-4)


class _Constant(nn.Module):
    """φ replaced by a fixed μ map: returns μ as a ``[1, 1, edges, ops]`` image."""

    def __init__(self, mu: torch.Tensor):
        super().__init__()
        self.register_buffer("mu", mu)

    def forward(self, eps: torch.Tensor) -> torch.Tensor:
        return self.mu[None, None]


def test_vimnas_configs_select_the_exact_argmax_of_the_generator_mean():
    """Alg. 1 line 7 derives the architecture from the learned φ: argmax of μ_φ per edge. On near-tied edges the
    256-draw Monte-Carlo E[softmax(μ + ξ)] of the `mean` rule picks another op on some edge; the configs' rule
    does not."""
    space = get_space("nb201")
    net = Supernet(space, 2, 1, 1, 3)
    model = SupernetModel(net, build("models", "flat", {}, net, where="m"))
    guide = as_arch_guide(build("guides", "vim", {}, model, where="g"), model)
    mu = torch.full((6, 5), -3.0)
    mu[:, 1], mu[:, 3] = 0.0, 0.01  # op 3 ahead of op 1 by 0.01 on every edge
    guide.alpha_guide.phi["cell"] = _Constant(mu)
    search = SimpleNamespace(space=space, supernet=net, guide=guide)
    search.op_probs = lambda: {k: net.to_full(k, v) for k, v in guide.op_probs().items()}
    exact = [space.ops[3]] * 6
    assert [op for op, _, _ in select(search, "mean", {}).cells["cell"]] != exact  # the Monte-Carlo flips
    for name in ["vimnas_nb201.yaml", "vimnas_nb201_fmnist.yaml", "vimnas_darts.yaml", "vimnas_dropout_nb201.yaml"]:
        cfg = load_config(CONFIGS / name)
        if cfg.space != "nb201":
            assert cfg.select.rule == "loc"
            continue
        assert [op for op, _, _ in select(search, cfg.select.rule, cfg.select.params).cells["cell"]] == exact, name


def test_vimnas_paper_budget_config_is_pretraining_then_one_architecture_epoch():
    today = load_config(CONFIGS / "vimnas_nb201_fmnist.yaml")
    paper = load_config(CONFIGS / "vimnas_nb201_fmnist_paper_budget.yaml")
    assert paper.search.epochs == paper.search.warmup_epochs + 1
    assert paper.search.warmup_epochs > today.search.warmup_epochs
    assert paper.search.epochs == today.search.epochs  # the same total budget, split differently
    for section in ("space", "supernet", "data", "model", "guide", "objective", "optim", "select"):
        assert getattr(paper, section) == getattr(today, section), section
