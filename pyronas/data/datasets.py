"""Real datasets from local files, the bilevel split, and in-memory batching (no Pyro).

Fashion-MNIST and MNIST are read from their IDX files (``.gz`` or raw), CIFAR-10/100 through
torchvision's own dataset classes over a local root, scikit-learn's bundled 8x8 digits for tiny
tests. Everything is held as tensors in memory; batches are index slices, so an epoch costs no
DataLoader workers and is reproducible from ``(seed, epoch)`` alone.
"""

from __future__ import annotations

import gzip
import logging
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pyronas.data.augment import random_crop, random_flip
from pyronas.errors import DataError

log = logging.getLogger(__name__)

FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
# Normalisation constants (mean, std) per dataset.
STATS = {
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "digits": ((0.3,), (0.4,)),
}
NUM_CLASSES = {"fashion_mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100, "digits": 10}
HOW_TO_GET = {
    "fashion_mnist": "install Debian's package: apt-get install dataset-fashion-mnist "
    f"(files land in {FASHION_MNIST_ROOT}), or point data.root at a folder with the four IDX files",
    "mnist": "point data.root at a folder with MNIST's four IDX files (train-images-idx3-ubyte[.gz], ...)",
    "cifar10": "point data.root at the folder holding 'cifar-10-batches-py', or set data.download: true online",
    "cifar100": "point data.root at the folder holding 'cifar-100-python', or set data.download: true online",
}


@dataclass
class Dataset:
    """Images ``x`` (float, normalised, ``[N, C, H, W]``) and labels ``y`` (long, ``[N]``)."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int

    def __len__(self) -> int:
        return len(self.y)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of one image, (channels, height, width)."""
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def subset(self, idx: torch.Tensor) -> Dataset:
        """The examples at ``idx``."""
        return Dataset(self.x[idx], self.y[idx], self.num_classes)

    def to(self, device: str | torch.device) -> Dataset:
        """A copy on ``device``."""
        return Dataset(self.x.to(device), self.y.to(device), self.num_classes)


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or not."""
    candidates = [path, path.with_name(path.name + ".gz")]
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        raise DataError(f"missing data file {path}[.gz]")
    opener = gzip.open if found.suffix == ".gz" else open
    try:
        with opener(found, "rb") as f:
            magic = f.read(4)
            if len(magic) != 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != 8:
                raise DataError(f"{found} is not an IDX file of unsigned bytes (magic {magic!r})")
            ndim = magic[3]
            dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
            data = np.frombuffer(f.read(), dtype=np.uint8)
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {found}: {e}") from None
    if data.size != int(np.prod(dims)):
        raise DataError(f"{found} is truncated or corrupt: {data.size} bytes for shape {dims}")
    return data.reshape(dims)


def _load_idx_pair(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if train else "t10k"
    images = _read_idx(root / f"{prefix}-images-idx3-ubyte")
    labels = _read_idx(root / f"{prefix}-labels-idx1-ubyte")
    if len(images) != len(labels):
        raise DataError(f"{root}: {len(images)} images but {len(labels)} labels")
    return images[:, None], labels


def _load_cifar(name: str, root: Path, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    import torchvision

    base = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100

    class LocalCIFAR(base):  # type: ignore[misc, valid-type]
        """torchvision's CIFAR reader; a local folder is checked for its files, not their md5
        (hashing 170 MB on every load is slow; a download is still verified by torchvision)."""

        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / f).is_file() for f, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            path = Path(self.root) / self.base_folder / self.meta["filename"]
            if not path.is_file():
                raise RuntimeError(f"metadata file {path} not found")
            with open(path, "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]

    try:
        ds = LocalCIFAR(str(root), train=train, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
        raise DataError(f"{name} not found under {root}: {e}") from None
    except OSError as e:  # download attempted offline
        raise DataError(f"{name}: download into {root} failed ({e})") from None
    return np.asarray(ds.data).transpose(0, 3, 1, 2), np.asarray(ds.targets)


def _load_digits(train: bool) -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the 'digits' dataset needs scikit-learn: pip install scikit-learn") from None
    d = load_digits()
    x = (d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    # fixed 80/20 train/test cut (the bundled set has no official split)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(x))
    cut = int(0.8 * len(x))
    idx = perm[:cut] if train else perm[cut:]
    return x[idx], d.target[idx]


def default_root(name: str) -> str:
    """Where dataset ``name`` is read from when ``data.root`` is null (Fashion-MNIST: Debian's package)."""
    if name == "fashion_mnist":
        return FASHION_MNIST_ROOT
    return os.path.join(os.path.expanduser("~"), ".cache", "pyronas", name)


def load_dataset(
    name: str,
    root: str | None = None,
    train: bool = True,
    download: bool = False,
    image_size: int | None = None,
) -> Dataset:
    """Load a real dataset as normalised float tensors.

    Args:
        name: ``fashion_mnist``, ``mnist``, ``cifar10``, ``cifar100`` or ``digits``.
        root: folder of the files (default: Debian's Fashion-MNIST folder / ``~/.cache/pyronas``).
        train: training or test set.
        download: let torchvision download CIFAR (only when the config says so).
        image_size: resize (bilinear) to this square size, e.g. to make CPU searches cheaper.
    """
    if name not in NUM_CLASSES:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(NUM_CLASSES)}")
    path = Path(root or default_root(name))
    try:
        if name in ("fashion_mnist", "mnist"):
            if not path.is_dir():
                raise DataError(f"data folder {path} does not exist")
            x, y = _load_idx_pair(path, train)
        elif name in ("cifar10", "cifar100"):
            x, y = _load_cifar(name, path, train, download)
        else:
            x, y = _load_digits(train)
    except DataError as e:
        hint = HOW_TO_GET.get(name)
        raise DataError(f"{e}. To get {name}: {hint}" if hint else str(e)) from None
    mean, std = STATS[name]
    xt = torch.from_numpy(np.array(x, dtype=np.float32)).div_(255.0)
    xt = (xt - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    if image_size is not None and image_size != xt.shape[-1]:
        xt = F.interpolate(xt, size=(image_size, image_size), mode="bilinear", align_corners=False)
    yt = torch.from_numpy(np.array(y, dtype=np.int64))
    log.info("loaded %s (%s): %d images of shape %s", name, "train" if train else "test", len(yt), tuple(xt.shape[1:]))
    return Dataset(xt, yt, NUM_CLASSES[name])


def bilevel_split(n: int, portion: float, split: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut ``portion`` of ``n`` training indices into two disjoint parts with a fixed seed:
    the first ``split`` fraction for network weights, the rest for the architecture
    (DARTS: portion 1.0, split 0.5)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)[: int(round(portion * n))]
    cut = int(round(split * len(perm)))
    if cut == 0 or cut == len(perm):
        raise ValueError(f"bilevel split of {len(perm)} examples with split={split} leaves one part empty")
    return perm[:cut].sort().values, perm[cut:].sort().values


class Batches:
    """Shuffled mini-batches of an in-memory dataset; epoch ``e`` uses the permutation seeded by
    ``(seed, e)``, so a resumed run sees exactly the batches an uninterrupted one would."""

    def __init__(self, data: Dataset, batch_size: int, seed: int, augment: bool = False, drop_last: bool = True):
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.augment, self.drop_last = augment, drop_last

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch(self, e: int, global_batch: int | None = None):
        """Yield the ``(x, y)`` batches of epoch ``e``; ``global_batch`` (a multiple of ``batch_size``, for
        ``pyronas.distributed.ShardedBatches``) yields the batches one process with that batch size reads."""
        bs = global_batch or self.batch_size
        g = torch.Generator().manual_seed(self.seed * 100_003 + e)
        perm = torch.randperm(len(self.data), generator=g).to(self.data.y.device)
        n = len(self.data)
        for b in range(n // bs if self.drop_last else -(-n // bs)):
            idx = perm[b * bs : (b + 1) * bs]
            x = self.data.x[idx]
            if self.augment:  # standard CIFAR augmentation: pad 4 + random crop, horizontal flip
                x = random_flip(random_crop(x, 4, g), 0.5, g)
            yield x, self.data.y[idx]
