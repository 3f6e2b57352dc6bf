"""A short BaLeNAS search on a Fashion-MNIST subset (nb201, tiny), end to end through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pyronas.config import load_config
from pyronas.infer import Search
from pyronas.optim.vadam import VAdam
from pyronas.select.rules import SELECTORS

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "balenas_nb201_fmnist.yaml"
TINY = [
    "data.portion=0.05",  # 3,000 images -> 1,500 / 1,500
    "data.image_size=12",
    "data.batch_size=32",
    "supernet.C=4",
    "search.epochs=2",
    "search.warmup_epochs=0",
    "search.steps_per_epoch=25",
    "search.eval_batches=4",
    "optim.arch.params.num_data=1500",
]


pytestmark = pytest.mark.requires("fashion_mnist")


def test_balenas_search_beats_chance_and_sigma_is_vadam_state(tmp_path):
    cfg = load_config(CONFIG, TINY)
    search = Search(cfg, tmp_path)
    mu0 = {k: mu.detach().clone() for k, (mu, _) in search.guide.loc_scale().items()}
    genotype = search.run(progress_bar=False)
    assert isinstance(search.opt_a, VAdam)
    # arch-split accuracy of the plug-in prediction, 10 classes: chance is 0.1
    assert search.metrics[-1]["val_acc"] > 0.3
    for kind, (mu, sigma) in search.guide.loc_scale().items():
        s = search.opt_a.state[search.guide.mu[kind]]["s"]
        assert search.opt_a.state[search.guide.mu[kind]]["step"] == 50
        assert torch.allclose(sigma, (1500 * s + 1.0).rsqrt())
        assert (mu - mu0[kind]).abs().max() > 0.05  # VAdam moved the mean
    assert str(genotype) == str(SELECTORS["loc"](search))
    tf = SELECTORS["sample_score"](search, num_samples=10, proxy="synflow")
    assert tf.space == "nb201" and (tmp_path / "genotype.json").exists()


def test_balenas_second_order_runs(tmp_path):
    cfg = load_config(CONFIG, [*TINY, "search.order=2", "search.epochs=1", "search.steps_per_epoch=4"])
    search = Search(cfg, None)
    search.run(progress_bar=False)
    assert torch.isfinite(torch.tensor(search.metrics[-1]["val_loss"]))
    assert all(st["step"] == 4 for st in search.opt_a.state.values())
