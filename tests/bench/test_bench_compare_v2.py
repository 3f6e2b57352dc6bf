"""The v2 comparison table on a tiny synthetic results file: intervals, paired p-values, the seed-list rule,
the budgets' shapes and the plots."""

import importlib.util
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from pyronas.bench import compare_v2, stats

SEEDS = [1000, 1001, 1002, 1003, 1004, 1005]
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "compare_methods.py"


def _rows():
    rng = np.random.default_rng(0)
    rows = []
    for m, shift in (("darts", 0.0), ("random", -0.01), ("drnas", 0.02)):
        for s in SEEDS:
            acc = 0.74 + shift + 0.003 * rng.normal()
            rows.append({"method": m, "budget": "short", "seed": s, "genotype": "|none~0|+|none~0|none~1|+|...|",
                         "fmnist_test_acc": acc, "fmnist_percentile": 100 * acc - 20, "search_wall_s": 60.0 + s % 7,
                         "nb201_cifar10_val_acc": 88 + 10 * shift, "nb201_cifar100_val_acc": 66.0,
                         "nb201_imagenet16-120_val_acc": 40.0})
    return rows


def test_table_intervals_and_paired_p_values():
    rows = _rows()
    table = compare_v2.summary_table(rows, "short", ["darts", "drnas", "random"], SEEDS)
    line = {r.split("|")[1].strip(): r for r in table.splitlines()[2:]}
    drnas = [100 * r["fmnist_test_acc"] for r in rows if r["method"] == "drnas"]
    lo, hi = stats.bootstrap_ci(drnas)
    assert f"{np.mean(drnas):.2f} [{lo:.2f}, {hi:.2f}]" in line["drnas"]
    x = [r["fmnist_test_acc"] for r in rows if r["method"] == "drnas"]
    y = [r["fmnist_test_acc"] for r in rows if r["method"] == "random"]
    w, p = stats.wilcoxon_signed_rank(x, y)["p"], stats.paired_permutation_test(x, y)["p"]
    assert f"{w:.3f} / {p:.3f} (n=6; Holm " in line["drnas"]
    assert w == pytest.approx(2 / 64)  # all six seeds favour DrNAS: the exact two-sided minimum 2 / 2^6
    assert line["darts"].rstrip(" |").endswith("—")  # DARTS against itself


def test_missing_seed_is_reported_and_an_unlisted_seed_refused():
    rows = [r for r in _rows() if not (r["method"] == "darts" and r["seed"] == 1003)]
    table = compare_v2.summary_table(rows, "short", ["darts", "random"], SEEDS)
    assert "| darts | 5 of 6, incomplete (missing [1003]) |" in table
    assert "(n=5; Holm" in table  # the paired tests use the seeds both methods have
    with pytest.raises(stats.IncompleteResults):
        compare_v2.summary_table(rows + [dict(rows[0], seed=7)], "short", ["darts", "random"], SEEDS)
    assert "| vimnas | 0 of 6 (not run) |" in compare_v2.summary_table(rows, "short", ["vimnas"], SEEDS)


def test_budgets_follow_the_paper_shapes():
    assert compare_v2.method_budget("darts", "short") == compare_v2.BUDGETS["short"]
    vim, darts = compare_v2.method_budget("vimnas", "paper"), compare_v2.method_budget("darts", "paper")
    assert (vim.epochs, vim.warmup_epochs) == (6, 5) and (darts.epochs, darts.warmup_epochs) == (6, 0)
    assert compare_v2.method_budget("random", "paper").random_cells == 2 * compare_v2.BUDGETS["short"].random_cells
    with pytest.raises(ValueError, match="unknown budget 'long'"):
        compare_v2.method_budget("darts", "long")


