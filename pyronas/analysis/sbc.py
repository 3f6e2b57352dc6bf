"""Simulation-based calibration (Talts et al. 2018) of the α-posterior machinery.

For s = 1..S: draw α* ~ p(α), simulate data D_s ~ p(D | α*), draw L posterior draws α_1..L from the
method under test given D_s, and record the rank r_j = #{l : α_l,j < α*_j} ∈ {0..L} of every entry j.
If the method samples the exact posterior, each r_j is uniform on {0..L} (Talts et al., Theorem 1);
``uniformity`` tests that per entry with a χ² test on ``bins`` equal bins and Bonferroni over the
entries. A too narrow posterior piles ranks at both ends (∪), a too wide one in the middle (∩), a
biased one on one side.

``MixingProblem`` is a small model with the supernet's structure: ``edges`` × ``ops`` architecture
entries, op weights w_e = softmax(α_e) (a Gaussian prior N(0, 1/δ) on α) or θ_e ~ Dir(1) (mixed as
is), and a fixed "network": the output of datum i is Σ_e Σ_o w_{e,o} f_{i,e,o} with fixed random op
outputs f, observed with Gaussian noise. ``linear=True`` drops the mixing (y_i = Σ α_{e,o} f_{i,e,o}
+ noise) so that the posterior is Gaussian in closed form (``exact_posterior``): the reference the
tests use to show the test passes an exact sampler and rejects a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pyro.distributions as dist
import torch
from scipy import stats

from pyronas.infer.program import ArchPrior, SupernetModel
from pyronas.models.dirichlet import DirichletPrior
from pyronas.models.gaussian import GaussianPrior

Sampler = Callable[["MixingProblem", torch.Tensor, int], torch.Tensor]


@dataclass
class MixingProblem:
    """α (or θ) on ``edges`` × ``ops``; ``n`` observations y_i = Σ_{e,o} w_{e,o} f_{i,e,o} + N(0, noise²)."""

    edges: int = 2
    ops: int = 3
    n: int = 10
    noise: float = 0.3
    prior_name: str = "gaussian"
    delta: float = 1.0
    linear: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        g = torch.Generator().manual_seed(self.seed)
        self.features = torch.randn(self.n, self.edges, self.ops, generator=g)
        shapes = SimpleNamespace(arch_shapes=lambda: {"cell": (self.edges, self.ops)})
        alpha_prior = (GaussianPrior(shapes, self.delta) if self.prior_name == "gaussian" else DirichletPrior(shapes))
        self.model = SupernetModel(shapes, alpha_prior)  # what a guide is built on (it reads the shapes)
        self.prior: ArchPrior = self.model.prior
        if self.linear and self.prior_name != "gaussian":
            raise ValueError("linear=True has a closed form only with the Gaussian prior")

    def mean(self, alpha: torch.Tensor) -> torch.Tensor:
        """E[y | α] of every datum, ``[..., n]``."""
        w = alpha if self.linear else self.prior.to_weights(alpha)
        return torch.einsum("...eo,ieo->...i", w, self.features)

    def log_likelihood(self, y: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
        """α ↦ log p(y | α) (the form ``run_nuts`` takes)."""
        return lambda alpha: dist.Normal(self.mean(alpha["cell"]), self.noise).log_prob(y).sum()

    def simulate(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(α* ~ p(α), y ~ p(y | α*)) under ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            alpha = self.prior.alpha_dist("cell").sample()
            y = self.mean(alpha) + self.noise * torch.randn(self.n)
        return alpha, y

    def exact_posterior(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean ``[d]``, covariance ``[d, d]``) of p(α | y) for ``linear=True`` (Bayesian linear regression)."""
        if not self.linear:
            raise ValueError("the posterior is in closed form only for linear=True")
        x = self.features.reshape(self.n, -1).double()
        precision = self.delta * torch.eye(x.shape[1], dtype=x.dtype) + x.T @ x / self.noise**2
        cov = torch.linalg.inv(precision)
        return (cov @ x.T @ y.double() / self.noise**2).float(), cov.float()


