"""Compare the NAS methods on Fashion-MNIST at two equal search budgets (pyronas.bench.compare, compare_v2).

Each (method, seed) search runs under the budget (``short``: 3 epochs for every method, v1's; ``paper``: 6
epochs in each paper's warm-up / architecture shape, ``compare_v2.PAPER_SHAPES``), then its cell is retrained
with the reference protocol of ``--reference`` (default: the v2 set, pyronas/bench/data/fmnist_reference_v2.json)
and ranked among its cells, and looked up in the NAS-Bench-201 validation tables (transfer). Each finished row
(method, budget, seed, genotype, reference accuracy, NB201 values, seconds) is appended to ``--results`` (a
tracked JSONL beside docs/method_comparison.md) and skipped on a re-run (resumable). ``--report`` writes the
tables (markdown, per budget) and the plots from the results file alone.

Seed-list rule: the search seeds below were fixed on 2026-12-06 before any v2 run and are never dropped or
replaced: ``short`` uses 1000-1009 (10 seeds; v1's seeds 0-2 are not reused, their results were already read),
``paper`` 2000-2004 (5 seeds). ``--max-seeds k`` runs the first k of the list only (a chunk); the report then
marks the methods as incomplete, with the missing seeds.

When the reference set's seed list grows (v2: 3 -> 5 training seeds), ``--extend-seeds`` trains the missing
seeds of every found cell (into ``OUT/seed_extension*.json``, resumable; nothing already trained is retrained;
``--shard K/N`` splits the training over processes) and then rewrites the rows with the longer lists, under the
results folder's lock: the searches hold that lock while they run, so the rewrite waits for them (it says so and
keeps what it trained).

    OMP_NUM_THREADS=1 nice -n 19 python scripts/bench/compare_methods.py --budget short --max-seeds 2
    python scripts/bench/compare_methods.py --extend-seeds
    python scripts/bench/compare_methods.py --report
"""

from __future__ import annotations

import argparse
import json
import logging
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pyronas.bench import compare, compare_v2, reference
from pyronas.errors import RunFolderError
from pyronas.io import atomic_write_json, atomic_write_text
from pyronas.runlock import RunLock

SEEDS: dict[str, list[int]] = {"short": list(range(1000, 1010)), "paper": list(range(2000, 2005))}
METHODS = ["darts", "drnas", "vinnas", "balenas", "balenas_tf", "vimnas", "random"]
COMBOS = ["combo_dirichlet_lu", "combo_lowrank_alpha", "combo_balenas_bayesw"]
COMBO_SEEDS = SEEDS["short"][:5]  # the combinations: short budget, the first 5 short seeds (--max-seeds 5)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "method_comparison"
RESULTS = DOCS / "results_v2.jsonl"


def known_cells(results: Path, ref: dict) -> dict[str, list[float]]:
    """Per-seed reference accuracies of the cells earlier rows retrained with ``ref``'s protocol."""
    return {r["genotype"]: r["fmnist_test_acc_seeds"] for r in compare.load_rows(results)
            if r.get("reference_protocol_hash") == ref["protocol_hash"]}


def work(method: str, budget: str, seed: int, out: str, ref_path: str | None, results: str) -> dict:
    """One search + evaluation (runs in a worker process); a found cell evaluated before is not retrained."""
    logging.basicConfig(level=logging.WARNING)
    ref = reference.load_reference(ref_path or reference.REFERENCE_FILE_V2)
    row = compare.run_method(method, seed, compare_v2.method_budget(method, budget), Path(out) / budget)
    row = compare.evaluate_found(row, ref, known_cells(Path(results), ref))
    return dict(row, budget=budget, reference_version=ref["version"], reference_cells=len(ref["cells"]),
                reference_partial=ref.get("partial"), reference_protocol_hash=ref["protocol_hash"])


def extend_seeds(results: Path, ref: dict, cache_dir: Path, shard: tuple[int, int] | None = None) -> int:
    """Train the reference seeds the rows' found cells lack (into ``cache_dir/seed_extension*.json``), then
    rewrite the rows under the results folder's lock; returns the number of rows rewritten (``RunFolderError``
    if a search holds the lock). ``shard=(k, n)``: train only the cells whose CRC-32 is k mod n, into
    ``seed_extension.k.json``, and rewrite nothing (run one process per shard, then one without)."""
    n = len(ref["seeds"])
    sources = []
    for f in sorted(cache_dir.glob("seed_extension*.json")):
        stored = json.loads(f.read_text())
        if stored["protocol_hash"] != ref["protocol_hash"]:
            raise SystemExit(f"{f} holds another protocol's values: remove it")
        sources.append(stored["cells"])
    values: dict[str, list[float]] = {}
    for g, accs in (item for src in [*sources, known_cells(results, ref)] for item in src.items()):
        if len(accs) > len(values.get(g, [])):  # the copy with the most seeds trained wins
            values[g] = accs
    todo = sorted(g for g, accs in values.items() if len(accs) < n
                  and (shard is None or zlib.crc32(g.encode()) % shard[1] == shard[0]))
    cache = cache_dir / (f"seed_extension.{shard[0]}.json" if shard else "seed_extension.json")
    mine = json.loads(cache.read_text())["cells"] if cache.is_file() else {}
    for i, g in enumerate(todo):
        result = reference.evaluate_against_reference(g, ref, values)
        values[g] = mine[g] = result["test_acc"]
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cache, {"protocol_hash": ref["protocol_hash"], "seeds": ref["seeds"], "cells": mine})
        logging.info("cell %d/%d %s: %s (%s, %.0f s)", i + 1, len(todo), g, result["test_acc"], result["source"],
                     result["wall_s"])
    if shard is not None:
        return 0
    with RunLock(results.parent, "compare_methods.py --extend-seeds"):
        rows, changed, means = compare.load_rows(results), 0, reference.reference_means(ref)
        for r in rows:
            if r.get("reference_protocol_hash") == ref["protocol_hash"] and len(r["fmnist_test_acc_seeds"]) < n:
                accs = values[r["genotype"]]
                r.update(fmnist_test_acc=sum(accs) / n, fmnist_test_acc_seeds=accs,
                         fmnist_percentile=reference.percentile(sum(accs) / n, means), reference_seeds=n)
                changed += 1
        atomic_write_text(results, "".join(json.dumps(r) + "\n" for r in rows))
    return changed


