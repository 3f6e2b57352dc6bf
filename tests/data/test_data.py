"""Data loading from local files in the real on-disk formats, and the bilevel split."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from pyronas.data.datasets import Batches, DataError, bilevel_split, load_dataset


def _write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    opener = gzip.open if compress else open
    with opener(str(path) + (".gz" if compress else ""), "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_idx_folder(tmp_path, compress):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 8)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress)
    train = load_dataset("mnist", str(tmp_path))
    test = load_dataset("mnist", str(tmp_path), train=False, image_size=14)
    assert train.x.shape == (20, 1, 28, 28) and test.x.shape == (8, 1, 14, 14)
    assert train.y.tolist() == [i % 10 for i in range(20)]


def test_missing_and_corrupt_idx_files_name_the_path(tmp_path):
    with pytest.raises(DataError, match="missing data file .*train-images-idx3-ubyte"):
        load_dataset("mnist", str(tmp_path))
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)), False)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4), False)
    with open(tmp_path / "train-images-idx3-ubyte", "r+b") as f:
        f.truncate(100)
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_dataset("mnist", str(tmp_path))


def test_cifar10_on_disk_format(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)

    def batch(n):
        return {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(rng.integers(0, 10, n))}

    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch(4), f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch(3), f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    train = load_dataset("cifar10", str(tmp_path))
    test = load_dataset("cifar10", str(tmp_path), train=False)
    assert train.x.shape == (20, 3, 32, 32) and test.x.shape == (3, 3, 32, 32) and train.num_classes == 10


def test_cifar_missing_offline_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match=f"cifar10 not found under {tmp_path}"):
        load_dataset("cifar10", str(tmp_path))


@pytest.mark.requires("fashion_mnist")
def test_fashion_mnist_from_debian_package():
    test = load_dataset("fashion_mnist", train=False)
    assert test.x.shape == (10000, 1, 28, 28) and test.num_classes == 10
    assert abs(test.x.mean().item()) < 0.05 and torch.bincount(test.y).tolist() == [1000] * 10


def test_bilevel_split_is_disjoint_seeded_and_sized():
    w, a = bilevel_split(1000, portion=0.5, split=0.5, seed=3)
    assert len(w) == 250 and len(a) == 250 and not set(w.tolist()) & set(a.tolist())
    w2, a2 = bilevel_split(1000, portion=0.5, split=0.5, seed=3)
    assert torch.equal(w, w2) and torch.equal(a, a2)
    with pytest.raises(ValueError, match="empty"):
        bilevel_split(3, portion=1.0, split=0.1, seed=0)


def test_batches_are_reproducible_per_epoch():
    data = load_dataset("digits")
    b = Batches(data, 32, seed=1)
    first = [y for _, y in b.epoch(0)]
    again = [y for _, y in b.epoch(0)]
    other = [y for _, y in b.epoch(1)]
    assert all(torch.equal(p, q) for p, q in zip(first, again, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(first, other, strict=True))
    assert len(first) == len(data) // 32
