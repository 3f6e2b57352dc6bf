"""DrNAS end to end on real Fashion-MNIST: search, progressive stages, resume after a stage change."""

from __future__ import annotations

import json

import pytest
import torch

from pyronas.config import ConfigError, load_config
from pyronas.infer import Search, load_run, make_objective
from pyronas.infer.program import SupernetModel
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.registry import build

FMNIST = "configs/drnas_nb201_fmnist.yaml"
TINY = [
    "data.portion=0.05",       # 3,000 images -> 1,500 / 1,500
    "data.image_size=12",
    "supernet.C=4",
    "search.epochs=3",
    "search.warmup_epochs=0",
]


@pytest.mark.requires("fashion_mnist")
def test_short_drnas_search_beats_chance_and_beta_leaves_the_anchor(tmp_path):
    cfg = load_config(FMNIST, TINY)
    search = Search(cfg, tmp_path)
    eta0 = {k: v.detach().clone() for k, v in search.guide.eta.items()}
    genotype = search.run(progress_bar=False)
    acc = search.metrics[-1]["val_acc"]
    assert acc > 0.35, search.metrics  # chance is 0.10 on the arch split's 10 balanced classes
    for k, eta in search.guide.eta.items():
        assert eta0[k].abs().max() < 0.01
        moved = (eta.detach() - eta0[k]).abs().max()
        assert moved > 0.05, moved  # β = ELU(η) + 1 moved away from the anchor β = 1
    assert (tmp_path / "genotype.json").exists() and genotype.cells["cell"]
    # eq. 4: the genotype is the argmax of the Dirichlet mean
    probs = search.guide.op_probs()["cell"]
    ops = search.space.ops
    assert [op for op, _, _ in genotype.cells["cell"]] == [ops[int(i)] for i in probs.argmax(-1)]
    lines = [json.loads(ln) for ln in (tmp_path / "exploration.jsonl").read_text().splitlines()]
    assert [ln["epoch"] for ln in lines] == [0, 1, 2]
    assert all(ln["n"] == 100 and 1 <= ln["distinct"] <= 100 for ln in lines)


@pytest.mark.requires("fashion_mnist")
def test_order_two_is_refused_for_the_dirichlet_guide():
    cfg = load_config(FMNIST, TINY + ["search.order=2"])
    with pytest.raises(ConfigError, match="order"):
        Search(cfg, None)


PROGRESSIVE = TINY + [
    "search.epochs=3",
    "search.steps_per_epoch=4",
    "supernet.partial_channels=2",
    "search.callbacks=[{name: progressive, params: {epochs: [1, 2], partial_channels: [2, 1], num_ops: [5, 3]}},"
    " {name: exploration, params: {num_samples: 20}}]",
]


