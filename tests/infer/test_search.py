"""End-to-end searches on real data (scikit-learn digits, Fashion-MNIST)."""

import json

import pytest
import torch

from pyronas.callbacks.base import Callback
from pyronas.config import ConfigError, load_config
from pyronas.data.datasets import load_dataset
from pyronas.infer import NonFiniteLossError, Search, load_run, run_search

TINY = [
    "space=nb201", "supernet.C=4", "supernet.layers=1", "data.name=digits", "data.batch_size=32",
    "search.epochs=2", "search.steps_per_epoch=6", "optim.arch.lr=0.01",
]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_search_writes_all_outputs(tmp_path, digits):
    cfg = load_config(overrides=TINY)
    g = run_search(cfg, tmp_path, progress_bar=False, data=digits)
    for name in ("config.yaml", "genotype.json", "history.json", "metrics.json", "checkpoint.pt", "search.log"):
        assert (tmp_path / name).stat().st_size > 0, name
    history = json.loads((tmp_path / "history.json").read_text())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1] and len(metrics) == 2
    probs = torch.tensor(history[-1]["op_probs"]["cell"])
    assert probs.shape == (6, 5) and torch.allclose(probs.sum(-1), torch.ones(6))
    assert json.loads((tmp_path / "genotype.json").read_text())["string"] == str(g)
    # the architecture moved away from uniform
    assert (probs - 0.2).abs().max() > 1e-3


class _Interrupt(Callback):
    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, search, step):
        if step == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop_at", [6, 9])  # an epoch boundary and mid-epoch
def test_resume_gives_the_same_result(tmp_path, digits, stop_at):
    cfg = load_config(overrides=TINY + ["search.epochs=3"])
    full = run_search(cfg, tmp_path / "full", progress_bar=False, data=digits)

    s = Search(cfg, tmp_path / "cut", data=digits)
    s.callbacks.append(_Interrupt(stop_at))
    with pytest.raises(KeyboardInterrupt):
        s.run(progress_bar=False)
    resumed = run_search(cfg, tmp_path / "cut", resume=True, progress_bar=False, data=digits)

    assert str(resumed) == str(full)
    h_full = json.loads((tmp_path / "full" / "history.json").read_text())
    h_cut = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert h_full == h_cut
    m_full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    m_cut = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert [m["val_loss"] for m in m_full] == [m["val_loss"] for m in m_cut]


def test_second_order_search_runs(tmp_path, digits):
    cfg = load_config(overrides=TINY + ["search.order=2", "search.epochs=1", "search.steps_per_epoch=3"])
    s = Search(cfg, None, data=digits)
    before = s.guide.alpha["cell"].detach().clone()
    s.run(progress_bar=False)
    assert not torch.equal(before, s.guide.alpha["cell"])


def test_nan_loss_stops_with_clear_message_and_keeps_checkpoint(tmp_path, digits):
    cfg = load_config(overrides=TINY + ["search.epochs=3"])
    s = Search(cfg, tmp_path, data=digits)

    class _Poison(Callback):
        def on_step_end(self, search, step):
            if step == 7:  # inside epoch 1, after epoch 0's checkpoint
                with torch.no_grad():
                    search.supernet.classifier.weight.fill_(float("nan"))

    s.callbacks.append(_Poison())
    with pytest.raises(NonFiniteLossError, match="loss became nan at epoch 1"):
        s.run(progress_bar=False)
    kept = load_run(tmp_path, data=digits)
    assert kept.epoch == 1 and torch.isfinite(kept.supernet.classifier.weight).all()


def test_two_searches_in_one_process_do_not_share_state(digits):
    cfg = load_config(overrides=TINY + ["search.epochs=1"])
    a = Search(cfg, None, data=digits)
    a.run(progress_bar=False)
    b = Search(cfg, None, data=digits)
    assert not torch.equal(a.guide.alpha["cell"], b.guide.alpha["cell"])
    c = Search(cfg, None, data=digits)
    assert torch.equal(b.guide.alpha["cell"], c.guide.alpha["cell"])  # same seed, fresh state


def test_order_two_refused_for_once_differentiable_guides(digits):
    from pyronas.guides.delta import DeltaGuide

    DeltaGuide.supports_second_order = False
    try:
        with pytest.raises(ConfigError, match="search.order: 2 is not supported"):
            Search(load_config(overrides=TINY + ["search.order=2"]), None, data=digits)
    finally:
        del DeltaGuide.supports_second_order


@pytest.mark.requires("fashion_mnist")
def test_short_search_on_fashion_mnist_beats_chance(tmp_path):
    cfg = load_config(
        overrides=[
            "space=nb201", "supernet.C=8", "supernet.layers=1", "data.portion=0.05", "data.image_size=16",
            "search.epochs=2", "optim.arch.lr=0.003",
        ]
    )
    run_search(cfg, tmp_path, progress_bar=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics[-1]["val_acc"] > 0.55  # 10 classes: chance is 0.10


def test_unequal_split_runs_as_many_steps_as_the_smaller_split_has_batches(digits):
    cfg = load_config(overrides=TINY + ["data.split=0.8", "search.epochs=1", "search.steps_per_epoch=null"])
    s = Search(cfg, None, data=digits)
    assert s.steps_per_epoch == len(s.arch_batches) < len(s.weight_batches)
    s.run(progress_bar=False)
    assert s.global_step == len(s.arch_batches)
