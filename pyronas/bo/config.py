"""The ``bo:`` config section of Bayesian-optimisation NAS (``pyronas bo``); plain dataclasses, no Pyro."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ACQUISITIONS = ("ei", "pi", "ucb", "random")


@dataclass
class BOObjectiveConfig:
    """What to maximise: ``train`` (short training), ``table`` (lookup) or ``synthetic`` (tests)."""

    kind: Literal["train", "table", "synthetic"] = "train"
    table: str | None = None
    column: str = "value"
    synthetic_seed: int = 0
    synthetic_noise: float = 0.0
    C: int = 8
    layers: int = 1
    steps: int = 100
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    n_train: int | None = 5000
    n_val: int | None = 2000


@dataclass
class BOConfig:
    """Settings of the BO loop (the ``bo:`` section of a config)."""

    budget: int = 50
    n_init: int = 5
    batch_size: int = 1
    acquisition: Literal["ei", "pi", "ucb", "random"] = "ei"
    xi: float = 0.0
    xi_schedule: Literal["constant", "decreasing"] = "constant"
    ucb_nu: float = 1.0
    ucb_delta: float = 0.1
    kernel: str = "matern52"  # a name in pyronas.bo.gp.KERNELS
    hypers: Literal["map", "nuts"] = "map"
    map_optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    map_steps: int = 100  # L-BFGS iterations (or Adam steps)
    map_lr: float = 0.05  # Adam only
    map_restart: bool = True  # each refit starts from the last MAP and from the prior median; keeps the better
    refit_every: int = 1  # re-optimise the MAP hyperparameters every k-th proposal (the GP always sees all data)
    nuts_samples: int = 10
    nuts_warmup: int = 50
    nuts_thin: int = 2
    nuts_max_tree_depth: int = 5
    n_fantasies: int = 10
    exhaustive_max: int = 20000
    n_random: int = 2000
    n_mutations: int = 1000
    mutate_top: int = 10
    priors: dict[str, Any] = field(default_factory=dict)
    objective: BOObjectiveConfig = field(default_factory=BOObjectiveConfig)

    def __post_init__(self):
        if isinstance(self.objective, dict):
            self.objective = BOObjectiveConfig(**self.objective)
        if self.acquisition not in ACQUISITIONS:
            raise ValueError(f"bo.acquisition: unknown {self.acquisition!r}; known: {', '.join(ACQUISITIONS)}")
        if self.hypers not in ("map", "nuts"):
            raise ValueError(f"bo.hypers: unknown {self.hypers!r}; known: map, nuts")
        from pyronas.bo.gp import KERNELS  # pyro's GP module, only when a BO section is built

        KERNELS.get(self.kernel, "bo.kernel")
        if min(self.batch_size, self.budget, self.n_init, self.refit_every) < 1:
            raise ValueError("bo.batch_size, bo.budget, bo.n_init and bo.refit_every must be >= 1")