@pytest.mark.requires("fashion_mnist")
def test_progressive_stages_and_resume_after_a_stage_change(tmp_path):
    cfg = load_config(FMNIST, PROGRESSIVE)
    full = Search(cfg, tmp_path / "full")
    full.run(progress_bar=False)
    cb = full.callbacks[0]
    assert cb.stage == 1 and full.supernet.arch_shapes() == {"cell": (6, 3)}
    assert [m["partial_channels"] for m in cb.memory] == [2, 1] and [m["num_ops"] for m in cb.memory] == [5, 3]
    # stage 2 kept, on every edge, the 3 ops of largest β at the end of stage 1
    stage1 = torch.tensor(full.history[0]["op_probs"]["cell"])
    kept = [sorted(full.space.ops.index(o) for o in e) for e in full.supernet.candidate_ops("cell")]
    assert kept == [sorted(p.topk(3).indices.tolist()) for p in stage1]

    # same run, stopped after epoch 2 (one epoch into stage 2), then resumed from its checkpoint
    part = Search(cfg, tmp_path / "part")
    (tmp_path / "part").mkdir()
    part.cfg.save(tmp_path / "part" / "config.yaml")
    while part.epoch < 2:
        part._run_epoch(bar=_NoBar())
    study = tmp_path / "part" / "exploration.jsonl"
    with open(study, "a") as f:  # a line written after the last checkpoint, before an interruption
        f.write(json.dumps({"epoch": 2, "n": 20}) + "\n")
    resumed = load_run(tmp_path / "part")
    assert resumed.epoch == 2 and resumed.supernet.arch_shapes() == {"cell": (6, 3)}
    resumed.run(progress_bar=False)
    assert [json.loads(ln)["epoch"] for ln in study.read_text().splitlines()] == [0, 1, 2]
    assert study.read_text() == (tmp_path / "full" / "exploration.jsonl").read_text()
    for k in full.guide.eta:
        assert torch.allclose(resumed.guide.eta[k], full.guide.eta[k], atol=1e-6)
    for (n, a), (_, b) in zip(full.supernet.state_dict().items(), resumed.supernet.state_dict().items(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), n


class _NoBar:
    def update(self, n, **postfix):  # the pyronas.progress.Progress interface
        pass

    def set_postfix(self, **kw):
        pass


def _kl_of(eta: torch.Tensor) -> torch.Tensor:
    beta = torch.nn.functional.elu(eta) + 1
    q = torch.distributions.Dirichlet(beta)
    return torch.distributions.kl_divergence(q, torch.distributions.Dirichlet(torch.ones_like(beta))).sum()


@pytest.mark.parametrize("anchor", ["l2", "kl"])
def test_config_anchor_variants_build_the_documented_objective(anchor):
    """The two anchors as configs (the comments of the DrNAS configs): same batch and noise, the
    losses differ from the masked-KL cross-entropy by exactly ½λ‖η‖² resp. KL(Dir(β) ‖ Dir(1)) / N."""
    sets = [] if anchor == "l2" else ["objective.elbo=meanfield", "objective.terms=[]",
                                      'objective.kl_scales={"alpha/": {weight: 1.0}}']
    objective = make_objective(load_config(FMNIST, sets))
    plain = make_objective(load_config(FMNIST, ["objective.terms=[]"]))
    torch.manual_seed(0)
    net = Supernet(get_space("nb201"), C=4, layers=1, in_channels=1, num_classes=3).eval()
    model = SupernetModel(net, build("models", "dirichlet", {}, net, where="model"))
    guide = build("guides", "dirichlet", {}, model, where="guide")
    with torch.no_grad():
        guide.eta["cell"].copy_(torch.linspace(-1.5, 2.0, 30).reshape(6, 5))
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 3, (6,))
    torch.manual_seed(3)
    loss, _ = objective.loss(model, guide, x, y, 500)
    torch.manual_seed(3)
    ce, _ = plain.loss(model, guide, x, y, 500)
    eta = guide.eta["cell"].detach()
    extra = 0.5e-3 * (eta**2).sum() if anchor == "l2" else _kl_of(eta) / 500
    assert torch.allclose(loss - ce, extra, atol=1e-6), (loss - ce, extra)


@pytest.mark.parametrize("path", ["configs/drnas_nb201_cifar10.yaml", "configs/drnas_darts_cifar10.yaml"])
def test_paper_configs_validate(path):
    from pyronas.callbacks.base import load_callback

    cfg = load_config(path)
    assert cfg.model.name == cfg.guide.name == "dirichlet" and cfg.search.order == 1
    objective = make_objective(cfg)
    assert [t.name for t in objective.terms] == ["l2_anchor"] and objective.terms[0].schedule(0) == 1e-3
    assert objective.kl_scales["alpha/"](0) == 0.0
    for i, c in enumerate(cfg.search.callbacks):
        cb = load_callback(c.name, c.params, f"search.callbacks[{i}]")
        if c.name == "progressive":
            assert sum(cb.epochs) == cfg.search.epochs and cb.partial_channels[0] == cfg.supernet.partial_channels


@pytest.mark.slow
@pytest.mark.requires("fashion_mnist")
def test_darts_space_progressive_search_runs(tmp_path):
    """The DARTS-space config with progressive learning (K 6 -> 3, 8 -> 4 ops), shrunk to CPU size."""
    sets = [
        "device=cpu", "data.name=fashion_mnist", "data.portion=0.02", "data.image_size=16", "data.augment=false",
        "supernet.C=12", "supernet.layers=5", "search.epochs=2", "search.warmup_epochs=0",
        "search.steps_per_epoch=5",
        "search.callbacks=[{name: progressive, params: {epochs: [1, 1], num_ops: [8, 4], partial_channels: [6, 3]}},"
        " {name: exploration, params: {num_samples: 20}}]",
    ]
    search = Search(load_config("configs/drnas_darts_cifar10.yaml", sets), tmp_path)
    genotype = search.run(progress_bar=False)
    assert search.supernet.arch_shapes() == {"normal": (14, 4), "reduce": (14, 4)}
    mem = search.callbacks[0].memory
    assert [m["partial_channels"] for m in mem] == [6, 3]
    assert 0.7 < mem[1]["peak_mib"] / mem[0]["peak_mib"] < 1.3, mem
    assert len(genotype.cells["normal"]) == 8 and len(genotype.cells["reduce"]) == 8
