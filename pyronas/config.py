"""Typed search configuration: YAML in, validated dataclasses out.

Every section is a dataclass; ``pyronas.schema.from_dict`` checks every key against the dataclass
fields and its type annotation, and ``Config.validate`` checks values, so a bad config fails on load with a
message naming the key (``optim.arch.lr: expected a number, got 'fast'``) instead of a stack
trace from deep inside torch. ``params`` dicts of model/guide/selectors/callbacks are checked
against the constructor signatures when the search builds them.

A config's ``imports:`` list names plug-in modules (a researcher's own package) that register
priors, guides, terms, selectors, callbacks, ... (``pyronas.registry``); ``pyronas.schema.load_into`` imports them
before validating, so the names they register are known to the rest of the config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pyronas.bo.config import BOConfig
from pyronas.errors import ConfigError
from pyronas.schema import load_into


@dataclass
class SupernetConfig:
    C: int = 16
    layers: int = 5
    layout: str | None = None
    partial_channels: int = 1
    track_running_stats: bool = False
    sync_batchnorm: bool = False  # torchrun runs: BatchNorm statistics over all ranks' batches (CUDA only)


@dataclass
class RuntimeConfig:
    """How steps run (``pyronas.runtime.Runtime.from_config``); ``"auto"``: off on CPU, the
    sensible choice on CUDA (bf16 autocast, channels-last, cuDNN autotuning; no compilation)."""

    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool | Literal["auto"] = "auto"
    compile_backend: str = "inductor"
    cudnn_benchmark: bool | Literal["auto"] = "auto"
    deterministic: bool = False
    checkpoint_cells: bool = False


@dataclass
class DataConfig:
    name: Literal["fashion_mnist", "mnist", "cifar10", "cifar100", "digits"] = "fashion_mnist"
    root: str | None = None
    download: bool = False
    portion: float = 1.0
    split: float = 0.5
    batch_size: int = 64
    eval_batch_size: int = 256
    image_size: int | None = None
    augment: bool = False


@dataclass
class GroupConfig:
    """One group's piece of a prior or guide: ``{name: <file in models/ or guides/>, params: {...}}``."""

    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """The prior: shorthand ``{name, params}`` (one file, both groups as that file defines them; default
    ``flat``) or per group ``{alpha: {name, params}, weights: {name, params}}`` (α default ``flat``,
    weights default ``none``: point estimates). See ``pyronas.infer.build.build_model``."""

    name: str | None = None
    label_smoothing: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    alpha: GroupConfig | None = None
    weights: GroupConfig | None = None


@dataclass
class GuideConfig:
    """The guide: shorthand ``{name, params}`` (default ``delta``) or per group ``{alpha: {name, params},
    weights: {name, params}}`` (α default ``delta``, weights default ``none``)."""

    name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    alpha: GroupConfig | None = None
    weights: GroupConfig | None = None


@dataclass
class ScheduleConfig:
    """A weight that is 0 before ``start_epoch`` and grows linearly to ``weight`` at ``end_epoch``."""

    weight: float = 1.0
    start_epoch: float = 0.0
    end_epoch: float | None = None


@dataclass
class TermConfig(ScheduleConfig):
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the term (e.g. num_samples)


@dataclass
class ObjectiveConfig:
    elbo: Literal["trace", "meanfield"] = "trace"
    num_particles: int = 1
    terms: list[TermConfig] = field(default_factory=list)
    kl_scales: dict[str, ScheduleConfig] = field(default_factory=dict)


@dataclass
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.025
    lr_min: float = 0.0
    schedule: Literal["cosine", "constant"] = "constant"
    momentum: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    grad_clip: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _weights_optim() -> OptimConfig:
    return OptimConfig("sgd", 0.025, 0.001, "cosine", 0.9, [0.9, 0.999], 3e-4, 5.0)


def _arch_optim() -> OptimConfig:
    return OptimConfig("adam", 3e-4, 0.0, "constant", 0.0, [0.5, 0.999], 1e-3, None)


@dataclass
class OptimsConfig:
    weights: OptimConfig = field(default_factory=_weights_optim)
    arch: OptimConfig = field(default_factory=_arch_optim)


@dataclass
class CallbackConfig:
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchConfig:
    """The bilevel loop (``pyronas.infer.runner``/``engine``).

    ``arch_first``: the architecture step of an iteration comes before the weight step (DARTS Alg. 1,
    DrNAS, BaLeNAS Alg. 1) instead of after it (VINNAS, VIM-NAS). ``order: 2`` is DARTS' unrolled
    gradient (eq. 7-8) and needs ``optim.weights.name: sgd``. ``progress_seconds``: when stderr is not
    a terminal, one progress log line at most this often. Per-epoch extras (e.g. the Hessian
    eigenvalue) are callbacks: ``callbacks: [{name: hessian, params: {every: 5}}]``.
    """

    epochs: int = 50
    warmup_epochs: int = 0
    order: Literal[1, 2] = 1
    arch_first: bool = False
    steps_per_epoch: int | None = None
    eval_batches: int | None = None
    keep: Literal["last", "best"] = "last"
    record_every_steps: int = 0
    progress_seconds: float = 30.0
    callbacks: list[CallbackConfig] = field(default_factory=list)


@dataclass
class SelectConfig:
    rule: str = "mean"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutputConfig:
    dir: str | None = None
    checkpoint: bool = True
    tensorboard: bool = False  # RUN_DIR/tensorboard/: metrics, op probabilities, cell diagrams (search, train, bo)


BENCHMARKS = {"nb201": ("cifar10", "cifar100", "imagenet16-120")}


@dataclass
class BenchmarkConfig:
    """Look the derived genotype up in a benchmark table every epoch (``pyronas.callbacks.benchmark``);
    ``name: null`` (the default) is off."""

    name: str | None = None
    dataset: str = "cifar10"


