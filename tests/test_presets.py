"""Method presets (pyronas.methods): each agrees with its packaged config on the method-defining keys, builds the
paper's program, and runs in a hand loop with BilevelSVI and in Search; StepResult gives floats."""

import json
import math
import warnings
from pathlib import Path

import pyro
import pytest
import torch

from pyronas import methods
from pyronas.bench.compare import METHODS as COMPARE_METHODS
from pyronas.config import load_config
from pyronas.data.datasets import Dataset
from pyronas.errors import ConfigError
from pyronas.infer.engine import StepResult
from pyronas.nn.spaces import Genotype

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: a second thread only waits on a busy machine

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# (method, budget) -> (packaged config, overrides): the file whose method-defining keys the preset must equal
FILES = {
    ("darts", "paper"): ("darts_nb201_cifar10", []),
    ("drnas", "paper"): ("drnas_nb201_cifar10", []),
    ("vinnas", "paper"): ("vinnas_m", []),
    ("balenas", "paper"): ("balenas_nb201", []),
    ("balenas_tf", "paper"): ("balenas_tf_nb201", []),
    ("vimnas", "paper"): ("vimnas_nb201", []),
    **{(m, "cpu"): (COMPARE_METHODS[m][0].removesuffix(".yaml"), COMPARE_METHODS[m][1]) for m in methods.METHODS},
}
METHOD_KEYS = ("model", "guide", "objective", "optim", "select")


def _defining(cfg) -> dict:
    d = cfg.to_dict()
    return {**{k: d[k] for k in METHOD_KEYS}, "order": d["search"]["order"], "arch_first": d["search"]["arch_first"]}


def test_every_seed_method_has_a_preset_for_every_budget():
    assert set(methods.METHODS) == {"darts", "drnas", "vinnas", "balenas", "balenas_tf", "vimnas"}
    assert set(FILES) == {(m, b) for m in methods.METHODS for b in methods.BUDGETS}


@pytest.mark.parametrize(("method", "budget"), sorted(FILES))
def test_preset_config_equals_the_packaged_config_on_the_method_keys(method, budget):
    name, overrides = FILES[(method, budget)]
    expected = _defining(load_config(CONFIGS / f"{name}.yaml", overrides))
    assert _defining(methods.method_config(method, budget=budget)) == expected


@pytest.mark.parametrize(("config", "method"), [("demo_nb201_fmnist", "balenas_tf"),
                                                ("demo_drnas_nb201_fmnist", "drnas")])
def test_demo_configs_are_the_cpu_presets(config, method):
    cfg = load_config(CONFIGS / f"{config}.yaml")
    preset_cfg = methods.method_config(method, budget="cpu")
    assert _defining(cfg) == _defining(preset_cfg)
    for section in ("space", "supernet", "data"):  # and the comparison's budget
        assert cfg.to_dict()[section] == preset_cfg.to_dict()[section], section
    assert (cfg.search.epochs, cfg.search.warmup_epochs, cfg.search.eval_batches) == (3, 1, 8)


@pytest.mark.parametrize(("method", "prior", "guide", "arch_optim"), [
    ("darts", "FlatPrior", "DeltaGuide", torch.optim.Adam),
    ("drnas", "DirichletPrior", "DirichletGuide", torch.optim.Adam),
    ("vinnas", "LogUniformAlphaPrior", "MeanFieldAlphaGuide", torch.optim.Adam),
    ("balenas", "GaussianPrior", "BalenasGuide", None),
    ("vimnas", "FlatPrior", "VIMGuide", torch.optim.SGD),
])
def test_preset_builds_the_papers_program(method, prior, guide, arch_optim):
    p = methods.preset(method, budget="cpu", overrides=["supernet.C=4"])
    assert type(p.model.prior.alpha).__name__ == prior
    assert type(p.guide.alpha_guide).__name__ == guide
    if arch_optim is not None:
        assert type(p.arch_optim) is arch_optim
    else:
        assert type(p.arch_optim).__name__ == "VAdam"
    arch = {id(t) for t in p.guide.arch_parameters()}
    assert {id(t) for g in p.arch_optim.param_groups for t in g["params"]} == arch
    assert not arch & {id(t) for g in p.weight_optim.param_groups for t in g["params"]}  # no parameter in both


