"""Fixtures of the black-box benchmark tests: a synthetic NAS-Bench-201-shaped table."""

import numpy as np
import pytest

from pyronas.bench.nb201 import NUM_CELLS, NB201Table, cell_from_index


class AdditiveTable:
    """True value = Σ_edges w[edge, op] (one best op per edge), observed with seed noise (3 seeds per cell)."""

    def __init__(self, seed=0, noise=0.1):
        rng = np.random.default_rng(seed)
        w = rng.normal(size=(6, 5))
        ops = np.array([cell_from_index(r) for r in range(NUM_CELLS)])
        self.mean = w[np.arange(6), ops].sum(1)
        self.val_acc = self.mean[:, None] + noise * rng.normal(size=(NUM_CELLS, 3))
        self.val_acc -= self.val_acc.mean(1, keepdims=True) - self.mean[:, None]  # seed mean = true value
        self.best = self.mean.max()
        self.n_seeds = np.full(NUM_CELLS, 3)

    def sample(self, row, rng):
        return float(self.val_acc[row, rng.integers(3)])

    sample_seed = NB201Table.sample_seed  # the real table's seed draw (GP-BO's re-queries)


@pytest.fixture(scope="module")
def table():
    """An additive table (seed 0, noise 0.1), one per test module."""
    return AdditiveTable()
