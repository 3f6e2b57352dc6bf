"""The first step's KL / N against the likelihood (``pyronas.infer.first_step``) and the per-group example with its
ramp (``configs/combo_dirichlet_lu.yaml``, issue #29 §1)."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from pyronas.config import load_config
from pyronas.data.datasets import load_dataset
from pyronas.infer.first_step import FACTOR, kl_balance
from pyronas.infer.runner import Search

pytestmark = pytest.mark.requires("fashion_mnist")

TINY = ["data.portion=0.05", "data.image_size=8", "supernet.C=4", "data.batch_size=32", "data.eval_batch_size=64",
        "search.eval_batches=4", "output.checkpoint=false"]
NO_RAMP = 'objective.kl_scales={"alpha/": {weight: 0.0}, "w/": {weight: 1.0}}'


@pytest.fixture(scope="module")
def fmnist8():
    """Fashion-MNIST's training set at 8 px, read once for the module."""
    return load_dataset("fashion_mnist", None, True, False, 8)


@pytest.fixture
def search(fmnist8):
    def make(*overrides: str) -> Search:
        return Search(load_config("configs/combo_dirichlet_lu.yaml", [*TINY, *overrides]), data=fmnist8)

    return make


def test_the_terms_add_up_to_the_objective(search):
    """likelihood + Σ KL of ``kl_balance`` is the objective's loss on the same draw, and the likelihood term is
    the batch's cross-entropy."""
    s = search(NO_RAMP, "objective.elbo=meanfield")
    x, y = next(iter(s.weight_batches.epoch(0)))
    n = len(s.weight_data)
    torch.manual_seed(0)
    lik, kl = kl_balance(s.model, s.guide, s.objective, (x, y), n)
    torch.manual_seed(0)
    loss, rec = s.objective.loss(s.model, s.guide, x, y, n)
    assert set(kl) == {"alpha/", "w/"} and kl["alpha/"] == 0.0  # the α KL is masked by kl_scales
    assert lik + sum(kl.values()) == pytest.approx(loss.item(), rel=1e-5)
    assert lik == pytest.approx(F.cross_entropy(rec.logits, y).item(), rel=1e-5)


def test_without_a_ramp_the_weight_kl_is_warned_about_once(search, caplog):
    """The README's per-group example without a ramp: the weight KL / N dwarfs the cross-entropy at step 0."""
    s = search(NO_RAMP, "search.epochs=1", "search.warmup_epochs=0", "search.steps_per_epoch=2")  # no all-warm-up note
    x, y = next(iter(s.weight_batches.epoch(0)))
    lik, kl = kl_balance(s.model, s.guide, s.objective, (x, y), len(s.weight_data))
    assert kl["w/"] > FACTOR * lik
    with caplog.at_level(logging.WARNING, logger="pyronas"):
        s.run(progress_bar=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("objective.kl_scales.w/: at the first step the weight KL / N")
    assert "objective.kl_scales.w/.start_epoch / objective.kl_scales.w/.end_epoch" in warnings[0]


def test_the_shipped_ramp_starts_at_zero_and_beats_chance(search, caplog):
    """With its ramp (w/ from epoch 1 to 3) the example is not warned about and, at a tiny size (1,500 / 1,500
    images at 8 px, 2 epochs of 15 steps), classifies the architecture split well above chance (0.1); measured
    0.285-0.332 over seeds 0-2."""
    s = search("search.epochs=2", "search.steps_per_epoch=15")
    with caplog.at_level(logging.WARNING, logger="pyronas"):
        s.run(progress_bar=False)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "first step" in r.getMessage()]
    assert s.metrics[-1]["val_acc"] > 0.2