def test_drnas_anchors_are_the_papers_two_objectives():
    l2 = methods.drnas(budget="cpu", lam=2e-3).config.objective
    assert (l2.elbo, [(t.name, t.weight) for t in l2.terms], l2.kl_scales["alpha/"].weight) == (
        "trace", [("l2_anchor", 2e-3)], 0.0)
    kl = methods.drnas(budget="cpu", anchor="kl")
    assert kl.config.objective.elbo == "meanfield" and kl.config.objective.terms == []
    assert isinstance(kl.objective.elbo, pyro.infer.TraceMeanField_ELBO)
    assert kl.config.objective.kl_scales["alpha/"].weight == 1.0


def test_unknown_method_budget_or_option_is_a_config_error():
    with pytest.raises(ConfigError, match="method 'enas': unknown .*drnas"):
        methods.preset("enas")
    with pytest.raises(ConfigError, match="budget 'huge': unknown .*paper, cpu"):
        methods.drnas(budget="huge")
    with pytest.raises(ConfigError, match="darts: .*anchor"):
        methods.preset("darts", anchor="kl")
    with pytest.raises(ConfigError, match="search.epochs"):
        methods.drnas(overrides=["search.epochs=0"])


def _tiny_data(n: int = 64, seed: int = 0) -> Dataset:
    """Images whose class is the sign pattern of two pixel blocks: learnable by any cell in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    x[:, 0, :4, :4] += (y % 2).float()[:, None, None] * 2 - 1
    x[:, 0, 4:, 4:] += (y // 2).float()[:, None, None] * 2 - 1
    return Dataset(x, y, 10)


def test_hand_loop_with_a_preset_learns_and_returns_floats():
    p = methods.drnas(budget="cpu", overrides=["supernet.C=4"])
    data = _tiny_data()
    wb, ab = (data.x[:32], data.y[:32]), (data.x[32:], data.y[32:])
    svi = p.svi(weight_size=32, arch_size=32)
    assert (svi.order, svi.arch_first, svi.weight_clip) == (1, True, 5.0)  # the config's
    beta_before = [t.detach().clone() for t in p.guide.arch_parameters()]
    losses = []
    with pyro.validation_enabled(False):
        for _ in range(25):
            r = svi.step(wb, ab, progress=1.0)
            losses.append(r.weight_loss)
    assert isinstance(r.weight_loss, float) and isinstance(r.arch_loss, float)
    assert math.isfinite(r.weight_loss) and r.weight_loss == r.tensors()["weight_loss"].item()
    assert r.tensors()["arch_loss"].item() == r.arch_loss
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5  # the weights learn the pattern
    assert any(not torch.equal(a, b.detach()) for a, b in zip(beta_before, p.guide.arch_parameters(), strict=True))
    assert f"weight_loss={r.weight_loss:.4f}" in repr(r)


def test_step_result_item_still_works_with_a_warning_naming_the_new_spelling():
    r = StepResult(torch.tensor(1.5), None)
    assert r.arch_loss is None and r.tensors() == {"weight_loss": r.weight_loss_tensor, "arch_loss": None}
    with pytest.warns(DeprecationWarning, match="use result.weight_loss"):
        assert r.weight_loss.item() == 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert r.weight_loss + 1 == 2.5  # plain float use warns nothing


def test_no_arch_update_gives_no_arch_loss():
    p = methods.darts(budget="cpu", overrides=["supernet.C=4"])
    data = _tiny_data(16)
    r = p.svi(weight_size=8, arch_size=8).step((data.x[:8], data.y[:8]), (data.x[8:], data.y[8:]), update_arch=False)
    assert r.arch_loss is None and r.tensors()["arch_loss"] is None and isinstance(r.weight_loss, float)


def test_preset_runs_in_search_with_its_own_model_and_guide(tmp_path):
    p = methods.balenas(budget="cpu", num_data=32, overrides=[
        "supernet.C=4", "data.batch_size=16", "data.portion=1.0", "search.epochs=2", "search.steps_per_epoch=2",
        "search.eval_batches=1"])
    search = p.search(tmp_path / "run", data=_tiny_data())
    assert search.model is p.model and search.guide is p.guide
    genotype = search.run(progress_bar=False)
    assert isinstance(genotype, Genotype) and len(search.metrics) == 2
    saved = Genotype.from_dict(json.loads((tmp_path / "run" / "genotype.json").read_text()))
    assert str(saved) == str(genotype)
