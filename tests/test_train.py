"""Retraining protocol: schedules, FLOPs, checkpoint/resume, real Fashion-MNIST accuracy."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pyronas.network import Network
from pyronas.spaces import Genotype
from pyronas.train import (
    METRICS,
    NetworkSection,
    Trainer,
    TrainSection,
    cosine_lr,
    count_flops,
    drop_path_schedule,
)

FMNIST = Path("/usr/share/datasets/fashion-mnist")
NB201_RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
# A cell a NAS-Bench-201 search typically finds (mostly 3x3 convolutions; the benchmark's best CIFAR-10 cell).
NB201_FOUND = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def _fashion_mnist(n_train: int, n_test: int):
    if not FMNIST.exists():
        pytest.skip("Fashion-MNIST not available")

    def images(name, n):
        x = torch.tensor(_idx(FMNIST / name)[:n]).float().div(255)
        return ((x - 0.2860) / 0.3530)[:, None]

    def labels(name, n):
        return torch.tensor(_idx(FMNIST / name)[:n]).long()

    return (
        images("train-images-idx3-ubyte.gz", n_train),
        labels("train-labels-idx1-ubyte.gz", n_train),
        images("t10k-images-idx3-ubyte.gz", n_test),
        labels("t10k-labels-idx1-ubyte.gz", n_test),
    )


def test_schedules():
    assert drop_path_schedule(0, 600, 0.2) == 0.0
    assert drop_path_schedule(300, 600, 0.2) == pytest.approx(0.1)
    assert cosine_lr(0, 10, 0.025, 0.001) == pytest.approx(0.025)
    assert cosine_lr(5, 10, 0.025, 0.001) == pytest.approx(0.013)
    assert cosine_lr(10, 10, 0.025, 0.001) == pytest.approx(0.001)
    assert cosine_lr(3, 10, 0.1, 0.0) == pytest.approx(0.05 * (1 + math.cos(0.3 * math.pi)))


def test_flops_of_nb201_resnet_cell_match_benchmark():
    net = Network.from_genotype(Genotype.from_nb201_string(NB201_RESNET), "nb201", 16, 5, 3, 10)
    flops, macs = count_flops(net, (3, 32, 32))
    # NAS-Bench-201 cost_info of this cell on CIFAR-10: 'flops': 78.56193 (M multiply-accumulates).
    assert macs == pytest.approx(78.56193, abs=1e-4)
    assert flops == pytest.approx(2 * macs)


def _tiny_trainer(out_dir, data, epochs=2):
    genotype = Genotype.from_nb201_string(NB201_FOUND)
    cfg = TrainSection(epochs=epochs, batch_size=32, lr=0.05, cutout=8, crop_padding=2, progress=False)
    return Trainer(genotype, NetworkSection(C=4, layers=1, auxiliary=True), cfg, data, 10, out_dir, seed=3)


def test_checkpoint_resume_reproduces_uninterrupted_run(tmp_path):
    torch.manual_seed(0)
    data = (
        torch.randn(96, 1, 12, 12),
        torch.randint(0, 10, (96,)),
        torch.randn(40, 1, 12, 12),
        torch.randint(0, 10, (40,)),
    )
    full = _tiny_trainer(tmp_path / "a", data).run()
    _tiny_trainer(tmp_path / "b", data).run(max_epochs=1)
    resumed = _tiny_trainer(tmp_path / "b", data)
    resumed.resume(tmp_path / "b")
    assert resumed.epoch == 1
    result = resumed.run()
    assert result.epochs == 2
    assert result.test_loss == pytest.approx(full.test_loss, rel=1e-5)
    assert [h["train_loss"] for h in result.history] == pytest.approx([h["train_loss"] for h in full.history])
    written = json.loads((tmp_path / "b" / METRICS).read_text())
    assert written["test_acc"] == result.test_acc and written["params_M"] > 0 and written["macs_M"] > 0


def test_found_nb201_cell_learns_fashion_mnist(tmp_path):
    torch.set_num_threads(1)
    data = _fashion_mnist(2000, 1000)
    genotype = Genotype.from_nb201_string(NB201_FOUND)
    cfg = TrainSection(epochs=4, batch_size=64, lr=0.1, cutout=0, crop_padding=2, progress=False)
    result = Trainer(genotype, NetworkSection(C=8, layers=1, auxiliary=False), cfg, data, 10, tmp_path).run()
    # 10 balanced classes: chance is 10 %; 4 epochs on 2000 images reach about 70 % on held-out test images.
    assert result.test_acc > 0.5
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.params_M == pytest.approx(
        sum(p.numel() for p in Network.from_genotype(genotype, "nb201", 8, 1, 1, 10).parameters()) / 1e6
    )
    assert result.wall_time_s > 0
