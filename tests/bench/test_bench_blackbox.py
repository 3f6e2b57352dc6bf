"""Black-box baselines on a synthetic NAS-Bench-201-shaped table: random search, regularised evolution, GP-BO."""

from collections import Counter

import numpy as np
import pytest

from pyronas.bench import blackbox as bb
from pyronas.bench.nb201 import NUM_CELLS, cell_from_index


def _edges_changed(row_a, row_b):
    return sum(a != b for a, b in zip(cell_from_index(row_a), cell_from_index(row_b), strict=True))


def test_best_so_far_against_brute_force(table):
    trace = bb.random_search(table, 60, np.random.default_rng(0))
    curve = bb.best_so_far(trace, table.mean)
    for t in range(60):
        best = max(range(t + 1), key=lambda s: (trace.observed[s], -s))  # best observed, first on ties
        assert curve[t] == table.mean[trace.rows[best]]


def test_random_search_queries_distinct_cells_with_seed_observations(table):
    trace = bb.random_search(table, 200, np.random.default_rng(1))
    assert len(trace.rows) == len(set(trace.rows)) == 200
    for r, v in zip(trace.rows, trace.observed, strict=False):
        assert v in table.val_acc[r]


def test_mutation_changes_exactly_one_edge_to_a_different_op():
    rng = np.random.default_rng(0)
    parent = (0, 1, 2, 3, 4, 0)
    counts = Counter()
    for _ in range(3000):
        child = bb.mutate(parent, 5, rng)
        diff = [e for e in range(6) if child[e] != parent[e]]
        assert len(diff) == 1
        counts[(diff[0], child[diff[0]])] += 1
    assert len(counts) == 6 * 4  # every edge, every other op reached
    assert min(counts.values()) > 3000 / 24 / 2


def test_regularised_evolution_ages_out_the_oldest_and_keeps_p(table):
    history = []
    trace = bb.regularized_evolution(table, 80, np.random.default_rng(0), population_size=10, sample_size=3,
                                     on_cycle=lambda pop: history.append(list(pop)))
    assert len(trace.rows) == 80 and len(history) == 70
    initial = list(zip(trace.rows[:10], trace.observed[:10], strict=False))
    previous = initial
    for t, pop in enumerate(history):
        assert len(pop) == 10
        child = (trace.rows[10 + t], trace.observed[10 + t])
        assert pop == previous[1:] + [child]  # the oldest member is removed, the child appended
        parents = [m for m in previous if _edges_changed(m[0], child[0]) == 1]
        assert parents, "a child is a one-edge mutation of a population member"
        previous = pop


def test_full_tournament_mutates_the_best_observed_member(table):
    """With S = P the tournament winner is the population's best observed member."""
    history = []
    trace = bb.regularized_evolution(table, 40, np.random.default_rng(3), population_size=8, sample_size=8,
                                     on_cycle=lambda pop: history.append(list(pop)))
    previous = list(zip(trace.rows[:8], trace.observed[:8], strict=False))
    for t, pop in enumerate(history):
        best = max(previous, key=lambda m: m[1])
        child = trace.rows[8 + t]
        assert _edges_changed(best[0], child) == 1
        previous = pop


def test_regularised_evolution_improves_on_its_initial_population_and_beats_random(table):
    gains, re_final, rs_final = [], [], []
    for seed in range(10):
        trace = bb.regularized_evolution(table, 300, np.random.default_rng(seed), population_size=20, sample_size=5)
        curve = bb.best_so_far(trace, table.mean)
        gains.append(curve[-1] - curve[19])
        re_final.append(curve[-1])
        rs_final.append(bb.best_so_far(bb.random_search(table, 300, np.random.default_rng(seed)), table.mean)[-1])
    assert min(gains) >= 0 and np.mean(gains) > 0.5  # mutation finds better cells than the initial population
    assert np.mean(re_final) > np.mean(rs_final)
    assert np.mean(table.best - np.array(re_final)) < 0.5


def test_bayesian_optimisation_on_the_table(table, one_thread):
    trace = bb.bayesian_optimisation(table, 8, seed=0, n_init=5, map_restart=False, map_steps=20)
    assert len(trace.rows) == len(set(trace.rows)) == 8
    for r, v in zip(trace.rows, trace.observed, strict=False):
        assert v in table.val_acc[r]