def test_script_seed_lists_are_fixed_and_disjoint_from_v1(tmp_path):
    spec = importlib.util.spec_from_file_location("compare_methods", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.SEEDS == {"short": list(range(1000, 1010)), "paper": list(range(2000, 2005))}
    assert not set(mod.SEEDS["short"]) & {0, 1, 2}  # v1's seeds are not reused
    files = compare_v2.plots(_rows(), ["short"], ["darts", "random"], [0.7, 0.72, 0.74, 0.75], tmp_path)
    assert all(f.stat().st_size > 0 for f in files.values())
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    with pytest.raises(SystemExit, match="unknown method"):
        mod.main(["--methods", "darts,nasnet", "--results", str(results)])


def test_script_refuses_a_partial_reference_and_builder_marks_it(tmp_path):
    spec = importlib.util.spec_from_file_location("build_ref", SCRIPT.with_name("build_fmnist_reference.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    data = {"version": 2, "seeds": [0, 1, 2], "cells_planned": 205,
            "cells": [{"kind": "random", "string": "s", "test_acc": [0.7, 0.7, 0.7], "wall_s": 1800.0}] * 3}
    build._mark_partial(data)
    assert data["partial"] == "partial: 3 of 205 cells" and data["training_hours"] == 1.5
    data["cells_planned"] = 3
    build._mark_partial(data)
    assert "partial" not in data
    data["partial"] = "partial: 3 of 205 cells"
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps(data))
    spec = importlib.util.spec_from_file_location("compare_methods", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(SystemExit, match="partial: 3 of 205 cells"):
        mod.main(["--reference", str(ref), "--results", str(tmp_path / "r.jsonl"), "--methods", "darts"])


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_extend_seeds_rewrites_rows_from_the_cache_and_waits_for_the_lock(tmp_path, monkeypatch):
    from pyronas.bench import reference
    from pyronas.errors import RunFolderError
    from pyronas.runlock import RunLock

    mod = _load("compare_methods", SCRIPT)
    ref = {"protocol_hash": "h", "seeds": [0, 1], "cells": [{"string": "a", "test_acc": [0.70, 0.72]},
                                                           {"string": "b", "test_acc": [0.74, 0.76]}]}
    rows = [dict(r, fmnist_test_acc_seeds=[r["fmnist_test_acc"]], reference_protocol_hash="h") for r in _rows()]
    results = tmp_path / "res" / "results.jsonl"
    results.parent.mkdir()
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    trained = []

    def fake_evaluate(g, ref_, known):  # the second seed of a cell that has the first: 0.80
        trained.append(g)
        return {"test_acc": known[g] + [0.80], "source": "known+trained", "wall_s": 1.0}

    monkeypatch.setattr(reference, "evaluate_against_reference", fake_evaluate)
    cache = tmp_path / "cache"
    g = rows[0]["genotype"]
    other = zlib.crc32(g.encode()) % 2 == 0
    assert mod.extend_seeds(results, ref, cache, shard=(int(other), 2)) == 0 and trained == []  # not its shard
    with RunLock(results.parent), pytest.raises(RunFolderError):  # a search is still appending rows
        mod.extend_seeds(results, ref, cache)
    assert trained == [g] and json.loads((cache / "seed_extension.json").read_text())["cells"]  # training kept
    assert mod.extend_seeds(results, ref, cache) == len(rows) and len(trained) == 1  # nothing retrained
    new = [json.loads(line) for line in results.read_text().splitlines()]
    last = rows[-1]["fmnist_test_acc"]  # the genotype is shared: the cache holds the last row's first value
    assert all(r["fmnist_test_acc_seeds"] == [last, 0.80] for r in new)
    assert new[0]["fmnist_test_acc"] == pytest.approx((last + 0.80) / 2) and new[0]["fmnist_percentile"] == 100.0


def test_builder_extends_a_files_seed_list_cell_by_cell(tmp_path):
    build = _load("build_ref", SCRIPT.with_name("build_fmnist_reference.py"))
    data = {"seeds": [0, 1, 2], "cells_planned": 2,
            "cells": [{"index": 0, "test_acc": [0.7] * 3, "wall_s": 1.0}, {"index": 1, "test_acc": [0.7] * 5,
                                                                          "wall_s": 1.0}]}
    with pytest.raises(SystemExit, match="must start with"):
        build._extend_seeds(data, [0, 1, 3])
    build._extend_seeds(data, [0, 1, 2, 3, 4])
    build._mark_partial(data)
    assert data["seeds"] == [0, 1, 2, 3, 4] and data["partial"] == "partial: 1 of 2 cells"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    short = {"protocol_hash": "h", "seeds": [0, 1], "cells": [{"index": 0, "test_acc": [0.7, 0.7], "wall_s": 1.0}]}
    a.write_text(json.dumps(dict(short, cells=[dict(short["cells"][0], test_acc=[0.7])])))
    b.write_text(json.dumps(short))
    build.merge([str(a), str(b)], tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text())["cells"][0]["test_acc"] == [0.7, 0.7]  # longer wins


def test_tracked_results_agree_with_the_packaged_reference():
    """The tracked rows are what the docs' tables are computed from: same protocol and training seeds as the
    packaged v2 set, means that are the means of the stored seeds, a found cell of the reference set carrying
    the set's values, and only listed search seeds."""
    from pyronas.bench import compare, reference

    mod = _load("compare_methods", SCRIPT)
    ref = reference.load_reference(reference.REFERENCE_FILE_V2)
    assert tuple(ref["seeds"]) == reference.SEEDS_V2 and "partial" not in ref
    assert all(len(c["test_acc"]) == len(ref["seeds"]) for c in ref["cells"])
    rows = compare.load_rows(mod.RESULTS)
    ranked = compare_v2.rerank(rows, ref)  # refuses another protocol or fewer training seeds
    stored = {c["string"]: c["test_acc"] for c in ref["cells"]}
    for r in ranked:
        assert r["fmnist_test_acc"] == pytest.approx(np.mean(r["fmnist_test_acc_seeds"]))
        assert r["fmnist_test_acc_seeds"] == stored.get(r["genotype"], r["fmnist_test_acc_seeds"])
    for budget, seeds in mod.SEEDS.items():
        stats.check_seed_list(rows, mod.METHODS + mod.COMBOS, seeds, budget)


def test_builder_main_extends_a_built_file_training_only_the_missing_seeds(tmp_path, monkeypatch):
    """End to end through ``main``: build 3 cells with seed 0, extend to seeds 0,1 (each cell trains seed 1 only,
    keeping seed 0's value), then a third run trains nothing. Training is replaced by a deterministic stand-in."""
    from pyronas.bench import reference

    build = _load("build_ref", SCRIPT.with_name("build_fmnist_reference.py"))
    trained = []

    def fake_train(string, seed, cfg, test_subset):
        trained.append((string, seed))
        return {"test_acc": 0.5 + 0.01 * seed + 0.001 * len(string) % 7, "params_M": 0.1}

    monkeypatch.setattr(reference, "train_cell", fake_train)
    out = tmp_path / "ref.json"
    common = ["--version", "2", "--n-random", "2", "--out", str(out)]
    build.main(common + ["--max-cells", "3", "--seeds", "0"])
    first = json.loads(out.read_text())
    assert first["seeds"] == [0] and len(first["cells"]) == 3 and first["partial"] == "partial: 3 of 7 cells"
    assert [s for _, s in trained] == [0, 0, 0]
    trained.clear()
    build.main(common + ["--seeds", "0,1"])
    data = json.loads(out.read_text())
    assert data["seeds"] == [0, 1] and len(data["cells"]) == 7 and "partial" not in data
    old = {c["index"]: c["test_acc"] for c in first["cells"]}
    for c in data["cells"]:
        assert len(c["test_acc"]) == 2
        if c["index"] in old:
            assert c["test_acc"][0] == old[c["index"]][0]  # the known seed is kept, not retrained
    assert sorted(s for _, s in trained) == [0] * 4 + [1] * 7  # 4 new cells x 2 seeds, 3 old cells x seed 1
    trained.clear()
    build.main(common + ["--seeds", "0,1"])
    assert trained == []
    with pytest.raises(SystemExit, match="must start with"):
        build.main(common + ["--seeds", "1,2"])
