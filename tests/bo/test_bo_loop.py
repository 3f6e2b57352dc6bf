"""BO-NAS loop: finds a known optimum faster than random search, resumes, batches, large spaces."""

import json

import pytest
import torch

from pyronas.bo.candidates import (
    candidate_genotypes,
    decode_op_indices,
    encode_op_indices,
    enumerate_op_indices,
    key,
    mutate,
    row_of,
)
from pyronas.bo.loop import BayesOpt, BOConfig
from pyronas.bo.targets import SyntheticObjective, TableObjective
from pyronas.errors import ConfigError
from pyronas.nn.spaces import Genotype, get_space

NB201 = get_space("nb201")


def test_enumeration_matches_space_encoding():
    idx = enumerate_op_indices(NB201)
    assert idx.shape == (NB201.size(), 6)
    for r in (0, 1, 4321, NB201.size() - 1):
        g = decode_op_indices(NB201, idx[r])
        assert row_of(NB201, g) == r
        assert torch.equal(NB201.encode(g), encode_op_indices(NB201, idx[r : r + 1])[0])


def _evals_to_optimum(acquisition: str, seed: int, budget: int, obj, opt_key: str, **kw) -> int:
    cfg = BOConfig(budget=budget, n_init=5, acquisition=acquisition, **kw)
    bo = BayesOpt(NB201, obj, cfg, seed=seed)
    while len(bo.evaluations) < budget:
        bo.step()
        hits = [ev.index for ev in bo.evaluations if ev.arch == opt_key]
        if hits:
            return hits[0] + 1
    return budget + 1  # not found within budget


def _compare(seeds, budget, **kw):
    obj = SyntheticObjective(NB201, seed=0)
    opt_key, opt_val = obj.optimum()
    bo = [_evals_to_optimum("ei", s, budget, obj, opt_key, **kw) for s in seeds]
    rnd = [_evals_to_optimum("random", s, budget, obj, opt_key) for s in seeds]
    return bo, rnd


def test_ei_bo_finds_known_optimum_faster_than_random_search():
    seeds, budget = [0, 1], 70
    bo, rnd = _compare(seeds, budget, refit_every=3)  # hyperparameters re-fitted every 3rd step: CPU time
    print(f"evaluations to the optimum: EI-BO {bo}, random {rnd} (budget {budget}; random expects "
          f"{(NB201.size() + 1) / 2:.0f})")
    assert all(n <= budget for n in bo)
    assert sum(bo) / len(bo) < sum(rnd) / len(rnd)


