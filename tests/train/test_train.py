"""Retraining protocol: schedules, FLOPs, checkpoint/resume, real Fashion-MNIST accuracy."""

import json
import math

import pytest
import torch

from pyronas.cli import main
from pyronas.config import ConfigError
from pyronas.data.datasets import load_dataset
from pyronas.nn.network import Network
from pyronas.nn.spaces import Genotype, get_space
from pyronas.optim.schedules import cosine_annealing
from pyronas.train.config import NetworkSection, TrainSection, load_train_config
from pyronas.train.protocol import run_train
from pyronas.train.random_cells import SUMMARY, random_genotypes, random_search
from pyronas.train.trainer import METRICS, Trainer, count_flops, drop_path_schedule

NB201_RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
# A cell a NAS-Bench-201 search typically finds (mostly 3x3 convolutions; the benchmark's best CIFAR-10 cell).
NB201_FOUND = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _fashion_mnist(n_train: int, n_test: int):
    train = load_dataset("fashion_mnist", train=True, image_size=16)
    test = load_dataset("fashion_mnist", train=False, image_size=16)
    return train.x[:n_train], train.y[:n_train], test.x[:n_test], test.y[:n_test]


def test_schedules():
    assert drop_path_schedule(0, 600, 0.2) == 0.0
    assert drop_path_schedule(300, 600, 0.2) == pytest.approx(0.1)
    assert cosine_annealing(0, 10, 0.025, 0.001) == pytest.approx(0.025)
    assert cosine_annealing(5, 10, 0.025, 0.001) == pytest.approx(0.013)
    assert cosine_annealing(10, 10, 0.025, 0.001) == pytest.approx(0.001)
    assert cosine_annealing(3, 10, 0.1, 0.0) == pytest.approx(0.05 * (1 + math.cos(0.3 * math.pi)))


def test_flops_of_nb201_resnet_cell_match_benchmark():
    net = Network.from_genotype(Genotype.from_nb201_string(NB201_RESNET), "nb201", 16, 5, 3, 10)
    flops, macs = count_flops(net, (3, 32, 32))
    # NAS-Bench-201 cost_info of this cell on CIFAR-10: 'flops': 78.56193 (M multiply-accumulates).
    assert macs == pytest.approx(78.56193, abs=1e-4)
    assert flops == pytest.approx(2 * macs)


def _tiny_trainer(out_dir, data, epochs=2):
    genotype = Genotype.from_nb201_string(NB201_FOUND)
    cfg = TrainSection(epochs=epochs, lr=0.05, cutout=8, crop_padding=2, progress=False)
    net = NetworkSection(C=4, layers=1, auxiliary=True)
    return Trainer(genotype, net, cfg, data, 10, batch_size=32, out_dir=out_dir, seed=3)


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


@pytest.mark.requires("fashion_mnist")
def test_found_nb201_cell_learns_fashion_mnist(tmp_path):
    torch.set_num_threads(1)
    data = _fashion_mnist(2000, 1000)  # 16x16 images for CPU speed
    genotype = Genotype.from_nb201_string(NB201_FOUND)
    cfg = TrainSection(epochs=4, lr=0.1, cutout=0, crop_padding=2, progress=False)
    net = NetworkSection(C=8, layers=1, auxiliary=False)
    result = Trainer(genotype, net, cfg, data, 10, batch_size=64, out_dir=tmp_path).run()
    # 10 balanced classes: chance is 10 %; 4 epochs on 2000 images reach about 70 % on 1000 held-out test images.
    assert result.test_acc > 0.5
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.params_M == pytest.approx(
        sum(p.numel() for p in Network.from_genotype(genotype, "nb201", 8, 1, 1, 10).parameters()) / 1e6
    )
    assert result.wall_time_s > 0


def test_train_config_validation_names_the_key(tmp_path):
    cfg = load_train_config("configs/train_darts_cifar10.yaml")
    assert (cfg.network.C, cfg.network.layers, cfg.data.batch_size, cfg.train.cutout) == (36, 20, 96, 16)
    with pytest.raises(ConfigError, match="train.drop_path_prob"):
        load_train_config("configs/train_nb201_fmnist.yaml", ["train.drop_path_prob=1.5"])
    with pytest.raises(ConfigError, match="train.lr: expected a number"):
        load_train_config("configs/train_nb201_fmnist.yaml", ["train.lr=fast"])
    with pytest.raises(ConfigError, match="network.width: unknown key"):
        load_train_config(network={"width": 3})


