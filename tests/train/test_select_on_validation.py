"""`pyronas train` and `pyronas random` select on a validation split only: the test set is evaluated once, for the
chosen model, and a test set that favours another cell does not change the choice."""

from __future__ import annotations

import json
import math

import torch

from pyronas.export import load_run_network
from pyronas.nn.spaces import Genotype, get_space
from pyronas.train.config import NetworkSection, TrainSection, load_train_config
from pyronas.train.protocol import run_train
from pyronas.train.random_cells import SUMMARY, TEST_NOTE, random_search
from pyronas.train.trainer import METRICS, Trainer

CELL = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|"
SETS = ["network.C=4", "train.epochs=1", "train.cutout=0", "train.progress=false", "train.val_portion=0.25"]


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g),
            torch.randn(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g))


def _random(out, data, cfg):
    def train_one(genotype, run_dir):
        return run_train(cfg, genotype, run_dir, resume=True, data=(data, 10), test=False)

    def test_one(genotype, run_dir):
        return run_train(cfg, genotype, run_dir, resume=True, data=(data, 10))

    return random_search(get_space("nb201"), 3, train_one, out, seed=5, test_one=test_one)


def test_a_test_set_favouring_another_cell_does_not_change_the_random_choice(tmp_path, one_thread):
    cfg = load_train_config("configs/random_nb201_fmnist.yaml", SETS)
    data = _data()
    first = _random(tmp_path / "a", data, cfg)
    chosen = first["best"]["index"]
    assert first["best"]["test_note"] == TEST_NOTE == "test accuracy (reported once, not used for selection)"
    # a fake test set labelled by another cell's own predictions: that cell scores 100 % on it
    other = (chosen + 1) % 3
    net = load_run_network(tmp_path / "a" / f"arch_{other:02d}").network
    with torch.no_grad():
        fake_labels = net(data[2]).argmax(1)
    fake = (*data[:2], data[2], fake_labels)
    second = _random(tmp_path / "b", fake, cfg)
    assert second["best"]["index"] == chosen and second["best"]["val_acc"] == first["best"]["val_acc"]
    assert second["best"]["test_acc"] < 1.0  # the chosen one's test accuracy; the favoured cell's would be 1.0
    test_accs = [json.loads((tmp_path / "b" / f"arch_{k:02d}" / METRICS).read_text())["test_acc"] for k in range(3)]
    assert sum(not math.isnan(a) for a in test_accs) == 1  # evaluated once, for the chosen architecture
    assert json.loads((tmp_path / "b" / SUMMARY).read_text())["selection"].startswith("validation accuracy")


def test_train_evaluates_the_validation_split_per_epoch_and_the_test_set_once(one_thread, monkeypatch):
    """The per-epoch evaluation is on the held-out validation split; the test tensors are read once, in report()."""
    import pyronas.train.trainer as trainer_module

    data = _data(1)
    seen = []
    real = trainer_module.evaluate

    def spy(net, x, y, batch_size=256):
        seen.append("test" if x is data[2] else "val" if len(x) == 16 else "other")
        return real(net, x, y, batch_size)

    monkeypatch.setattr(trainer_module, "evaluate", spy)
    genotype = Genotype.from_nb201_string(CELL)
    train = TrainSection(epochs=3, cutout=0, steps_per_epoch=2, progress=False, val_portion=0.25)
    result = Trainer(genotype, NetworkSection(C=4, layers=1, auxiliary=False), train, data, 10, batch_size=16).run()
    assert seen == ["val", "val", "val", "test"]
    assert all("val_acc" in r and "test_acc" not in r for r in result.history)
    assert result.val_acc == result.history[-1]["val_acc"] and 0 <= result.test_acc <= 1