@pytest.mark.slow
def test_ei_bo_vs_random_more_seeds():
    seeds, budget = list(range(5)), 100
    bo, rnd = _compare(seeds, budget)
    print(f"evaluations to the optimum: EI-BO {bo}, random {rnd}")
    assert sorted(bo)[len(bo) // 2] <= 0.5 * budget  # median
    assert sum(bo) / len(bo) < sum(rnd) / len(rnd)


def test_resume_batches_and_outputs(tmp_path):
    obj = SyntheticObjective(NB201, seed=1, noise=0.05)
    cfg = BOConfig(budget=9, n_init=3, batch_size=3, n_fantasies=4)
    bo = BayesOpt(NB201, obj, cfg, seed=0, out_dir=tmp_path)
    bo.step()
    bo.step()  # 3 random + a batch of 3 with pending fantasies
    assert len(bo.evaluations) == 6
    again = BayesOpt(NB201, obj, cfg, seed=0, out_dir=tmp_path)  # resume
    assert [e.arch for e in again.evaluations] == [e.arch for e in bo.evaluations]
    final = again.run()
    lines = (tmp_path / "evaluations.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 9 and len({r["arch"] for r in records}) == 9
    assert all({"arch", "genotype", "value", "time"} <= set(r) for r in records)
    traj = json.loads((tmp_path / "trajectory.json").read_text())
    assert traj["best_observed"] == sorted(traj["best_observed"])
    assert traj["best_observed"][-1] == max(r["value"] for r in records)
    assert traj["incumbents"][-1]["n"] == 9
    saved = json.loads((tmp_path / "genotype.json").read_text())
    assert saved["string"] == key(final) == traj["incumbents"][-1]["arch"]


def test_resume_drops_a_torn_last_line_and_appends_after_whole_lines(tmp_path, caplog):
    """A kill during the append leaves half a line (issue #30): the resume drops it with a warning, rewrites the
    file, and the next evaluations follow whole lines (before, json.loads raised on the torn line)."""
    obj = SyntheticObjective(NB201, seed=1, noise=0.05)
    cfg = BOConfig(budget=5, n_init=3, batch_size=1, n_fantasies=2)
    bo = BayesOpt(NB201, obj, cfg, seed=0, out_dir=tmp_path)
    while len(bo.evaluations) < 3:
        bo.step()
    path = tmp_path / "evaluations.jsonl"
    whole = path.read_text().splitlines()
    assert len(whole) == 3
    path.write_text("\n".join(whole) + "\n" + whole[-1][: len(whole[-1]) // 2])  # torn 4th line
    with caplog.at_level("WARNING"):
        again = BayesOpt(NB201, obj, cfg, seed=0, out_dir=tmp_path)
    assert len(again.evaluations) == 3 and "torn" in caplog.text
    again.run()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 5 and [r["arch"] for r in records[:3]] == [json.loads(w)["arch"] for w in whole]


def test_table_objective_and_large_space_candidates(tmp_path):
    space = get_space("darts")
    g = torch.Generator().manual_seed(0)
    parent = space.random_genotype(g)
    for _ in range(50):
        child = mutate(space, parent, g)
        for kind in space.cell_kinds:
            for j in range(2, 6):
                srcs = [i for _, i, t in child.cells[kind] if t == j]
                assert len(srcs) == 2 and len(set(srcs)) == 2 and all(i < j for i in srcs)
            assert all(op != "none" for op, _, _ in child.cells[kind])
    cands = candidate_genotypes(space, [parent], 30, 30, g)
    assert len({key(c) for c in cands}) == len(cands) > 40

    def score(gt):
        return float(sum(op == "sep_conv_3x3" for op, _, _ in gt.cells["normal"]))

    table = {key(c): score(c) for c in cands}
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table))
    obj = TableObjective(path)
    assert obj(cands[3]) == score(cands[3])
    with pytest.raises(KeyError):
        obj(space.random_genotype(torch.Generator().manual_seed(99)))
    cfg = BOConfig(budget=8, n_init=3, n_random=100, n_mutations=100)
    bo = BayesOpt(space, score, cfg, seed=0)
    best = bo.run()
    assert len(bo.evaluations) == 8 and score(best) == max(e.value for e in bo.evaluations)


@pytest.mark.parametrize(
    "overrides",
    [
        {"acquisition": "ucb", "ucb_nu": 0.2},
        {"acquisition": "pi", "xi": 0.1, "xi_schedule": "decreasing", "kernel": "se"},
        {"acquisition": "ei", "hypers": "nuts", "nuts_samples": 3, "nuts_warmup": 6, "nuts_thin": 1,
         "nuts_max_tree_depth": 3, "batch_size": 2, "n_fantasies": 3},
        {"acquisition": "ts", "kernel": "hamming", "batch_size": 2, "ts_shortlist": 50},
    ],
)
def test_acquisitions_and_integrated_nuts_propose_new_architectures(overrides):
    obj = SyntheticObjective(NB201, seed=2)
    cfg = BOConfig(budget=8, n_init=6, **overrides)
    bo = BayesOpt(NB201, obj, cfg, seed=0)
    bo.run()
    archs = [e.arch for e in bo.evaluations]
    assert len(archs) == 8 and len(set(archs)) == 8
    assert bo.incumbents and bo.incumbents[-1]["arch"] in archs


def test_local_radius_keeps_the_acquisition_near_the_best_cells():
    obj = SyntheticObjective(NB201, seed=0)
    bo = BayesOpt(NB201, obj, BOConfig(budget=12, n_init=8, local_radius=1, mutate_top=2, map_steps=10), seed=0)
    while len(bo.evaluations) < 8:
        bo.step()
    _, idx, Xc = bo._candidates(torch.Generator().manual_seed(0))
    top = bo._all_idx[[row_of(NB201, Genotype.from_dict(bo.evaluations[i].genotype)) for i in bo._top_indices()]]
    dist = (idx[:, None, :] != top[None]).sum(-1).min(1).values
    assert len(top) == 2 and set(dist.tolist()) == {1}  # evaluated cells (distance 0) excluded
    assert idx.shape[0] == Xc.shape[0] <= 2 * 6 * 4  # at most the two one-edge neighbourhoods
    (proposal,) = bo.propose()
    assert min(sum(a != b for a, b in zip(row, top_row, strict=True)) for top_row in top.tolist()
               for row in [bo._all_idx[row_of(NB201, proposal)].tolist()]) == 1
    with pytest.raises(ConfigError, match="bo.local_radius"):
        BOConfig(local_radius=-1)
    with pytest.raises(ConfigError, match="bo.local_radius: needs a space whose architectures can be enumerated"):
        BayesOpt(get_space("darts"), obj, BOConfig(local_radius=1), seed=0)


@pytest.mark.parametrize("bo", [{"local_radius": 1}, {"encoding": "paths", "kernel": "se"}])
def test_run_bo_refuses_what_the_space_cannot_have_before_reading_data(tmp_path, monkeypatch, bo):
    """``bo.local_radius`` on a space too large to enumerate and a path encoding of the DARTS cell are refused by
    ``run_bo`` before ``build_objective`` loads a dataset."""
    import pyronas.bo.targets as targets
    from pyronas.bo.loop import run_bo
    from pyronas.config import load_config

    def no_data(cfg):
        raise AssertionError("build_objective ran before the space checks")

    monkeypatch.setattr(targets, "build_objective", no_data)
    cfg = load_config(name="bo-refuse", space="darts", bo=bo)
    with pytest.raises(ConfigError, match=f"bo.{next(iter(bo))}"):
        run_bo(cfg, tmp_path / "run")