def exact_sampler(scale: float = 1.0, shift: float = 0.0) -> Sampler:
    """Draws from the closed-form posterior, its sd multiplied by ``scale`` and its mean moved by
    ``shift`` posterior sds (``scale=1, shift=0``: exact; else a deliberately wrong posterior)."""

    def sample(problem: MixingProblem, y: torch.Tensor, num_draws: int) -> torch.Tensor:
        mean, cov = problem.exact_posterior(y)
        chol = torch.linalg.cholesky(cov)
        z = torch.randn(num_draws, len(mean))
        draws = mean + shift * cov.diagonal().sqrt() + scale * z @ chol.T
        return draws.reshape(num_draws, problem.edges, problem.ops)

    return sample


def nuts_sampler(warmup_steps: int = 100, num_samples: int = 100, max_tree_depth: int = 5) -> Sampler:
    """One NUTS chain (``run_nuts``, dense mass matrix) thinned evenly to the draws SBC asks for, so
    they are close to independent (Talts et al., section 5.1)."""
    from pyronas.analysis.nuts import run_nuts

    def sample(problem: MixingProblem, y: torch.Tensor, num_draws: int) -> torch.Tensor:
        result = run_nuts(problem.prior, problem.log_likelihood(y), num_samples, warmup_steps, num_chains=1,
                          seed=int(torch.randint(0, 2**31 - 1, ()).item()), max_tree_depth=max_tree_depth,
                          full_mass=True)
        chain = result.alpha["cell"][0]
        return chain[torch.linspace(0, len(chain) - 1, num_draws).round().long()]

    return sample


def sbc_ranks(problem: MixingProblem, sampler: Sampler, simulations: int = 100, num_draws: int = 19,
              seed: int = 0, on_rank: Callable[[int, np.ndarray], None] | None = None) -> np.ndarray:
    """Ranks ``[simulations, edges · ops]`` in {0..num_draws} of α* among the sampler's draws
    (``on_rank(s, ranks_s)`` after each simulation: e.g. append it to a file)."""
    ranks = []
    for s in range(simulations):
        truth, y = problem.simulate(seed + s)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(10_000 + seed + s)
            draws = sampler(problem, y, num_draws)
        r = (draws.reshape(num_draws, -1) < truth.reshape(1, -1)).sum(0).numpy()
        ranks.append(r)
        if on_rank is not None:
            on_rank(s, r)
    return np.stack(ranks)


@dataclass
class Uniformity:
    """χ² tests of rank uniformity: per-entry p-values, the smallest, and the Bonferroni verdict."""

    p_values: np.ndarray
    min_p: float
    passed: bool
    level: float


def uniformity(ranks: np.ndarray, num_draws: int, bins: int = 5, level: float = 0.01) -> Uniformity:
    """χ² test that each column of ``ranks`` is uniform on {0..num_draws} (``bins`` equal bins;
    ``num_draws + 1`` must be a multiple of ``bins``); passed when every p ≥ ``level`` / columns."""
    if (num_draws + 1) % bins:
        raise ValueError(f"num_draws + 1 = {num_draws + 1} is not a multiple of bins = {bins}")
    width = (num_draws + 1) // bins
    counts = np.stack([np.bincount(col // width, minlength=bins) for col in ranks.T])
    p = np.array([stats.chisquare(c).pvalue for c in counts])
    min_p = float(p.min())
    return Uniformity(p, min_p, bool(min_p >= level / len(p)), level)


def rank_histogram_summary(ranks: np.ndarray, num_draws: int, bins: int = 5) -> list[float]:
    """The pooled share of ranks per bin (all entries together): 1/bins each when uniform."""
    width = (num_draws + 1) // bins
    counts = np.bincount((ranks // width).ravel(), minlength=bins)
    return (counts / counts.sum()).round(4).tolist()
