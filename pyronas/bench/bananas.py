"""BANANAS on a NAS-Bench-201 validation table: an ensemble of neural predictors on the path encoding.

White, Neiswanger & Savani (2021), "BANANAS: Bayesian Optimization with Neural Architectures for Neural
Architecture Search", Algorithm 1, with its defaults: ``n_init = 10`` random cells; then, each round,

1. train an ensemble of ``n_models = 5`` feed-forward predictors (``layers = 10`` hidden layers of width 20, ReLU,
   Adam with learning rate 0.01, mean absolute error, 200 epochs, batches of 32) on the path encodings
   (``pyronas.bo.encodings``, ``paths``) of every cell queried so far and their standardised observed values;
2. draw ``n_candidates = 100`` candidates by mutating the best cells (the acquisition optimiser of Sec. 4): uniformly
   among the unqueried cells within ``r`` edges of the ``mutate_top = 2`` cells with the best mean observation
   (NASLib's NAS-Bench-201 setting), ``r = 1`` (one mutation) widened one edge at a time while fewer than 100 are
   left, so the pool never runs dry around a well-explored incumbent;
3. score each candidate by independent Thompson sampling (ITS, Sec. 4),
   ``f~(x) ~ N(mean_m f_m(x), sd_m f_m(x))`` independently per candidate, and query the ``k = 10`` best.

A query observes one training seed as in ``pyronas.bench.blackbox``; the search keeps the cell with the best mean
observation. Torch only (no Pyro); every draw comes from ``rng``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from pyronas.bench.blackbox import Trace
from pyronas.bench.nb201 import NUM_CELLS
from pyronas.bo.candidates import encode_op_indices, enumerate_op_indices, within
from pyronas.bo.encodings import encoder
from pyronas.bo.leader import cell_means
from pyronas.nn.spaces import get_space


@functools.lru_cache(maxsize=1)
def all_cells() -> torch.Tensor:
    """Op indices ``[15625, 6]`` of every NAS-Bench-201 cell, rows in ``cell_index`` order (built once)."""
    return enumerate_op_indices(get_space("nb201"))


@functools.lru_cache(maxsize=1)
def path_table() -> torch.Tensor:
    """Path encodings ``[15625, 84]`` of every NAS-Bench-201 cell, rows in ``cell_index`` order (built once)."""
    space = get_space("nb201")
    return encoder(space, "paths")(encode_op_indices(space, all_cells()))


class Ensemble(torch.nn.Module):
    """``n_models`` copies of BANANAS' meta neural network (``layers`` fully connected ReLU layers of ``width``,
    one output), trained side by side as batched matrix products: member ``m`` has its own weights and its own
    batch order. Weights start as ``torch.nn.Linear``'s do, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, drawn from ``g``."""

    def __init__(self, n_in: int, g: torch.Generator, n_models: int = 5, layers: int = 10, width: int = 20):
        super().__init__()
        dims = [n_in] + [width] * layers + [1]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            bound = fan_in ** -0.5
            w = (torch.rand(n_models, fan_in, fan_out, generator=g) * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter((torch.rand(n_models, 1, fan_out, generator=g) * 2 - 1) * bound))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Predictions ``[n_models, N]`` for inputs ``[N, n_in]`` (shared) or ``[n_models, N, n_in]`` (per member)."""
        h = X.expand(self.weights[0].shape[0], *X.shape) if X.dim() == 2 else X
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < len(self.weights) - 1:
                h = torch.relu(h)
        return h.squeeze(-1)


def fit_ensemble(X: torch.Tensor, y: torch.Tensor, g: torch.Generator, n_models: int = 5, layers: int = 10,
                 epochs: int = 200, batch_size: int = 32, lr: float = 0.01) -> Ensemble:
    """Train the ensemble by Adam on the mean absolute error, each member on its own shuffled batches."""
    net = Ensemble(X.shape[1], g, n_models, layers).to(X.dtype)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.stack([torch.randperm(X.shape[0], generator=g) for _ in range(n_models)])
        for start in range(0, X.shape[0], batch_size):
            b = order[:, start:start + batch_size]  # [n_models, batch]
            opt.zero_grad()
            # each member's mean over its batch, summed: the members' gradients stay apart
            (net(X[b]) - y[b]).abs().mean(1).sum().backward()
            opt.step()
    return net


def mutation_candidates(best: list[int], queried: set[int], n: int, rng: np.random.Generator,
                        n_rows: int = NUM_CELLS) -> list[int]:
    """``n`` unqueried rows (of the first ``n_rows``) drawn uniformly among those within ``r`` edges of a row of
    ``best``, with the smallest ``r >= 1`` that leaves at least ``n`` (all that are left when even ``r = 6`` leaves
    fewer)."""
    ops = all_cells()[:n_rows]
    fresh = np.ones(len(ops), dtype=bool)
    fresh[list(queried)] = False
    for r in range(1, ops.shape[1] + 1):
        pool = np.flatnonzero(fresh & within(ops, ops[best], r).numpy())
        if len(pool) >= n:
            break
    return [int(c) for c in rng.choice(pool, size=min(n, len(pool)), replace=False)]


def independent_thompson(preds: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """ITS: one draw per candidate from ``N(mean, sd)`` of the ensemble's predictions ``[models, candidates]``."""
    mean, sd = preds.mean(0), preds.std(0)
    return mean + sd * torch.randn(mean.shape, generator=g, dtype=mean.dtype)


def bananas(table, budget: int, rng: np.random.Generator, n_init: int = 10, k: int = 10, n_models: int = 5,
            layers: int = 10, epochs: int = 200, mutate_top: int = 2, n_candidates: int = 100) -> Trace:
    """One BANANAS run of ``budget`` queries (Algorithm 1; defaults as in the paper)."""
    paths = path_table().to(torch.get_default_dtype())
    g = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    trace = Trace()
    for row in rng.choice(len(table.mean), size=min(n_init, budget), replace=False):
        trace.add(row, table.sample(int(row), rng))
    while len(trace.rows) < budget:
        means = cell_means(trace.rows, trace.observed)
        rows = list(means)
        y = torch.tensor([means[r][0] for r in rows], dtype=paths.dtype)
        y = (y - y.mean()) / (y.std() if len(rows) > 1 and y.std() > 0 else 1.0)
        net = fit_ensemble(paths[rows], y, g, n_models, layers, epochs)
        best = sorted(rows, key=lambda r: -means[r][0])[:mutate_top]
        cands = mutation_candidates(best, set(rows), n_candidates, rng, len(table.mean))
        with torch.no_grad():
            preds = net(paths[cands])
        score = independent_thompson(preds, g)
        for c in score.argsort(descending=True)[: min(k, budget - len(trace.rows))]:
            trace.add(cands[int(c)], table.sample(cands[int(c)], rng))
    return trace
