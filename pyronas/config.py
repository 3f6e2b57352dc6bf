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

The sections are dataclasses of ``pyronas.config_sections`` and the value checks are functions of
``pyronas.config_checks``; this module holds the root ``Config`` and ``load_config`` and re-exports both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pyronas.bo.config import BOConfig
from pyronas.config_checks import (
    SEED_MAX,
    TRAIN_IMAGES,
    Check,
    data_checks,
    device_check,
    optim_checks,
    raise_first,
    schedule_checks,
    search_checks,
    seed_check,
)
from pyronas.config_sections import (
    BENCHMARKS,
    BenchmarkConfig,
    CallbackConfig,
    DataConfig,
    GroupConfig,
    GuideConfig,
    ModelConfig,
    ObjectiveConfig,
    OptimConfig,
    OptimsConfig,
    OutputConfig,
    RuntimeConfig,
    ScheduleConfig,
    SearchConfig,
    SelectConfig,
    SupernetConfig,
    TermConfig,
)
from pyronas.errors import ConfigError
from pyronas.schema import load_into

__all__ = [
    "BENCHMARKS",
    "BenchmarkConfig",
    "CallbackConfig",
    "Check",
    "Config",
    "ConfigError",
    "DataConfig",
    "GroupConfig",
    "GuideConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "OptimsConfig",
    "OutputConfig",
    "RuntimeConfig",
    "SEED_MAX",
    "ScheduleConfig",
    "SearchConfig",
    "SelectConfig",
    "SupernetConfig",
    "TRAIN_IMAGES",
    "TermConfig",
    "data_checks",
    "device_check",
    "load_config",
    "optim_checks",
    "raise_first",
    "schedule_checks",
    "search_checks",
    "seed_check",
]


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


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, **data: Any) -> Config:
    """Load and validate a search config (see ``load_into``)."""
    return load_into(Config, path, overrides, **data)