def test_bayesian_optimisation_survives_a_map_fit_that_ends_on_a_non_pd_kernel(table, monkeypatch, one_thread):
    """A warm-started MAP fit that returns unusable hypers with loss = inf (an L-BFGS probe on a non-positive-
    definite kernel) must not be used: BayesOpt.fit falls back to a fit from the prior or the previous hypers."""
    import torch

    from pyronas.bo import loop
    from pyronas.bo.gp import GPHypers

    real, calls = loop.fit_map, []

    def failing_warm_fit(X, y, priors, kernel, init, steps, lr, optimizer):
        h, loss = real(X, y, priors, kernel, init, steps, lr, optimizer)
        calls.append((init is None, steps))
        if init is not None and steps > 0:
            return GPHypers(h.mean, h.variance, h.lengthscale, torch.tensor(float("nan"))), float("inf")
        return h, loss

    monkeypatch.setattr(loop, "fit_map", failing_warm_fit)
    trace = bb.bayesian_optimisation(table, 8, seed=0, n_init=5, map_restart=False, map_steps=10)
    assert len(trace.rows) == len(set(trace.rows)) == 8
    assert (True, 10) in calls[1:] and (False, 0) in calls  # refit from the prior, previous hypers re-scored


def test_bayesian_optimisation_log_error_warps_what_the_gp_sees_not_the_trace(table, monkeypatch, one_thread):
    from pyronas.bo import loop

    seen = []
    real = loop.BayesOpt._record
    monkeypatch.setattr(loop.BayesOpt, "_record", lambda self, ev: (seen.append(ev.value), real(self, ev)))
    shifted = type(table)()
    shifted.val_acc, shifted.mean = shifted.val_acc + 90.0, shifted.mean + 90.0  # accuracies (%) below 100
    trace = bb.bayesian_optimisation(shifted, 7, seed=1, log_error=True, n_init=5, kernel="hamming", map_steps=10)
    assert all(v in shifted.val_acc[r] for r, v in zip(trace.rows, trace.observed, strict=True))
    assert seen == pytest.approx([-np.log(100.0 - v) for v in trace.observed])


def test_incumbent_so_far_follows_the_latest_fit():
    true = np.array([1.0, 5.0, 3.0, 4.0, 2.0])
    trace = bb.Trace(rows=[0, 4, 2, 1, 3], observed=[1.1, 2.5, 2.9, 4.8, 4.1], incumbents=[(3, 4), (4, 1), (5, 2)])
    assert list(bb.best_so_far(trace, true)) == [1.0, 2.0, 3.0, 5.0, 5.0]
    # before the first fit (n = 3) the best observed; then the incumbent of the fit on n <= t queries
    assert list(bb.incumbent_so_far(trace, true)) == [1.0, 2.0, 2.0, 5.0, 3.0]


def test_bayesian_optimisation_records_the_gp_incumbents(table, one_thread):
    trace = bb.bayesian_optimisation(table, 7, seed=0, n_init=5, map_restart=False, map_steps=10)
    assert [n for n, _ in trace.incumbents] == [5, 6, 7]  # one per proposal, and the final one
    assert all(row in trace.rows[:n] for n, row in trace.incumbents)


def test_local_search_walks_one_edge_neighbourhoods_and_beats_random(table):
    trace = bb.local_search(table, 150, np.random.default_rng(0))
    assert len(trace.rows) == len(set(trace.rows)) == 150  # never re-queries a cell
    # after the start cell, each query is a one-edge neighbour of an earlier query, or a restart
    moves = [min(_edges_changed(r, q) for q in trace.rows[:i]) for i, r in enumerate(trace.rows) if i]
    assert sum(m == 1 for m in moves) >= 0.9 * len(moves)
    ls = np.mean([bb.best_so_far(bb.local_search(table, 100, np.random.default_rng(s)), table.mean)[-1]
                  for s in range(10)])
    rs = np.mean([bb.best_so_far(bb.random_search(table, 100, np.random.default_rng(s)), table.mean)[-1]
                  for s in range(10)])
    assert ls > rs  # the additive table is the landscape local search was made for


