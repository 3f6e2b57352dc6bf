"""The value checks of a config: each a ``(key, ok, message)`` tuple (``Check``), collected by a config's
``validate`` and raised by ``raise_first`` as ``ConfigError("<key>: <message>")``; the ranges of the
``data``, ``optim.<level>``, ``search`` and schedule sections, a seed and a device, shared by the search
config (``pyronas.config``) and the training config (``pyronas.train.config``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyronas.errors import ConfigError

if TYPE_CHECKING:
    from pyronas.config_sections import DataConfig, OptimConfig, ScheduleConfig, SearchConfig

__all__ = [
    "Check",
    "SEED_MAX",
    "TRAIN_IMAGES",
    "data_checks",
    "device_check",
    "optim_checks",
    "raise_first",
    "schedule_checks",
    "search_checks",
    "seed_check",
]


def device_check(device: str, key: str = "device") -> tuple[str, bool, str]:
    """The ``(key, ok, message)`` check of a ``device`` value shared by the search and training configs."""
    return key, device == "cpu" or device.startswith("cuda"), "must be 'cpu' or 'cuda[:N]'"


Check = tuple[str, bool, str]  # (config key, ok, what it must be and how to fix it)

SEED_MAX = 2**32 - 1  # NumPy's seeds are 32-bit (np.random.seed)

# Training images per dataset, so a portion/split that leaves a split without a batch fails at load
# (``digits``: the 80 % training cut of scikit-learn's 1,797 images, ``pyronas.data.datasets``).
TRAIN_IMAGES = {"fashion_mnist": 60_000, "mnist": 60_000, "cifar10": 50_000, "cifar100": 50_000, "digits": 1_437}


def raise_first(checks: list[Check]) -> None:
    """Raise ``ConfigError("<key>: <message>")`` for the first failed check."""
    for key, ok, msg in checks:
        if not ok:
            raise ConfigError(f"{key}: {msg}")


def seed_check(seed: int, key: str = "seed") -> Check:
    """A seed NumPy accepts: an integer in [0, 2**32 - 1]."""
    return key, 0 <= seed <= SEED_MAX, f"must be in [0, 2**32 - 1] (NumPy's seed range), got {seed}"


def data_checks(dc: DataConfig, splits: bool = True) -> list[Check]:
    """Ranges of the ``data`` section; with ``splits`` (the search's bilevel split), both splits of
    ``portion`` × the dataset's training images must hold at least one batch."""
    checks = [
        ("data.portion", 0 < dc.portion <= 1, "must be in (0, 1]"),
        ("data.batch_size", dc.batch_size > 0, "must be > 0"),
        ("data.eval_batch_size", dc.eval_batch_size > 0, "must be > 0"),
        ("data.image_size", dc.image_size is None or dc.image_size >= 4, "must be >= 4 or null"),
    ]
    n = round(dc.portion * TRAIN_IMAGES.get(dc.name, 0))
    if not splits:
        checks.append(("data.portion", dc.name not in TRAIN_IMAGES or n >= dc.batch_size,
                       f"{dc.portion} of {TRAIN_IMAGES.get(dc.name)} {dc.name} images leaves {n}, fewer than "
                       f"data.batch_size {dc.batch_size}; raise data.portion or lower data.batch_size"))
    elif dc.name in TRAIN_IMAGES and 0 < dc.split < 1 and dc.batch_size > 0:
        w = round(dc.split * n)
        checks.append(("data.portion", min(w, n - w) >= dc.batch_size,
                       f"{dc.portion} of {TRAIN_IMAGES[dc.name]} {dc.name} images split {dc.split} leaves {w} / "
                       f"{n - w} images for the weight / architecture steps, fewer than data.batch_size "
                       f"{dc.batch_size} in a split; raise data.portion or lower data.batch_size"))
    return checks


def optim_checks(oc: OptimConfig, key: str) -> list[Check]:
    """Ranges of one ``optim.<level>`` section (learning rates, momentum, betas, weight decay, clipping)."""
    return [
        (f"{key}.lr", 0 < oc.lr < 1, f"must be in (0, 1), got {oc.lr}"),
        (f"{key}.lr_min", 0 <= oc.lr_min <= oc.lr, f"must be in [0, {key}.lr], got {oc.lr_min}"),
        (f"{key}.momentum", 0 <= oc.momentum < 1, f"must be in [0, 1), got {oc.momentum}"),
        (f"{key}.betas", len(oc.betas) == 2 and all(0 <= b < 1 for b in oc.betas),
         f"must be two numbers in [0, 1), got {oc.betas}"),
        (f"{key}.weight_decay", oc.weight_decay >= 0, f"must be >= 0, got {oc.weight_decay}"),
        (f"{key}.grad_clip", oc.grad_clip is None or oc.grad_clip > 0,
         f"must be > 0 or null (no clipping), got {oc.grad_clip} (a bound <= 0 reverses or zeroes the gradients)"),
    ]


def search_checks(sc: SearchConfig) -> list[Check]:
    """Ranges of the ``search`` section."""
    return [
        ("search.epochs", sc.epochs > 0, "must be > 0"),
        ("search.warmup_epochs", 0 <= sc.warmup_epochs <= sc.epochs, "must be in [0, epochs]"),
        ("search.steps_per_epoch", sc.steps_per_epoch is None or sc.steps_per_epoch >= 1,
         f"must be >= 1, or null for one pass over the smaller split, got {sc.steps_per_epoch}"),
        ("search.eval_batches", sc.eval_batches is None or sc.eval_batches >= 1,
         f"must be >= 1, or null for the whole architecture split, got {sc.eval_batches}"),
        ("search.record_every_steps", sc.record_every_steps >= 0, "must be >= 0 (0: off)"),
        ("search.progress_seconds", sc.progress_seconds >= 0, "must be >= 0"),
    ]


def schedule_checks(s: ScheduleConfig, key: str) -> list[Check]:
    """A schedule's epochs: ``start_epoch >= 0`` and ``end_epoch >= start_epoch`` (or null)."""
    return [
        (f"{key}.start_epoch", s.start_epoch >= 0, f"must be >= 0, got {s.start_epoch}"),
        (f"{key}.end_epoch", s.end_epoch is None or s.end_epoch >= s.start_epoch,
         f"must be >= start_epoch ({s.start_epoch}) or null, got {s.end_epoch}"),
    ]
