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

    OMP_NUM_THREADS=1 nice -n 19 python scripts/bench/compare_methods.py --budget short --max-seeds 2
    python scripts/bench/compare_methods.py --report
"""

from __future__ import annotations

import argparse
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pyronas.bench import compare, compare_v2, reference

SEEDS: dict[str, list[int]] = {"short": list(range(1000, 1010)), "paper": list(range(2000, 2005))}
METHODS = ["darts", "drnas", "vinnas", "balenas", "balenas_tf", "vimnas", "random"]
COMBOS = ["combo_dirichlet_lu", "combo_lowrank_alpha", "combo_balenas_bayesw"]
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


def report(results: Path, ref_path: str | None, out: Path) -> str:
    """The markdown tables of both budgets and the plots (``out``) from the results file."""
    ref = reference.load_reference(ref_path or reference.REFERENCE_FILE_V2)
    rows = compare_v2.rerank(compare.load_rows(results), ref)
    parts = []
    for budget, seeds in SEEDS.items():
        methods = [m for m in METHODS + COMBOS if m in METHODS or any(r["method"] == m for r in rows)]
        parts.append(f"### budget: {budget} (seeds {seeds[0]}-{seeds[-1]})\n\n"
                     + compare_v2.summary_table(rows, budget, methods, seeds))
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
    seeds = SEEDS[args.budget][: args.max_seeds]
    done = {(r["method"], r["seed"]) for r in compare.load_rows(results) if r.get("budget") == args.budget}
    todo = [(m, s) for s in seeds for m in methods if (m, s) not in done]
    logging.info("%d searches to run (%d done); budget %s", len(todo), len(done), args.budget)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
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
