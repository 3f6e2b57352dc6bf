"""The ``bo:`` config section of Bayesian-optimisation NAS (``pyronas bo``); plain dataclasses, no Pyro."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pyronas.errors import ConfigError

ACQUISITIONS = ("ei", "pi", "ucb", "ts", "random")


@dataclass
class BOObjectiveConfig:
    """What to maximise: ``train`` (short training), ``table`` (lookup) or ``synthetic`` (tests)."""

    #: What a BO query evaluates: train (a short training of the cell on `data`), table (a lookup in `table`) or
    #: synthetic (a seeded smooth function, for tests).
    kind: Literal["train", "table", "synthetic"] = "train"
    #: JSON or CSV file of architecture values (kind: table); a CSV needs columns arch and `column`.
    table: str | None = None
    #: Column or JSON key of the table holding the value to maximise.
    column: str = "value"
    #: Seed of the synthetic objective (kind: synthetic).
    synthetic_seed: int = 0
    #: Standard deviation of the noise added to the synthetic objective.
    synthetic_noise: float = 0.0
    #: Initial channels of the network trained per query (kind: train).
    C: int = 8
    #: Cells per stage of the network trained per query.
    layers: int = 1
    #: SGD steps of the short training per query (cosine learning rate).
    steps: int = 100
    #: Batch size of the short training.
    batch_size: int = 64
    #: Learning rate of the short training.
    lr: float = 0.05
    #: SGD momentum of the short training.
    momentum: float = 0.9
    #: Weight decay of the short training.
    weight_decay: float = 3e-4
    #: Training images of the short training (null: all).
    n_train: int | None = 5000
    #: Validation images that score a query (null: all).
    n_val: int | None = 2000


@dataclass
class BOConfig:
    """Settings of the BO loop (the ``bo:`` section of a config)."""

    #: Architectures evaluated in total, the initial design included.
    budget: int = 50
    #: Uniformly random architectures evaluated before the GP proposes.
    n_init: int = 5
    #: Initial design: random (n_init uniformly random architectures) or zero_cost (the n_init with the highest
    #: SynFlow score at initialisation among `init_pool` uniformly random ones: the zero-cost warm-up of Abdelfattah
    #: et al. 2021; needs objective.kind: train, whose network it scores, no data read).
    init_design: Literal["random", "zero_cost"] = "random"
    #: Uniformly random architectures scored by the proxy for init_design: zero_cost.
    init_pool: int = 500
    #: Architectures proposed per round (later picks of a batch see fantasised outcomes of earlier ones).
    batch_size: int = 1
    #: Acquisition function: expected improvement, probability of improvement, GP-UCB, Thompson sampling (one
    #: joint posterior draw over the candidates), or random proposals.
    acquisition: Literal["ei", "pi", "ucb", "ts", "random"] = "ei"
    #: Thompson sampling: the draw is joint over this many candidates, those with the highest mean + 3 sd.
    ts_shortlist: int = 1000
    #: Exploration margin ξ of EI and PI.
    xi: float = 0.0
    #: constant ξ, or Kushner's decreasing schedule (linear from ξ to 0 over the budget).
    xi_schedule: Literal["constant", "decreasing"] = "constant"
    #: ν of the GP-UCB κ schedule (Srinivas et al.).
    ucb_nu: float = 1.0
    #: δ of the GP-UCB κ schedule.
    ucb_delta: float = 0.1
    #: GP kernel (pyronas.bo.kernels.KERNELS): ARD matern52 or se, hamming (one-hot cells, one length scale per
    #: edge), hamming_additive (hamming plus its first-order additive part), wl (exponentiated normalised WL kernel,
    #: with encoding: wl).
    kernel: str = "matern52"  # a name in pyronas.bo.kernels.KERNELS
    #: What the kernel sees of a cell (pyronas.bo.encodings): the one-hot op per edge, or the path encoding of
    #: BANANAS (op sequences of input-to-output routes; paths_noskip drops skip_connect from them). Paths need a
    #: single-input all-edges cell (NAS-Bench-201) and a kernel on real vectors (matern52, se); wl: NAS-BOWL's
    #: Weisfeiler-Lehman features of the op-on-node graph (the same cells; kernel: wl).
    encoding: Literal["onehot", "paths", "paths_noskip", "wl"] = "onehot"
    #: WL iterations h of encoding: wl (labels of sub-paths of up to h + 1 ops; NAS-BOWL: 1 or 2).
    wl_iterations: int = 1
    #: GP hyperparameters by MAP, or integrated over NUTS draws.
    hypers: Literal["map", "nuts"] = "map"
    #: Optimizer of the MAP hyperparameters.
    map_optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    #: L-BFGS iterations (or Adam steps) of one MAP fit.
    map_steps: int = 100  # L-BFGS iterations (or Adam steps)
    #: Adam's learning rate of the MAP fit (Adam only).
    map_lr: float = 0.05  # Adam only
    #: Each refit starts from the last MAP and from the prior median, keeping the better; false: warm start only.
    map_restart: bool = True  # each refit starts from the last MAP and from the prior median; keeps the better
    #: Re-optimise the MAP hyperparameters every k-th proposal (the GP always conditions on all data).
    refit_every: int = 1  # re-optimise the MAP hyperparameters every k-th proposal (the GP always sees all data)
    #: NUTS draws of the hyperparameters kept (hypers: nuts).
    nuts_samples: int = 10
    #: NUTS warm-up steps.
    nuts_warmup: int = 50
    #: Keep every k-th NUTS draw.
    nuts_thin: int = 2
    #: Maximum tree depth of NUTS.
    nuts_max_tree_depth: int = 5
    #: Fantasised outcomes per pending architecture in a batch or asynchronous round.
    n_fantasies: int = 10
    #: Score every architecture of the space when it has at most this many (NAS-Bench-201: 15,625); otherwise a
    #: candidate pool.
    exhaustive_max: int = 20000
    #: 0: maximise the acquisition over every candidate; k >= 1: only over architectures within k edges of the
    #: `mutate_top` best evaluated ones (the incumbent-mutating acquisition optimiser of BANANAS; enumerable spaces),
    #: all candidates again when none is left there.
    local_radius: int = 0
    #: Random architectures in the candidate pool (spaces too large to enumerate).
    n_random: int = 2000
    #: Mutants of the best architectures added to the candidate pool.
    n_mutations: int = 1000
    #: How many of the best evaluated architectures are mutated.
    mutate_top: int = 10
    #: Evaluations of the leader (the architecture with the best mean observation) before a new one is proposed:
    #: after the initial design, a leader with fewer is re-evaluated (another training seed) instead of maximising
    #: the acquisition; 1: never re-evaluate.
    replicate: int = 1
    #: With replicate > 1, what else is verified once the leader has its evaluations: none; incumbent (the GP's
    #: noisy incumbent, the evaluated architecture with the highest posterior mean, while it has fewer than
    #: `replicate`); challenger (LUCB: the evaluated architecture with fewer whose upper bound mu + 1.96 sd is
    #: highest, if it reaches the leader's mean observation), so a good one with an unlucky first seed is re-tried.
    replicate_also: Literal["none", "incumbent", "challenger"] = "none"
    #: Evaluations before replication starts (0: right after the initial design): explore first, verify later.
    replicate_after: int = 0
    #: Hyperparameter priors of the GP, e.g. {lengthscale: [loc, scale], noise: [loc, scale]} (log-normal (loc, scale)
    #: of the log; pyronas.bo.gp.GPPriors).
    priors: dict[str, Any] = field(default_factory=dict)
    #: What a query evaluates.
    objective: BOObjectiveConfig = field(default_factory=BOObjectiveConfig)

    def __post_init__(self):
        if isinstance(self.objective, dict):
            self.objective = BOObjectiveConfig(**self.objective)
        if self.acquisition not in ACQUISITIONS:
            raise ValueError(f"bo.acquisition: unknown {self.acquisition!r}; known: {', '.join(ACQUISITIONS)}")
        if self.hypers not in ("map", "nuts"):
            raise ValueError(f"bo.hypers: unknown {self.hypers!r}; known: map, nuts")
        from pyronas.bo.encodings import ENCODINGS
        from pyronas.bo.kernels import KERNELS, ONEHOT_KERNELS  # pyro's GP module, only when a BO section is built

        KERNELS.get(self.kernel, "bo.kernel")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"bo.encoding: unknown {self.encoding!r}; known: {', '.join(ENCODINGS)}")
        if self.kernel in ONEHOT_KERNELS and self.encoding != "onehot":
            raise ConfigError(f"bo.kernel: {self.kernel} counts edges whose one-hot op differs, so it needs encoding: "
                              f"onehot (got {self.encoding!r}); use kernel: matern52 or se with path encodings")
        if self.kernel == "wl" and self.encoding != "wl":
            raise ConfigError(f"bo.kernel: wl is the kernel of unit-norm WL features, so it needs encoding: wl (got "
                              f"{self.encoding!r}); set encoding: wl, or another kernel")
        if self.wl_iterations < 0:
            raise ConfigError(f"bo.wl_iterations: must be >= 0 (got {self.wl_iterations})")
        if min(self.batch_size, self.budget, self.n_init, self.refit_every) < 1:
            raise ValueError("bo.batch_size, bo.budget, bo.n_init and bo.refit_every must be >= 1")
        if self.init_design not in ("random", "zero_cost"):
            raise ConfigError(f"bo.init_design: unknown {self.init_design!r}; known: random, zero_cost")
        if self.init_design == "zero_cost" and self.init_pool < self.n_init:
            raise ConfigError(f"bo.init_pool: the zero-cost initial design keeps the n_init = {self.n_init} best of "
                              f"init_pool random architectures, so init_pool must be >= n_init (got {self.init_pool})")
        if self.init_design == "zero_cost" and self.objective.kind != "train":
            raise ConfigError(f"bo.init_design: zero_cost scores each architecture's network at initialisation, so it "
                              f"needs bo.objective.kind: train (got {self.objective.kind!r}); use init_design: random")
        if self.replicate_also not in ("none", "incumbent", "challenger"):
            raise ConfigError(f"bo.replicate_also: unknown {self.replicate_also!r}; known: none, incumbent, challenger")
        if self.local_radius < 0:
            raise ConfigError(f"bo.local_radius: must be >= 0 (got {self.local_radius})")
        if self.ts_shortlist < 1:
            raise ConfigError(f"bo.ts_shortlist: must be >= 1 (got {self.ts_shortlist})")
        if self.replicate_after < 0:
            raise ConfigError(f"bo.replicate_after: must be >= 0 (got {self.replicate_after})")
        if self.replicate < 1:
            raise ConfigError(f"bo.replicate: must be >= 1 (got {self.replicate}); 1 never re-evaluates an "
                              "architecture, k > 1 evaluates the leader k times before proposing a new one")