def test_best_so_far_judges_a_requeried_cell_by_the_mean_of_its_observations():
    true = np.array([10.0, 20.0, 30.0])
    trace = bb.Trace(rows=[0, 1, 0, 2, 2], observed=[5.0, 4.0, 2.0, 3.9, 4.1])
    # cell 0's lucky 5.0 leads until its second seed (2.0) brings its mean to 3.5 below cell 1's 4.0; cell 2's
    # mean 4.0 then ties cell 1's, and the cell queried first keeps the lead
    assert bb.leaders(trace) == [0, 0, 1, 1, 1]
    assert list(bb.best_so_far(trace, true)) == [10.0, 10.0, 20.0, 20.0, 20.0]


def test_sample_seed_draws_an_unused_seed_and_reproduces_sample(table):
    for row in (0, 77, NUM_CELLS - 1):
        a, b = np.random.default_rng(5), np.random.default_rng(5)
        assert table.val_acc[row, table.sample_seed(row, a)] == table.sample(row, b)  # same stream as sample
        assert a.random() == b.random()
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert table.sample_seed(3, rng, {0, 2}) == 1
        assert table.sample_seed(3, rng, {1}) in (0, 2)
    assert {table.sample_seed(3, rng, {0, 1, 2}) for _ in range(60)} == {0, 1, 2}  # all used: uniform again


def test_bayesian_optimisation_replicates_the_leader_with_unused_seeds(table, one_thread):
    trace = bb.bayesian_optimisation(table, 14, seed=2, n_init=5, replicate=3, kernel="hamming", map_steps=10,
                                     map_restart=False)
    assert len(trace.rows) == 14 and len(set(trace.rows)) < 14  # the leader was re-queried
    for row in set(trace.rows):
        seen = [v for r, v in zip(trace.rows, trace.observed, strict=True) if r == row]
        seeds = [int(np.flatnonzero(table.val_acc[row] == v)[0]) for v in seen]
        assert len(set(seeds[:3])) == len(seeds[:3])  # each re-query sees a seed not observed before


def test_summary_csv_keeps_the_checkpoints_the_optimum_and_the_requeries(tmp_path):
    import csv
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "blackbox_nb201.py"
    spec = importlib.util.spec_from_file_location("blackbox_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    curve = [90.0 + 0.01 * t for t in range(150)]
    runs = [{"method": "bo-x", "dataset": "cifar10", "seed": s, "rows": [1, 2, 1] + list(range(3, 150)),
             "best_so_far": curve if s else curve[:-1] + [91.6], "optimum": 91.6, "wall_s": 3.0} for s in (1, 0)]
    out = tmp_path / "s.csv"
    assert mod.write_summary(runs + [dict(runs[0], method="other")], str(out), ["bo-x"]) == 2
    rows = list(csv.DictReader(out.open()))
    assert [r["seed"] for r in rows] == ["0", "1"]  # sorted by method, dataset, seed
    assert float(rows[1]["best_100"]) == pytest.approx(curve[99]) and float(rows[1]["best_150"]) == pytest.approx(91.49)
    assert rows[0]["optimum_leader"] == "1" and rows[1]["optimum_leader"] == "0" and rows[0]["requeries"] == "1"


def test_noise_free_diagnostic_observes_the_seed_mean(table, one_thread):
    trace = bb.bayesian_optimisation(table, 6, seed=0, n_init=4, map_restart=False, map_steps=10, noise_free=True)
    assert trace.observed == pytest.approx([float(table.mean[r]) for r in trace.rows])
    noisy = bb.bayesian_optimisation(table, 6, seed=0, n_init=4, map_restart=False, map_steps=10)
    assert any(v not in table.mean for v in noisy.observed)  # one seed's value, not the mean


def test_bayesian_optimisation_zero_cost_design_queries_the_proxys_best_first(table, one_thread):
    """With init_design zero_cost the first n_init queries are the proxy's best of a random pool, best first: with
    a proxy that is the table's true value, they lie in its top 5 % (1,000-cell pool, 10 kept)."""
    trace = bb.bayesian_optimisation(table, 11, seed=0, n_init=10, map_restart=False, map_steps=20,
                                     init_design="zero_cost", init_pool=1000, proxy=table.mean)
    first = table.mean[trace.rows[:10]]
    assert list(first) == sorted(first, reverse=True)
    assert first.min() > np.quantile(table.mean, 0.95)
    with pytest.raises(ValueError, match="needs proxy="):
        bb.bayesian_optimisation(table, 11, seed=0, init_design="zero_cost")