@pytest.mark.requires("fashion_mnist")
def test_cli_train_and_resume(tmp_path, capsys):
    torch.set_num_threads(1)
    run = tmp_path / "search"
    run.mkdir()
    Genotype.from_nb201_string(NB201_FOUND).save(run / "genotype.json")
    sets = [
        "data.portion=0.01",
        "data.image_size=16",
        "network.C=4",
        "train.epochs=2",
        "train.cutout=4",
        "train.eval_every=5",
    ]
    args = ["--quiet", "train", "--genotype", str(run), "--config", "configs/train_nb201_fmnist.yaml"]
    out = tmp_path / "train"
    assert main(args + [f"--set={s}" for s in sets] + ["--out", str(out)]) == 0
    metrics = json.loads((out / METRICS).read_text())
    assert metrics["epochs"] == 2 and len(metrics["history"]) == 2
    assert metrics["genotype"]["cells"] == Genotype.from_nb201_string(NB201_FOUND).to_dict()["cells"]
    assert "test accuracy" in capsys.readouterr().out
    # resuming a finished run trains nothing more and reports the same accuracy
    assert main(["--quiet", "train", "--resume", str(out)]) == 0
    assert json.loads((out / METRICS).read_text())["test_acc"] == metrics["test_acc"]
    assert main(["--quiet", "train", "--genotype", str(tmp_path / "nowhere"), "--config", "x.yaml"]) == 2


def test_random_search_baseline(tmp_path):
    torch.manual_seed(0)
    data = (
        torch.randn(64, 1, 8, 8),
        torch.randint(0, 10, (64,)),
        torch.randn(32, 1, 8, 8),
        torch.randint(0, 10, (32,)),
    )
    cfg = load_train_config(
        "configs/random_nb201_fmnist.yaml", ["network.C=4", "train.epochs=1", "train.cutout=0", "train.progress=false"]
    )
    space = get_space("nb201")

    def train_one(genotype, run_dir):
        return run_train(cfg, genotype, run_dir, resume=True, data=(data, 10), test=False)

    def test_one(genotype, run_dir):
        return run_train(cfg, genotype, run_dir, resume=True, data=(data, 10))

    summary = random_search(space, 3, train_one, tmp_path, seed=5, test_one=test_one)
    expected = random_genotypes(space, 3, seed=5)
    assert [r["genotype"]["cells"] for r in summary["runs"]] == [g.to_dict()["cells"] for g in expected]
    assert len({str(g) for g in expected}) == 3  # distinct random architectures
    written = [json.loads((tmp_path / f"arch_{k:02d}" / METRICS).read_text()) for k in range(3)]
    accs = [w["val_acc"] for w in written]
    assert summary["val_acc"]["mean"] == pytest.approx(sum(accs) / 3)
    best = summary["best"]["index"]
    assert summary["best"]["val_acc"] == max(accs) == accs[best]
    # the test set is evaluated once, for the chosen architecture only
    assert summary["best"]["test_acc"] == written[best]["test_acc"]
    assert all(math.isnan(w["test_acc"]) for k, w in enumerate(written) if k != best)
    assert json.loads((tmp_path / SUMMARY).read_text())["n"] == 3


@pytest.mark.requires("fashion_mnist")
def test_cli_random(tmp_path, capsys):
    torch.set_num_threads(1)
    sets = ["data.portion=0.005", "data.image_size=8", "network.C=4", "train.epochs=1", "train.cutout=0"]
    args = ["--quiet", "random", "--space", "nb201", "--n", "2", "--config", "configs/random_nb201_fmnist.yaml"]
    assert main(args + [f"--set={s}" for s in sets] + ["--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / SUMMARY).read_text())
    assert summary["n"] == 2 and (tmp_path / "arch_01" / METRICS).is_file()
    printed = capsys.readouterr().out
    assert "2 random nb201 architectures: validation accuracy" in printed
    assert "test accuracy (reported once, not used for selection)" in printed
