"""BANANAS (White et al. 2021) on a synthetic NAS-Bench-201-shaped table: the ensemble, ITS, the mutation pool."""

import numpy as np
import torch

from pyronas.bench import bananas as bn
from pyronas.bench import blackbox as bb
from pyronas.bench.nb201 import cell_from_index


def _dist(a, b):
    return sum(x != y for x, y in zip(cell_from_index(a), cell_from_index(b), strict=True))


def test_ensemble_members_are_apart_and_fit_their_data(one_thread):
    g = torch.Generator().manual_seed(0)
    X = bn.path_table()[torch.randperm(15_625, generator=g)[:60]].float()
    w = torch.randn(X.shape[1], generator=g)
    y = X @ w
    y = (y - y.mean()) / y.std()
    untrained = bn.Ensemble(X.shape[1], torch.Generator().manual_seed(1))
    assert untrained(X).shape == (5, 60) and not torch.allclose(untrained(X)[0], untrained(X)[1])
    net = bn.fit_ensemble(X, y, torch.Generator().manual_seed(1), epochs=100)
    with torch.no_grad():
        mae = (net(X) - y).abs().mean(1)
    assert mae.max() < 0.25  # every member fits a linear function of the paths (sd 1) on its training cells


def test_independent_thompson_sampling_matches_the_normal_it_draws_from():
    preds = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 2.0], [1.0, 1.0, 2.0]])  # means 1, 1, 2; sds 1, 0, 0
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([bn.independent_thompson(preds, g) for _ in range(20_000)])
    assert abs(float(draws[:, 0].mean()) - 1.0) < 0.03 and abs(float(draws[:, 0].std()) - 1.0) < 0.03
    assert torch.all(draws[:, 1] == 1.0) and torch.all(draws[:, 2] == 2.0)  # one model's view: no spread


def test_mutation_pool_widens_only_when_the_neighbourhood_is_spent():
    rng = np.random.default_rng(0)
    best = [1234]
    pool = bn.mutation_candidates(best, {1234}, 20, rng)
    assert len(set(pool)) == 20 and all(_dist(c, 1234) == 1 for c in pool)  # 24 one-edge neighbours
    near = set(bn.mutation_candidates(best, {1234}, 24, rng))
    spent = near | {1234}
    wider = bn.mutation_candidates(best, spent, 50, rng)
    assert len(set(wider)) == 50 and all(_dist(c, 1234) == 2 for c in wider) and not set(wider) & spent


def test_bananas_queries_new_cells_and_beats_random_search(table, one_thread):
    """Additive table, 40 queries (10 random, then 3 rounds of 10), no cell queried twice: BANANAS ends higher than
    random search at equal queries, by more than half a unit (the sd across cells is 1.7), over 4 seeds."""
    finals, randoms = [], []
    for seed in range(4):
        trace = bn.bananas(table, 40, np.random.default_rng(seed), epochs=50)
        assert len(trace.rows) == len(set(trace.rows)) == 40
        assert all(v in table.val_acc[r] for r, v in zip(trace.rows, trace.observed, strict=True))
        finals.append(bb.best_so_far(trace, table.mean)[-1])
        randoms.append(bb.best_so_far(bb.random_search(table, 40, np.random.default_rng(seed)), table.mean)[-1])
    assert np.mean(finals) > np.mean(randoms) + 0.5
