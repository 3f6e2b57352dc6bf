"""The retraining config (YAML): ``network``, ``train`` and ``bayesian`` sections next to the search
config's ``name``/``seed``/``device``/``data``/``output``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from pyronas.config import DataConfig, OutputConfig, data_checks, device_check, raise_first, seed_check
from pyronas.schema import load_into
from pyronas.train.bayesian import BayesianSection


@dataclass
class NetworkSection:
    """Evaluation network: initial channels ``C``, cells ``layers``, optional macro ``layout``,
    auxiliary head. Defaults: the DARTS CIFAR-10 evaluation network (C = 36, 20 cells)."""

    #: Initial channels of the evaluation network.
    C: int = 36
    #: Cells of the evaluation network (DARTS-like spaces) or cells per stage (NAS-Bench-201).
    layers: int = 20
    #: Macro layout string (N normal, R reduction, B residual block); null: derived from the space and `layers`.
    layout: str | None = None
    #: Auxiliary classifier head after the last reduction (DARTS), weighted by train.aux_weight.
    auxiliary: bool = True


@dataclass
class TrainSection:
    """Retraining hyper-parameters (defaults: the DARTS protocol, 600 epochs; batch sizes live in the
    ``data`` section as in the search config)."""

    #: Training epochs.
    epochs: int = 600
    #: sgd or adam.
    optimizer: Literal["sgd", "adam"] = "sgd"
    #: Initial learning rate (cosine annealing to `lr_min`).
    lr: float = 0.025
    #: Final learning rate of the cosine schedule.
    lr_min: float = 0.0
    #: SGD momentum.
    momentum: float = 0.9
    #: Weight decay.
    weight_decay: float = 3e-4
    #: Gradient-norm clipping bound; null: no clipping.
    grad_clip: float | None = 5.0
    #: Final drop-path probability, increased linearly from 0 over the epochs (DARTS).
    drop_path_prob: float = 0.2
    #: Weight of the auxiliary head's loss.
    aux_weight: float = 0.4
    #: Label smoothing ε of the cross-entropy.
    label_smoothing: float = 0.0
    #: Zero-padding of the random crop (0: no crop).
    crop_padding: int = 4
    #: Random horizontal flip.
    flip: bool = True
    #: Side of the Cutout square (0: off).
    cutout: int = 16
    #: Probability of random erasing (VINNAS F/C).
    erasing: float = 0.0
    #: Training steps per epoch; null: one pass over the training images.
    steps_per_epoch: int | None = None
    #: Fraction of the training images held out as the validation split (seeded); evaluated every `eval_every`
    #: epochs and the only split any selection uses (`pyronas random`). 0: none. The test set is evaluated ONCE,
    #: after the last epoch, for the reported model.
    val_portion: float = 0.0
    #: Evaluate on the validation split every this many epochs (and after the last).
    eval_every: int = 1
    #: Show progress (a live bar on a terminal, log lines otherwise).
    progress: bool = True


@dataclass
class TrainConfig:
    """Retraining config (YAML), validated with the helpers of ``pyronas.config``.

    A separate, self-contained schema rather than a section of the search ``Config``: it shares the
    search config's ``name``/``seed``/``device``/``data``/``output`` keys and adds ``network`` and
    ``train``. ``data.portion`` is the fraction of the training set used; ``data.split`` and
    ``data.augment`` do not apply (augmentation is set in ``train``).
    """

    #: Run name (default run folder runs/<name>).
    name: str = "train"
    #: Plug-in modules (e.g. a search space) imported before validation.
    imports: list[str] = field(default_factory=list)  # plug-in modules (e.g. a search space) imported first
    #: Seed of every random number generator.
    seed: int = 0
    #: cpu or cuda[:N].
    device: str = "cpu"
    #: Dataset (`portion`: fraction of the training set used; `split` and `augment` do not apply).
    data: DataConfig = field(default_factory=DataConfig)
    #: The evaluation network built from the genotype.
    network: NetworkSection = field(default_factory=NetworkSection)
    #: Retraining hyper-parameters (defaults: the DARTS protocol, 600 epochs).
    train: TrainSection = field(default_factory=TrainSection)
    #: Bayesian retraining of the weights (VINNAS), off by default.
    bayesian: BayesianSection = field(default_factory=BayesianSection)
    #: What the run writes.
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> TrainConfig:
        """Check values that types alone cannot; raises ``ConfigError`` naming the key."""
        t = self.train
        checks = [
            device_check(self.device),
            seed_check(self.seed),
            *data_checks(self.data, splits=False),
            ("network.C", self.network.C > 0, "must be > 0"),
            ("network.layers", self.network.layers > 0, "must be > 0"),
            ("network.layout", self.network.layout is None or set(self.network.layout) <= set("NRB"), "only N, R, B"),
            ("train.epochs", t.epochs > 0, "must be > 0"),
            ("train.lr", 0 < t.lr < 1, f"must be in (0, 1), got {t.lr}"),
            ("train.lr_min", 0 <= t.lr_min <= t.lr, "must be in [0, lr]"),
            ("train.momentum", 0 <= t.momentum < 1, f"must be in [0, 1), got {t.momentum}"),
            ("train.weight_decay", t.weight_decay >= 0, f"must be >= 0, got {t.weight_decay}"),
            ("train.aux_weight", t.aux_weight >= 0, f"must be >= 0, got {t.aux_weight}"),
            ("train.crop_padding", t.crop_padding >= 0, "must be >= 0"),
            ("train.steps_per_epoch", t.steps_per_epoch is None or t.steps_per_epoch >= 1,
             f"must be >= 1, or null for the whole training set, got {t.steps_per_epoch}"),
            ("train.drop_path_prob", 0 <= t.drop_path_prob < 1, "must be in [0, 1)"),
            ("train.label_smoothing", 0 <= t.label_smoothing < 1, "must be in [0, 1)"),
            ("train.erasing", 0 <= t.erasing <= 1, "must be in [0, 1]"),
            ("train.cutout", t.cutout >= 0, "must be >= 0"),
            ("train.eval_every", t.eval_every >= 1, "must be >= 1"),
            ("train.val_portion", 0 <= t.val_portion < 1, f"must be in [0, 1), got {t.val_portion}"),
            ("train.grad_clip", t.grad_clip is None or t.grad_clip > 0, "must be > 0 or null"),
            ("bayesian.gamma", self.bayesian.gamma >= 0, "must be >= 0"),
            ("bayesian.start_epoch", self.bayesian.start_epoch >= 0, "must be >= 0"),
        ]
        raise_first(checks)
        return self

    def to_dict(self) -> dict:
        """The config as plain nested dicts and lists."""
        return asdict(self)


def load_train_config(path: str | Path | None = None, overrides: list[str] | None = None, **data) -> TrainConfig:
    """Load and validate a retraining config from YAML (and/or keyword sections) with ``--set`` overrides."""
    return load_into(TrainConfig, path, overrides, **data)
