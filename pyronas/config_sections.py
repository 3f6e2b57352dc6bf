"""The sections of a search config, one dataclass each (``supernet``, ``runtime``, ``data``, ``model``, ``guide``,
``objective``, ``optim``, ``search``, ``select``, ``output``, ``benchmark``): their keys, types, defaults and
``#:`` descriptions (read by Sphinx and ``scripts/gen_config_reference.py``).

The root ``Config`` that holds them, its validation and ``load_config`` are ``pyronas.config``, which
re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BENCHMARKS",
    "BenchmarkConfig",
    "CallbackConfig",
    "DataConfig",
    "GroupConfig",
    "GuideConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "OptimsConfig",
    "OutputConfig",
    "RuntimeConfig",
    "ScheduleConfig",
    "SearchConfig",
    "SelectConfig",
    "SupernetConfig",
    "TermConfig",
]


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
