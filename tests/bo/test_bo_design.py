"""The initial design: the zero-cost warm-up starts BO from the proxy's best of a random pool."""

import math

import numpy as np
import pytest
import torch

from pyronas.bench.nb201 import NUM_CELLS, cell_from_index, op_indices
from pyronas.bo.candidates import key
from pyronas.bo.design import random_architectures, zero_cost_design
from pyronas.bo.loop import BayesOpt, BOConfig
from pyronas.bo.runfolder import read_evaluations
from pyronas.bo.targets import SyntheticObjective, TrainObjective
from pyronas.errors import ConfigError
from pyronas.nn.spaces import Genotype, get_space

NB201 = get_space("nb201")


class Additive:
    """A proxy over NAS-Bench-201 cells: Σ_edges w[edge, op], w standard normal."""

    def __init__(self, seed=0):
        self.w = np.random.default_rng(seed).normal(size=(6, 5))
        self.all = np.array([self.w[np.arange(6), cell_from_index(r)].sum() for r in range(NUM_CELLS)])

    def __call__(self, genotype):
        return float(self.w[np.arange(6), op_indices(genotype)].sum())


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_zero_cost_design_is_the_best_of_its_pool_best_first():
    f = Additive()
    design = zero_cost_design(NB201, f, 10, 2000, gen(3))
    pool = random_architectures(NB201, 2000, gen(3), set())
    assert len({key(c) for c in pool}) == 2000
    assert [f(c) for c in design] == sorted((f(c) for c in pool), reverse=True)[:10]
    # the best 10 of 2000 random cells lie in the top 5 % of all 15,625 (10 random cells would with p = 0.05^10)
    assert min(f(c) for c in design) > np.quantile(f.all, 0.95)


def test_a_nan_score_is_the_lowest_and_ties_keep_the_earlier_draw():
    pool = random_architectures(NB201, 6, gen(0), set())
    score = dict(zip([key(c) for c in pool], [math.nan, 1.0, 2.0, 2.0, -5.0, math.nan], strict=True))
    design = zero_cost_design(NB201, lambda c: score[key(c)], 4, 6, gen(0))
    assert [key(c) for c in design] == [key(pool[i]) for i in (2, 3, 1, 4)]


def test_bayesopt_starts_from_the_zero_cost_design_scores_the_pool_once_and_resumes_it(tmp_path):
    f, calls = Additive(1), []

    def proxy(genotype):
        calls.append(key(genotype))
        return f(genotype)

    obj = SyntheticObjective(NB201, seed=1)
    cfg = BOConfig(budget=8, n_init=5, init_design="zero_cost", init_pool=300, map_steps=20)
    straight = BayesOpt(NB201, obj, cfg, seed=4, proxy=proxy)
    straight.run()
    assert len(calls) == 300  # the pool is scored once, whatever the budget
    first = [f(Genotype.from_dict(ev.genotype)) for ev in straight.evaluations[:5]]
    assert first == sorted(first, reverse=True) and min(first) > np.quantile(f.all, 0.9)
    stopped = BayesOpt(NB201, obj, cfg, seed=4, out_dir=tmp_path, proxy=proxy)
    stopped.step()
    stopped.step()
    resumed = BayesOpt(NB201, obj, cfg, seed=4, out_dir=tmp_path, proxy=proxy)
    resumed.run()
    assert [ev.arch for ev in resumed.evaluations] == [ev.arch for ev in straight.evaluations]
    uniform = BayesOpt(NB201, obj, BOConfig(budget=5, n_init=5), seed=4)
    uniform.run()  # the default design is unchanged: random, no proxy needed
    assert np.mean([f(Genotype.from_dict(ev.genotype)) for ev in uniform.evaluations]) < np.mean(first)


@pytest.mark.parametrize("bo, match", [
    ({"init_design": "proxy"}, "bo.init_design: unknown"),
    ({"init_design": "zero_cost", "n_init": 10, "init_pool": 5}, "bo.init_pool"),
    ({"init_design": "zero_cost", "objective": {"kind": "synthetic"}}, "objective.kind: train"),
])
def test_zero_cost_settings_that_cannot_work_are_refused(bo, match):
    with pytest.raises(ConfigError, match=match):
        BOConfig(**bo)


def test_bayesopt_without_a_proxy_refuses_the_zero_cost_design():
    with pytest.raises(ValueError, match="needs proxy="):
        BayesOpt(NB201, SyntheticObjective(NB201), BOConfig(init_design="zero_cost"))


def test_train_objective_synflow_scores_its_network_without_data():
    """SynFlow of the network the objective trains: 0 for a cell with no input-output path, and more for 3x3
    than for 1x1 convolutions on every edge (same absolute weights, more of them)."""
    x = torch.randn(8, 1, 12, 12)
    y = torch.arange(8) % 10
    obj = TrainObjective(NB201, (x, y, x, y), C=4, layers=1)

    def cell(op):
        return Genotype.from_nb201_string(f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|")

    none, c1, c3 = (obj.synflow(cell(op)) for op in ("none", "nor_conv_1x1", "nor_conv_3x3"))
    assert none == 0.0 and 0.0 < c1 < c3
    assert obj.counts == {}  # scoring trains nothing


def test_run_bo_hands_the_objectives_synflow_to_the_zero_cost_design(tmp_path, monkeypatch):
    import pyronas.bo.targets as targets
    from pyronas.bo.loop import run_bo
    from pyronas.config import load_config

    f = Additive(2)

    class Objective:
        def synflow(self, genotype):
            return f(genotype)

        def __call__(self, genotype):
            return -f(genotype)

    monkeypatch.setattr(targets, "build_objective", lambda cfg: Objective())
    cfg = load_config(name="bo-zc", space="nb201", bo={"budget": 3, "n_init": 3, "init_design": "zero_cost",
                                                        "init_pool": 400})
    run_bo(cfg, tmp_path / "run")
    seen = [ev.arch for ev in read_evaluations(tmp_path / "run")]
    expected = BayesOpt(NB201, Objective(), cfg.bo, seed=cfg.seed, proxy=f).zero_cost_design()
    assert seen == [key(c) for c in expected]
