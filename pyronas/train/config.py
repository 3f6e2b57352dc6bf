"""The retraining config (YAML): ``network``, ``train`` and ``bayesian`` sections next to the search
config's ``name``/``seed``/``device``/``data``/``output``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from pyronas.config import ConfigError, DataConfig, OutputConfig, device_check
from pyronas.schema import load_into
from pyronas.train.bayesian import BayesianSection


@dataclass
class NetworkSection:
    """Evaluation network: initial channels ``C``, cells ``layers``, optional macro ``layout``,
    auxiliary head. Defaults: the DARTS CIFAR-10 evaluation network (C = 36, 20 cells)."""

    C: int = 36
    layers: int = 20
    layout: str | None = None
    auxiliary: bool = True


@dataclass
class TrainSection:
    """Retraining hyper-parameters (defaults: the DARTS protocol, 600 epochs; batch sizes live in the
    ``data`` section as in the search config)."""

    epochs: int = 600
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float | None = 5.0
    drop_path_prob: float = 0.2
    aux_weight: float = 0.4
    label_smoothing: float = 0.0
    crop_padding: int = 4
    flip: bool = True
    cutout: int = 16
    erasing: float = 0.0
    steps_per_epoch: int | None = None
    eval_every: int = 1
    progress: bool = True


@dataclass
class TrainConfig:
    """Retraining config (YAML), validated with the helpers of ``pyronas.config``.

    A separate, self-contained schema rather than a section of the search ``Config``: it shares the
    search config's ``name``/``seed``/``device``/``data``/``output`` keys and adds ``network`` and
    ``train``. ``data.portion`` is the fraction of the training set used; ``data.split`` and
    ``data.augment`` do not apply (augmentation is set in ``train``).
    """

    name: str = "train"
    imports: list[str] = field(default_factory=list)  # plug-in modules (e.g. a search space) imported first
    seed: int = 0
    device: str = "cpu"
    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkSection = field(default_factory=NetworkSection)
    train: TrainSection = field(default_factory=TrainSection)
    bayesian: BayesianSection = field(default_factory=BayesianSection)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> TrainConfig:
        """Check values that types alone cannot; raises ``ConfigError`` naming the key."""
        t = self.train
        checks = [
            device_check(self.device),
            ("data.portion", 0 < self.data.portion <= 1, "must be in (0, 1]"),
            ("data.batch_size", self.data.batch_size > 0, "must be > 0"),
            ("data.eval_batch_size", self.data.eval_batch_size > 0, "must be > 0"),
            ("network.C", self.network.C > 0, "must be > 0"),
            ("network.layers", self.network.layers > 0, "must be > 0"),
            ("network.layout", self.network.layout is None or set(self.network.layout) <= set("NRB"), "only N, R, B"),
            ("train.epochs", t.epochs > 0, "must be > 0"),
            ("train.lr", t.lr > 0, "must be > 0"),
            ("train.lr_min", 0 <= t.lr_min <= t.lr, "must be in [0, lr]"),
            ("train.drop_path_prob", 0 <= t.drop_path_prob < 1, "must be in [0, 1)"),
            ("train.label_smoothing", 0 <= t.label_smoothing < 1, "must be in [0, 1)"),
            ("train.erasing", 0 <= t.erasing <= 1, "must be in [0, 1]"),
            ("train.cutout", t.cutout >= 0, "must be >= 0"),
            ("train.eval_every", t.eval_every >= 1, "must be >= 1"),
            ("train.grad_clip", t.grad_clip is None or t.grad_clip > 0, "must be > 0 or null"),
            ("bayesian.gamma", self.bayesian.gamma >= 0, "must be >= 0"),
            ("bayesian.start_epoch", self.bayesian.start_epoch >= 0, "must be >= 0"),
        ]
        for key, ok, msg in checks:
            if not ok:
                raise ConfigError(f"{key}: {msg}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def load_train_config(path: str | Path | None = None, overrides: list[str] | None = None, **data) -> TrainConfig:
    """Load and validate a retraining config from YAML (and/or keyword sections) with ``--set`` overrides."""
    return load_into(TrainConfig, path, overrides, **data)
