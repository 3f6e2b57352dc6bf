"""Typed search configuration: YAML in, validated dataclasses out.

Every section is a dataclass; ``pyronas.schema.from_dict`` checks every key against the dataclass
fields and its type annotation, and ``Config.validate`` checks values, so a bad config fails on load with a
message naming the key (``optim.arch.lr: expected a number, got 'fast'``) instead of a stack
trace from deep inside torch. This module is a plain typed schema: it imports no registry. The names
a config holds (space, priors, guides, terms, optimizers, callbacks, selection rule), their ``params`` and
how the pieces combine are checked in one place, ``pyronas.infer.checks.check_config``, which
``pyronas.preflight.preflight`` runs (with the extras and data files) before a search reads any data.

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
    """The ``supernet`` section: size and shape of the weight-sharing supernet."""

    #: Initial channel count of the supernet (NAS-Bench-201 and the DARTS papers search with 16).
    C: int = 16
    #: Cells per stage on NAS-Bench-201 (3 stages joined by residual blocks), or the total number of cells in the
    #: DARTS-like spaces (reductions at 1/3 and 2/3 of the depth).
    layers: int = 5
    #: Macro layout string overriding the space's own: one letter per cell, N normal, R reduction, B the fixed residual
    #: reduction block of NAS-Bench-201; null: derived from the space and `layers`.
    layout: str | None = None
    #: PC-DARTS' K: only C/K channels of a state go through the candidate ops, the rest bypass them (C must be
    #: divisible by K); 1 turns it off.
    partial_channels: int = 1
    #: BatchNorm layers of the supernet keep running statistics (false, the DARTS/DrNAS search setting: batch
    #: statistics also at evaluation).
    track_running_stats: bool = False
    #: Under torchrun, convert BatchNorm to SyncBatchNorm so its statistics cover every rank's batch (CUDA only).
    sync_batchnorm: bool = False  # torchrun runs: BatchNorm statistics over all ranks' batches (CUDA only)


@dataclass
class RuntimeConfig:
    """How steps run (``pyronas.runtime.Runtime.from_config``); ``"auto"``: off on CPU, the
    sensible choice on CUDA (bf16 autocast, channels-last, cuDNN autotuning; no compilation)."""

    #: Mixed precision of the forward passes: bf16 or fp16 autocast (fp16 keeps one loss scaler per level of the
    #: bilevel loop), off, or auto (bf16 on CUDA, off on CPU).
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    #: Memory format of images and convolution weights; auto: on with CUDA, off on CPU.
    channels_last: bool | Literal["auto"] = "auto"
    #: Wrap the supernet in torch.compile; auto keeps it off (progressive pruning recompiles after every stage).
    compile: bool | Literal["auto"] = "auto"
    #: torch.compile backend used when `compile` is on.
    compile_backend: str = "inductor"
    #: cuDNN autotuning of convolution algorithms; auto: on with CUDA.
    cudnn_benchmark: bool | Literal["auto"] = "auto"
    #: torch.use_deterministic_algorithms and deterministic cuDNN (slower; bit-reproducible GPU runs).
    deterministic: bool = False
    #: Recompute each search cell's activations in the backward pass instead of storing them: less memory, about one
    #: more forward pass.
    checkpoint_cells: bool = False
    #: torch CPU threads (``pyronas.runtime.set_threads``): null = $OMP_NUM_THREADS if set, else half the
    #: CPUs this process may use, at most 4 (torch's own default, every core, oversubscribes a shared machine)
    threads: int | None = None


@dataclass
class DataConfig:
    """The ``data`` section: dataset, image size, batch sizes and the bilevel split."""

    #: Dataset, read from local files (pyronas.data.datasets): Fashion-MNIST and MNIST from Debian's packages,
    #: CIFAR-10/100 from `root`, scikit-learn's 8x8 digits.
    name: Literal["fashion_mnist", "mnist", "cifar10", "cifar100", "digits"] = "fashion_mnist"
    #: Folder holding the dataset files (CIFAR: the folder of cifar-10-batches-py); null: the default location of
    #: pyronas.data.datasets.default_root.
    root: str | None = None
    #: Let torchvision download CIFAR into `root` when it is missing (needs network access).
    download: bool = False
    #: Fraction of the training images used; the search cuts it into the weight and architecture splits.
    portion: float = 1.0
    #: Fraction of the used images that trains the weights; the rest is the architecture split (DARTS: 0.5).
    split: float = 0.5
    #: Batch size of both splits in a search step (each step reads one batch of each), and of retraining.
    batch_size: int = 64
    #: Batch size when evaluating on the architecture split (search) or the test set (retraining).
    eval_batch_size: int = 256
    #: Resize images (bilinear) to this square size, e.g. 16 to make CPU searches cheaper; null keeps the dataset's
    #: size.
    image_size: int | None = None
    #: Standard CIFAR augmentation of the search batches (zero-pad 4 and random crop, horizontal flip); retraining sets
    #: its own in `train`.
    augment: bool = False


@dataclass
class GroupConfig:
    """One group's piece of a prior or guide: ``{name: <file in models/ or guides/>, params: {...}}``."""

    #: File in models/ (a prior) or guides/ (a guide) for this group of sites, or `none` for the weights group (point
    #: estimates).
    name: str = ""
    #: Keyword arguments of that prior's or guide's constructor, checked against its signature when the search builds
    #: it.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """The prior: shorthand ``{name, params}`` (one file, both groups as that file defines them; default
    ``flat``) or per group ``{alpha: {name, params}, weights: {name, params}}`` (α default ``flat``,
    weights default ``none``: point estimates). See ``pyronas.infer.build.build_model``."""

    #: Shorthand: one prior file of models/ for both groups as that file defines them (flat, dirichlet, log_uniform,
    #: gaussian, ...); null with no `alpha`/`weights`: flat.
    name: str | None = None
    #: ε of a label-smoothed categorical likelihood (0: the plain categorical, i.e. cross-entropy).
    label_smoothing: float = 0.0
    #: Keyword arguments of the shorthand prior (only with `name`).
    params: dict[str, Any] = field(default_factory=dict)
    #: Per-group form: the prior on the architecture sites α (default flat).
    alpha: GroupConfig | None = None
    #: Per-group form: the prior on the network weights w (default none: point estimates). A Bayesian weight prior
    #: under a Bayesian α usually needs a KL ramp (`objective.kl_scales`).
    weights: GroupConfig | None = None


@dataclass
class GuideConfig:
    """The guide: shorthand ``{name, params}`` (default ``delta``) or per group ``{alpha: {name, params},
    weights: {name, params}}`` (α default ``delta``, weights default ``none``)."""

    #: Shorthand: one guide file of guides/ for both groups (delta, dirichlet, mean_field, balenas, vim, auto, ...);
    #: null with no `alpha`/`weights`: delta.
    name: str | None = None
    #: Keyword arguments of the shorthand guide (only with `name`).
    params: dict[str, Any] = field(default_factory=dict)
    #: Per-group form: the variational family of α (default delta); its support must match the α prior's (real or
    #: simplex).
    alpha: GroupConfig | None = None
    #: Per-group form: the variational family of w (default none: point estimates).
    weights: GroupConfig | None = None


@dataclass
class ScheduleConfig:
    """A weight that is 0 before ``start_epoch`` and grows linearly to ``weight`` at ``end_epoch``."""

    #: Final weight γ of the term or KL (0 masks it).
    weight: float = 1.0
    #: Fractional epoch before which the weight is 0.
    start_epoch: float = 0.0
    #: Fractional epoch at which the linear ramp reaches `weight`; null: the weight is `weight` from `start_epoch` on.
    end_epoch: float | None = None


@dataclass
class TermConfig(ScheduleConfig):
    """One entry of ``objective.terms``: a registered term with its schedule and keyword arguments."""

    #: Registered objective term added to the per-datum negative ELBO (pyronas.infer.objectives: l2_anchor, entropy,
    #: ... or a plug-in's @register_term).
    name: str = ""
    #: Keyword arguments of the term function (e.g. num_samples).
    params: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the term (e.g. num_samples)


@dataclass
class ObjectiveConfig:
    """The ``objective`` section: the ELBO estimator, extra terms and KL scales."""

    #: trace: Pyro's Trace_ELBO (Monte Carlo KL); meanfield: TraceMeanField_ELBO, which uses the registered analytic
    #: KLs (e.g. Molchanov's for log-uniform weights).
    elbo: Literal["trace", "meanfield"] = "trace"
    #: Monte Carlo samples of the ELBO per step.
    num_particles: int = 1
    #: Extra scheduled terms of the loss, each {name, weight, start_epoch, end_epoch, params}.
    terms: list[TermConfig] = field(default_factory=list)
    #: Scale of the KL of the sites whose name starts with a prefix ("alpha/", "w/"), as a schedule {weight,
    #: start_epoch, end_epoch}: a KL ramp, or weight 0 to mask a group's KL.
    kl_scales: dict[str, ScheduleConfig] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """One optimizer (``optim.weights`` or ``optim.arch``) and its learning-rate schedule."""

    #: Registered optimizer (pyronas.optim.factory.OPTIMIZERS: sgd, adam, vadam, ...).
    name: str = "sgd"
    #: Learning rate (the start of the cosine schedule).
    lr: float = 0.025
    #: Final learning rate of the cosine schedule (DARTS' eta_min).
    lr_min: float = 0.0
    #: constant, or cosine annealing from `lr` to `lr_min` over the search epochs (set at the start of each epoch).
    schedule: Literal["cosine", "constant"] = "constant"
    #: SGD momentum.
    momentum: float = 0.0
    #: Adam's (β1, β2).
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    #: L2 weight decay of the optimizer.
    weight_decay: float = 0.0
    #: Clip the gradient norm of this level to this bound; null: no clipping.
    grad_clip: float | None = None
    #: Further keyword arguments of the optimizer (e.g. nesterov, or VAdam's prior precision and sample count).
    params: dict[str, Any] = field(default_factory=dict)


def _weights_optim() -> OptimConfig:
    return OptimConfig("sgd", 0.025, 0.001, "cosine", 0.9, [0.9, 0.999], 3e-4, 5.0)


def _arch_optim() -> OptimConfig:
    return OptimConfig("adam", 3e-4, 0.0, "constant", 0.0, [0.5, 0.999], 1e-3, None)


@dataclass
class OptimsConfig:
    """The ``optim`` section: the weight level's and the architecture level's optimizers."""

    #: Optimizer of the network weights (defaults: DARTS' SGD, lr 0.025 cosine to 0.001, momentum 0.9, weight decay
    #: 3e-4, clip 5).
    weights: OptimConfig = field(default_factory=_weights_optim)
    #: Optimizer of the guide's architecture parameters (defaults: DARTS' Adam, lr 3e-4, betas (0.5, 0.999), weight
    #: decay 1e-3).
    arch: OptimConfig = field(default_factory=_arch_optim)


@dataclass
class CallbackConfig:
    """One entry of ``search.callbacks``: a registered callback and its constructor arguments."""

    #: Registered callback (pyronas.callbacks: progressive, exploration, onehot, hessian, benchmark, tensorboard,
    #: vinnas_select, ... or a plug-in's).
    name: str = ""
    #: Keyword arguments of the callback's constructor.
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

    #: Search epochs; an epoch is `steps_per_epoch` bilevel steps followed by an evaluation on the architecture split.
    epochs: int = 50
    #: First epochs in which only the weights are trained (the architecture step is skipped).
    warmup_epochs: int = 0
    #: 1: first-order architecture gradient; 2: DARTS' unrolled gradient (eq. 7-8), which needs optim.weights.name:
    #: sgd.
    order: Literal[1, 2] = 1
    #: The architecture step of an iteration comes before the weight step (DARTS Alg. 1, DrNAS, BaLeNAS) instead of
    #: after it (VINNAS, VIM-NAS).
    arch_first: bool = False
    #: Bilevel steps per epoch, each on one batch of each split; null: one pass over the smaller split (len of its
    #: batches). A smaller value shortens every epoch (quick tests, budgets).
    steps_per_epoch: int | None = None
    #: Batches of the architecture split evaluated at the end of each epoch (val_loss, val_acc of metrics.json; `keep:
    #: best` uses them); null: the whole split.
    eval_batches: int | None = None
    #: Which architecture is selected at the end: the last one, or the epoch's with the best architecture-split
    #: accuracy (its guide state is restored before selection).
    keep: Literal["last", "best"] = "last"
    #: During epoch 0, record the op probabilities every this many steps into the history (0: off).
    record_every_steps: int = 0
    #: When stderr is not a terminal, at most one progress line this often (seconds).
    progress_seconds: float = 30.0
    #: Per-method work at step and epoch boundaries, each {name, params}; see pyronas.callbacks.base.Callback.
    callbacks: list[CallbackConfig] = field(default_factory=list)


@dataclass
class SelectConfig:
    """The ``select`` section: the rule that derives the genotype and its arguments."""

    #: Registered selection rule deriving the genotype from the trained guide (pyronas.select.rules: mean, snr,
    #: magnitude, loc, sample_score, ...).
    rule: str = "mean"
    #: Keyword arguments of the rule (e.g. sample_score's proxy and number of draws).
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutputConfig:
    """The ``output`` section: run folder, checkpoints, TensorBoard."""

    #: Run folder; null: runs/<name> (a command's --out wins).
    dir: str | None = None
    #: Write checkpoint.pt at the end of every epoch (and on Ctrl-C) so that --resume can continue the run.
    checkpoint: bool = True
    #: Also write RUN_DIR/tensorboard/: every metric, op probabilities per edge and cell diagrams.
    tensorboard: bool = False  # RUN_DIR/tensorboard/: metrics, op probabilities, cell diagrams (search, train, bo)


BENCHMARKS = {"nb201": ("cifar10", "cifar100", "imagenet16-120")}


@dataclass
class BenchmarkConfig:
    """Look the derived genotype up in a benchmark table every epoch (``pyronas.callbacks.benchmark``);
    ``name: null`` (the default) is off."""

    #: Benchmark table in which the derived genotype is looked up every epoch (nb201: NAS-Bench-201, needs space: nb201
    #: and the [bench] extra); null: off.
    name: str | None = None
    #: Which of the benchmark's datasets gives the validation accuracy and percentile recorded per epoch.
    dataset: str = "cifar10"


@dataclass
class Config:
    """A search config: every section, validated on load (``load_config``); keys in docs/config_reference.md."""

    #: Run name: the log's and progress bar's label and the default run folder runs/<name>.
    name: str = "search"
    #: Plug-in modules imported before the config is validated, so that the priors, guides, terms, selectors and
    #: callbacks they register are known.
    imports: list[str] = field(default_factory=list)  # plug-in modules imported before validation
    #: Seed of every random number generator (data split, batches, initialisation, Monte Carlo draws).
    seed: int = 0
    #: cpu or cuda[:N].
    device: str = "cpu"
    #: Search space (pyronas.nn.spaces.SPACES: nb201, darts, vinnas_m/f/c, rdarts_s1-s4, or a plug-in's).
    space: str = "nb201"
    #: Size and shape of the weight-sharing supernet.
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    #: How steps run on the device (precision, memory format, compilation, threads).
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    #: Dataset and the bilevel split.
    data: DataConfig = field(default_factory=DataConfig)
    #: The prior: models/ files, shorthand or per group of sites.
    model: ModelConfig = field(default_factory=ModelConfig)
    #: The variational family: guides/ files, shorthand or per group of sites.
    guide: GuideConfig = field(default_factory=GuideConfig)
    #: The loss: per-datum negative ELBO plus scheduled terms and KL scales.
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    #: The two levels' optimizers.
    optim: OptimsConfig = field(default_factory=OptimsConfig)
    #: The bilevel loop: epochs, step order, steps per epoch, evaluation, callbacks.
    search: SearchConfig = field(default_factory=SearchConfig)
    #: How the genotype is derived from the trained guide.
    select: SelectConfig = field(default_factory=SelectConfig)
    #: What the run writes.
    output: OutputConfig = field(default_factory=OutputConfig)
    #: The Bayesian-optimisation baseline (pyronas bo).
    bo: BOConfig = field(default_factory=BOConfig)  # Bayesian-optimisation baseline (``pyronas bo``)
    #: Ground truth looked up during the search.
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)

    def validate(self) -> Config:
        """Check values that types alone cannot (ranges, sizes, pairs of keys); raises ``ConfigError`` naming
        the key and the fix. Names of plug-ins are resolved elsewhere, in one place: ``pyronas.infer.checks``
        (this module imports no registry, so the schema sits at the bottom of the import graph)."""
        checks = [
            device_check(self.device),
            seed_check(self.seed),
            ("supernet.C", self.supernet.C > 0, "must be > 0"),
            ("supernet.layers", self.supernet.layers > 0, "must be > 0"),
            ("supernet.partial_channels", self.supernet.partial_channels >= 1, "must be >= 1"),
            ("runtime.threads", self.runtime.threads is None or self.runtime.threads >= 1,
             "must be >= 1, or null for the default ($OMP_NUM_THREADS, else half the CPUs, at most 4)"),
            *data_checks(self.data),
            ("data.split", 0 < self.data.split < 1, "must be in (0, 1)"),
            ("model.label_smoothing", 0 <= self.model.label_smoothing < 1, "must be in [0, 1)"),
            ("objective.num_particles", self.objective.num_particles >= 1, "must be >= 1"),
            *optim_checks(self.optim.weights, "optim.weights"),
            *optim_checks(self.optim.arch, "optim.arch"),
            *search_checks(self.search),
        ]
        for i, t in enumerate(self.objective.terms):
            checks.append((f"objective.terms[{i}].name", bool(t.name), "each term needs a name"))
            checks.extend(schedule_checks(t, f"objective.terms[{i}]"))
        for prefix, s in self.objective.kl_scales.items():
            checks.append((f"objective.kl_scales.{prefix}.weight", s.weight >= 0,
                           f"must be >= 0 (0 masks the sites' KL), got {s.weight}"))
            checks.extend(schedule_checks(s, f"objective.kl_scales.{prefix}"))
        if self.search.order == 2:
            wo = self.optim.weights
            checks.append(("optim.weights.name", wo.name == "sgd",
                           f"search.order: 2 needs 'sgd' (the unrolled virtual step is SGD's), got {wo.name!r}"))
            checks.append(("optim.weights.params", not any(wo.params.get(k) for k in ("nesterov", "dampening")),
                           "search.order: 2 supports SGD without nesterov or dampening"))
        if self.supernet.layout is not None:
            checks.append(("supernet.layout", set(self.supernet.layout) <= set("NRB"), "only letters N, R, B"))
        b = self.benchmark
        if b.name is not None:
            known = ", ".join(BENCHMARKS)
            checks.append(("benchmark.name", b.name in BENCHMARKS, f"unknown {b.name!r} (known: {known})"))
            datasets = BENCHMARKS.get(b.name, ())
            checks.append(("benchmark.dataset", b.name not in BENCHMARKS or b.dataset in datasets,
                           f"unknown {b.dataset!r} (known: {', '.join(datasets)})"))
            checks.append(("benchmark.name", self.space == "nb201", f"{b.name} needs space: nb201"))
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
        raise_first(checks)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The config as plain nested dicts and lists (what ``config.yaml`` of a run holds)."""
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the config as YAML to ``path``."""
        with open(path, "w") as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False)


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


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, **data: Any) -> Config:
    """Load and validate a search config (see ``load_into``)."""
    return load_into(Config, path, overrides, **data)
