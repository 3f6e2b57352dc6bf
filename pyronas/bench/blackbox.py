"""Black-box NAS baselines on a NAS-Bench-201 validation table: random search, regularised evolution, local search
and GP Bayesian optimisation (``pyronas.bo.loop.BayesOpt``), each a sequence of queried cells (BANANAS, the neural
ensemble predictor: ``pyronas.bench.bananas``).

A query of cell ``c`` observes one training seed's validation accuracy of ``c`` (the seed drawn uniformly:
``NB201Table.sample``), as an optimiser training the cell once would; the search keeps the cell with the
best *mean observed* value (the mean over its queries, if it was queried more than once), and it is scored by
that cell's *true* (seed-mean) validation accuracy (``best_so_far``). GP-BO's re-query of a cell (``replicate``)
sees a seed not yet observed for it (``NB201Table.sample_seed``). Every function works on a ``table``-like
object with ``mean``, ``sample`` (GP-BO: ``val_acc``, ``sample_seed``) and rows ``0 .. N-1`` whose cells are
op-index tuples (``cell_from_index``), so tests can pass a small synthetic table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pyronas.bench.nb201 import NB201Table, cell_from_index, cell_index
from pyronas.bo.leader import running_leaders


@dataclass
class Trace:
    """The queries of one search run: table rows and observed values, in query order."""

    rows: list[int] = field(default_factory=list)
    observed: list[float] = field(default_factory=list)
    # GP-BO only: (number of queries n, row of the noisy incumbent of the GP fitted on those n) per fit
    incumbents: list[tuple[int, int]] = field(default_factory=list)

    def add(self, row: int, value: float) -> None:
        """Record one query: the table row asked for and the value observed."""
        self.rows.append(int(row))
        self.observed.append(float(value))


def leaders(trace: Trace) -> list[int]:
    """After each query ``t``: the leader, the row whose observations so far have the highest mean
    (``pyronas.bo.leader.running_leaders``; the cell first queried wins a tie). For a search that never re-queries
    a cell this is the row of the best single observation."""
    return [row for row, _ in running_leaders(trace.rows, trace.observed)]


def best_so_far(trace: Trace, true_value: np.ndarray) -> np.ndarray:
    """After each query ``t``: ``true_value`` of the leader (``leaders``: the cell with the best mean observation
    so far, so a re-queried cell is judged by the average of its seeds)."""
    return np.array([true_value[r] for r in leaders(trace)], dtype=float)


def incumbent_so_far(trace: Trace, true_value: np.ndarray) -> np.ndarray:
    """After each query ``t``: ``true_value`` of the cell the search would return, the noisy incumbent of the
    latest GP fitted on ``n <= t`` queries (``trace.incumbents``); the best observed cell before the first fit."""
    out = best_so_far(trace, true_value)
    fits = sorted(trace.incumbents)
    for t in range(len(out)):
        latest = [row for n, row in fits if n <= t + 1]
        if latest:
            out[t] = true_value[latest[-1]]
    return out


def random_search(table, budget: int, rng: np.random.Generator) -> Trace:
    """Random search (Li & Talwalkar 2019): ``budget`` distinct cells drawn uniformly without replacement."""
    trace = Trace()
    for row in rng.choice(len(table.mean), size=budget, replace=False):
        trace.add(row, table.sample(int(row), rng))
    return trace


def mutate(ops: tuple[int, ...], n_ops: int, rng: np.random.Generator) -> tuple[int, ...]:
    """One-edge mutation: a uniformly chosen edge gets a uniformly chosen *different* operation."""
    child = list(ops)
    e = int(rng.integers(len(child)))
    child[e] = int((child[e] + 1 + rng.integers(n_ops - 1)) % n_ops)
    return tuple(child)


def neighbours(ops: tuple[int, ...], n_ops: int = 5) -> list[tuple[int, ...]]:
    """Every cell one edge away from ``ops`` (``len(ops) * (n_ops - 1)`` of them), edge by edge, op by op."""
    return [ops[:e] + (o,) + ops[e + 1:] for e in range(len(ops)) for o in range(n_ops) if o != ops[e]]


def regularized_evolution(
    table, budget: int, rng: np.random.Generator, population_size: int = 20, sample_size: int = 5,
    n_ops: int = 5, on_cycle: Callable[[deque], None] | None = None,
) -> Trace:
    """Regularised (ageing) evolution, Real et al. (2019), Algorithm 1.

    ``population_size`` (P) uniformly random cells are queried first; then each cycle samples
    ``sample_size`` (S) members of the population uniformly without replacement, mutates the one with the
    best observed value (``mutate``), queries the child, appends it and removes the *oldest* member.
    Every query counts against ``budget``, a re-queried cell included. ``on_cycle(population)`` (tests)
    sees the population, a deque of ``(row, observed)`` oldest first, after each cycle.
    """
    trace, population = Trace(), deque()
    for row in rng.choice(len(table.mean), size=min(population_size, budget), replace=False):
        value = table.sample(int(row), rng)
        population.append((int(row), value))
        trace.add(row, value)
    while len(trace.rows) < budget:
        members = rng.choice(len(population), size=min(sample_size, len(population)), replace=False)
        parent = max((population[int(i)] for i in members), key=lambda m: m[1])
        child = cell_index(mutate(cell_from_index(parent[0]), n_ops, rng))
        value = table.sample(child, rng)
        population.append((child, value))
        population.popleft()
        trace.add(child, value)
        if on_cycle is not None:
            on_cycle(population)
    return trace


def local_search(table, budget: int, rng: np.random.Generator, n_ops: int = 5) -> Trace:
    """Local search (White, Nolen & Savani 2021, "Exploring the loss landscape in NAS"): from a uniformly random
    cell, query its whole one-edge neighbourhood (``6 (n_ops - 1)`` cells, in random order, skipping cells already
    queried); move to the best observed neighbour if it beats the current cell, else restart from a new random
    cell. Every query counts against ``budget``."""
    trace, seen = Trace(), set()

    def query(row: int) -> float:
        value = table.sample(row, rng)
        seen.add(row)
        trace.add(row, value)
        return value

    def fresh() -> int:
        while True:
            row = int(rng.integers(len(table.mean)))
            if row not in seen:
                return row

    current = fresh()
    current_value = query(current)
    while len(trace.rows) < budget:
        near = [cell_index(n) for n in neighbours(cell_from_index(current), n_ops)]
        best, best_value = None, -np.inf
        for row in rng.permutation(near):
            if len(trace.rows) >= budget:
                break
            if int(row) in seen:
                continue
            value = query(int(row))
            if value > best_value:
                best, best_value = int(row), value
        if best is not None and best_value > current_value:
            current, current_value = best, best_value
        elif len(trace.rows) < budget:
            current = fresh()
            current_value = query(current)
    return trace


def bayesian_optimisation(table: NB201Table, budget: int, seed: int, log_error: bool = False,
                          noise_free: bool = False, proxy: np.ndarray | None = None, **bo_settings) -> Trace:
    """GP-BO (``pyronas.bo.loop.BayesOpt``, all 15,625 cells enumerated as candidates) whose objective
    queries the table; ``bo_settings`` are ``BOConfig`` fields (acquisition, hypers, n_init, ...).

    ``log_error``: the GP models ``-log(100 - accuracy)`` instead of the accuracy (%): a monotone output warping
    that spreads the top cells (errors of 8.4-9 %) and compresses the chance-level ones (errors near 90 %), so
    the standardised observations resolve the region the search is after. The trace keeps the accuracy.

    ``noise_free`` (a diagnostic, not a search anyone could run): a query observes the cell's seed-mean accuracy,
    so what remains of the regret is the search's, not the seed noise's.

    ``proxy``: a training-free score per cell (row order, e.g. ``nb201.synflow_scores()``), for
    ``init_design="zero_cost"`` (the loop's ``proxy``).

    A cell's first query draws its seed as ``table.sample`` does (same random stream, so runs without
    ``replicate`` reproduce); a re-query (``bo_settings["replicate"] > 1`` re-evaluates the leader) draws
    uniformly among the seeds not yet observed for that cell (``table.sample_seed``), all of them once every
    seed was seen.
    """
    from pyronas.bo.config import BOConfig
    from pyronas.bo.loop import BayesOpt
    from pyronas.nn.spaces import get_space

    rng = np.random.default_rng(seed)
    trace = Trace()
    seen_seeds: dict[int, set[int]] = {}

    def objective(genotype) -> float:
        row = cell_index(genotype)
        used = seen_seeds.setdefault(row, set())
        s = table.sample_seed(row, rng, used)
        used.add(s)
        value = float(table.mean[row] if noise_free else table.val_acc[row, s])
        trace.add(row, value)
        return -float(np.log(100.0 - value)) if log_error else value

    score = None if proxy is None else (lambda genotype: float(proxy[cell_index(genotype)]))
    bo = BayesOpt(get_space("nb201"), objective, BOConfig(budget=budget, **bo_settings), seed=seed, proxy=score)
    bo.run()
    row_of_arch = {ev.arch: row for ev, row in zip(bo.evaluations, trace.rows, strict=True)}
    trace.incumbents = [(inc["n"], row_of_arch[inc["arch"]]) for inc in bo.incumbents]
    return trace