@dataclass
class Config:
    name: str = "search"
    imports: list[str] = field(default_factory=list)  # plug-in modules imported before validation
    seed: int = 0
    device: str = "cpu"
    space: str = "nb201"
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    guide: GuideConfig = field(default_factory=GuideConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimsConfig = field(default_factory=OptimsConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    bo: BOConfig = field(default_factory=BOConfig)  # Bayesian-optimisation baseline (``pyronas bo``)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)

    def validate(self) -> Config:
        """Check values that types alone cannot; raises ``ConfigError`` naming the key."""
        from pyronas.nn.spaces import get_space

        get_space(self.space, "space")
        checks = [
            device_check(self.device),
            ("supernet.C", self.supernet.C > 0, "must be > 0"),
            ("supernet.layers", self.supernet.layers > 0, "must be > 0"),
            ("supernet.partial_channels", self.supernet.partial_channels >= 1, "must be >= 1"),
            ("data.portion", 0 < self.data.portion <= 1, "must be in (0, 1]"),
            ("data.split", 0 < self.data.split < 1, "must be in (0, 1)"),
            ("data.batch_size", self.data.batch_size > 0, "must be > 0"),
            ("data.eval_batch_size", self.data.eval_batch_size > 0, "must be > 0"),
            ("objective.num_particles", self.objective.num_particles >= 1, "must be >= 1"),
            ("optim.weights.lr", self.optim.weights.lr > 0, "must be > 0"),
            ("optim.arch.lr", self.optim.arch.lr > 0, "must be > 0"),
            ("search.epochs", self.search.epochs > 0, "must be > 0"),
            ("search.warmup_epochs", 0 <= self.search.warmup_epochs <= self.search.epochs, "must be in [0, epochs]"),
            ("search.progress_seconds", self.search.progress_seconds >= 0, "must be >= 0"),
        ]
        if self.search.order == 2:
            wo = self.optim.weights
            checks.append(("optim.weights.name", wo.name == "sgd",
                           f"search.order: 2 needs 'sgd' (the unrolled virtual step is SGD's), got {wo.name!r}"))
            checks.append(("optim.weights.params", not any(wo.params.get(k) for k in ("nesterov", "dampening")),
                           "search.order: 2 supports SGD without nesterov or dampening"))
        if self.supernet.layout is not None:
            checks.append(("supernet.layout", set(self.supernet.layout) <= set("NRB"), "only letters N, R, B"))
        if self.data.image_size is not None:
            checks.append(("data.image_size", self.data.image_size >= 4, "must be >= 4"))
        b = self.benchmark
        if b.name is not None:
            known = ", ".join(BENCHMARKS)
            checks.append(("benchmark.name", b.name in BENCHMARKS, f"unknown {b.name!r} (known: {known})"))
            datasets = BENCHMARKS.get(b.name, ())
            checks.append(("benchmark.dataset", b.name not in BENCHMARKS or b.dataset in datasets,
                           f"unknown {b.dataset!r} (known: {', '.join(datasets)})"))
            checks.append(("benchmark.name", self.space == "nb201", f"{b.name} needs space: nb201"))
        for i, t in enumerate(self.objective.terms):
            checks.append((f"objective.terms[{i}].name", bool(t.name), "each term needs a name"))
        for section, c in (("model", self.model), ("guide", self.guide)):
            grouped = c.alpha is not None or c.weights is not None
            checks.append((section, not (grouped and c.name is not None),
                           f"give either {section}.name (shorthand) or {section}.alpha / {section}.weights, not both"))
            checks.append((f"{section}.params", not (grouped and c.params),
                           f"only with {section}.name; give each group its own params"))
            for group in ("alpha", "weights"):
                g = getattr(c, group)
                if g is not None:
                    checks.append((f"{section}.{group}.name", bool(g.name), "each group needs a name"))
        for key, ok, msg in checks:
            if not ok:
                raise ConfigError(f"{key}: {msg}")
        self.check_names()
        return self

    def check_names(self) -> None:
        """Every extension named in the config exists (``RegistryError`` naming the key and the known
        names): checked on load rather than when the search reaches it (a selector runs last)."""
        from pyronas.callbacks.base import CALLBACKS
        from pyronas.infer.objectives import TERMS
        from pyronas.optim.factory import OPTIMIZERS
        from pyronas.registry import GUIDES, PRIORS
        from pyronas.select.rules import SELECTORS

        for section, registry in (("model", PRIORS), ("guide", GUIDES)):
            sc = getattr(self, section)
            if sc.name is not None:
                registry.get(sc.name, f"{section}.name")
            for group in ("alpha", "weights"):
                g = getattr(sc, group)
                if g is not None and g.name != "none":
                    registry.get(g.name, f"{section}.{group}.name")
        for i, t in enumerate(self.objective.terms):
            TERMS.get(t.name, f"objective.terms[{i}].name")
        OPTIMIZERS.get(self.optim.weights.name, "optim.weights.name")
        OPTIMIZERS.get(self.optim.arch.name, "optim.arch.name")
        for i, c in enumerate(self.search.callbacks):
            CALLBACKS.get(c.name, f"search.callbacks[{i}].name")
        SELECTORS.get(self.select.rule, "select.rule")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        with open(path, "w") as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False)


def device_check(device: str, key: str = "device") -> tuple[str, bool, str]:
    """The ``(key, ok, message)`` check of a ``device`` value shared by the search and training configs."""
    return key, device == "cpu" or device.startswith("cuda"), "must be 'cpu' or 'cuda[:N]'"


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, **data: Any) -> Config:
    """Load and validate a search config (see ``load_into``)."""
    return load_into(Config, path, overrides, **data)
