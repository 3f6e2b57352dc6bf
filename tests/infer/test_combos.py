"""The mix-and-match configs (configs/combo_*.yaml) run end to end at tiny size on sklearn digits."""

from __future__ import annotations

import json

import pytest
import torch

from pyronas.config import load_config
from pyronas.data.datasets import load_dataset
from pyronas.guides.auto import AutoAlphaGuide
from pyronas.guides.balenas import BalenasGuide
from pyronas.guides.dirichlet import DirichletGuide
from pyronas.guides.mean_field import MeanFieldWeightGuide
from pyronas.infer import Search, run_search
from pyronas.infer.program import NoWeightGuide

TINY = [
    "data.name=digits",
    "data.portion=1.0",
    "data.image_size=null",
    "supernet.C=4",
    "data.batch_size=32",
    "search.epochs=1",
    "search.warmup_epochs=0",
    "search.steps_per_epoch=3",
    "search.eval_batches=1",
    "objective.kl_scales.w/.start_epoch=0",
    "objective.kl_scales.w/.end_epoch=0",
]

COMBOS = {
    "configs/combo_dirichlet_lu.yaml": (DirichletGuide, MeanFieldWeightGuide),
    "configs/combo_lowrank_alpha.yaml": (AutoAlphaGuide, NoWeightGuide),
    "configs/combo_balenas_bayesw.yaml": (BalenasGuide, MeanFieldWeightGuide),
}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("path", list(COMBOS))
def test_combination_config_searches_end_to_end(path, tmp_path, digits):
    cfg = load_config(path, TINY)
    search = Search(cfg, tmp_path, data=digits)
    alpha_cls, weight_cls = COMBOS[path]
    assert type(search.guide.alpha_guide) is alpha_cls and type(search.guide.weight_guide) is weight_cls
    # q(w)'s parameters train with the network weights, q(α)'s on the architecture split
    wp = {id(p) for p in search.svi.weight_params}
    assert all(id(p) in wp for p in search.guide.weight_guide.parameters())
    assert not any(id(p) in wp for p in search.svi.arch_params) and search.svi.arch_params
    genotype = run_search(cfg, tmp_path, progress_bar=False, data=digits)
    history = json.loads((tmp_path / "history.json").read_text())
    probs = torch.tensor(history[-1]["op_probs"]["cell"])
    assert probs.shape == (6, 5) and torch.allclose(probs.sum(-1), torch.ones(6), atol=1e-5)
    assert json.loads((tmp_path / "genotype.json").read_text())["string"] == str(genotype)