def report(results: Path, ref_path: str | None, out: Path) -> str:
    """The markdown tables of both budgets and the plots (``out``) from the results file."""
    ref = reference.load_reference(ref_path or reference.REFERENCE_FILE_V2)
    rows = compare_v2.rerank(compare.load_rows(results), ref)
    parts = []
    for budget, seeds in SEEDS.items():
        parts.append(f"### budget: {budget} (seeds {seeds[0]}-{seeds[-1]})\n\n"
                     + compare_v2.summary_table([r for r in rows if r["method"] in METHODS], budget, METHODS, seeds))
    if any(r["method"] in COMBOS for r in rows):  # their own table and test family, on their 5 seeds
        combo_rows = [r for r in rows if r["method"] in COMBOS + ["darts", "random"] and r["seed"] in COMBO_SEEDS]
        parts.append(f"### combinations, budget short (seeds {COMBO_SEEDS[0]}-{COMBO_SEEDS[-1]})\n\n"
                     + compare_v2.summary_table(combo_rows, "short", COMBOS + ["darts", "random"], COMBO_SEEDS))
    files = compare_v2.plots(rows, list(SEEDS), METHODS, reference.reference_means(ref), out)
    return "\n\n".join(parts) + "\n\n" + "\n".join(f"{k}: {v}" for k, v in files.items())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", choices=list(SEEDS), default="short")
    p.add_argument("--methods", default=",".join(METHODS), help=f"from {', '.join(METHODS + COMBOS)}")
    p.add_argument("--max-seeds", type=int, default=None, help="run only the first k listed seeds (a chunk)")
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes (one torch thread each)")
    p.add_argument("--out", default="runs/compare_v2", help="search outputs")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--reference", default=None, help="reference set JSON (default: the packaged v2 file)")
    p.add_argument("--report", action="store_true", help="only write the tables and plots")
    p.add_argument("--extend-seeds", action="store_true",
                   help="train the reference seeds the found cells lack and rewrite the rows (see above)")
    p.add_argument("--shard", default=None, help="with --extend-seeds: K/N, train one shard of the cells only")
    p.add_argument("--allow-partial-reference", action="store_true",
                   help="rank against a reference set still being built (its rows say so)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results = Path(args.results)
    if args.report:
        print(report(results, args.reference, DOCS))
        return
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS + COMBOS))
    if unknown:
        raise SystemExit(f"error: unknown method(s) {unknown}; known: {', '.join(METHODS + COMBOS)}")
    ref = reference.load_reference(args.reference or reference.REFERENCE_FILE_V2)
    if ref.get("partial") and not args.allow_partial_reference:
        raise SystemExit(f"error: the reference set is {ref['partial']}; finish it (build_fmnist_reference.py "
                         "--version 2) or pass --allow-partial-reference")
    results.parent.mkdir(parents=True, exist_ok=True)
    if args.extend_seeds:
        try:
            shard = tuple(int(v) for v in args.shard.split("/")) if args.shard else None
            changed = extend_seeds(results, ref, Path(args.out), shard)
        except RunFolderError as e:
            raise SystemExit(f"error: {e} (the trained values are kept in {args.out}/seed_extension*.json)") from None
        logging.info("%d rows now carry the reference's %d seeds", changed, len(ref["seeds"]))
        return
    seeds = SEEDS[args.budget][: args.max_seeds]
    done = {(r["method"], r["seed"]) for r in compare.load_rows(results) if r.get("budget") == args.budget}
    todo = [(m, s) for s in seeds for m in methods if (m, s) not in done]
    logging.info("%d searches to run (%d done); budget %s", len(todo), len(done), args.budget)
    with RunLock(results.parent), ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(work, m, args.budget, s, args.out, args.reference, str(results)) for m, s in todo]
        for fut in futures:
            row = fut.result()
            with open(results, "a") as f:
                f.write(json.dumps(row) + "\n")
            logging.info("%s %s seed %d: %s F-MNIST %.4f (pct %.0f), NB201 C10 valid %.2f, search %.0f s",
                         row["method"], row["budget"], row["seed"], row["genotype"], row["fmnist_test_acc"],
                         row["fmnist_percentile"], row["nb201_cifar10_val_acc"], row["search_wall_s"])


if __name__ == "__main__":
    main()
