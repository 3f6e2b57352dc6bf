"""Compare the NAS methods on Fashion-MNIST at an equal search budget (pyronas.bench.compare).

Each (method, seed) search runs under the common budget, then its cell is retrained with the reference
protocol (configs/train_reference_fmnist.yaml, seeds 0 and 1) and ranked among the reference cells of
pyronas/bench/data/fmnist_reference_v1.json, and looked up in the NAS-Bench-201 validation tables (transfer).
Finished rows are appended to OUT/results.jsonl and skipped on a re-run (resumable); OUT/compare.{csv,md,png}
are rewritten at the end.

    OMP_NUM_THREADS=1 python scripts/bench/compare_methods.py --seeds 3 --jobs 2 --out runs/compare
"""

from __future__ import annotations

import argparse
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pyronas.bench import compare, reference

ALL = list(compare.METHODS) + ["random"]


def work(method: str, seed: int, budget: compare.Budget, out: str, ref_path: str | None) -> dict:
    """One search + evaluation (runs in a worker process)."""
    logging.basicConfig(level=logging.WARNING)
    ref = reference.load_reference(ref_path)
    row = compare.run_method(method, seed, budget, Path(out))
    return compare.evaluate_found(row, ref)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default=",".join(ALL), help=f"comma-separated, from {', '.join(ALL)}")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes (one torch thread each)")
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--reference", default=None, help="reference set JSON (default: the packaged v1 file)")
    for f in compare.Budget.__dataclass_fields__.values():
        p.add_argument(f"--{f.name.replace('_', '-')}", type=int if f.name != "portion" else float, default=f.default)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    budget = compare.Budget(**{f: getattr(args, f) for f in compare.Budget.__dataclass_fields__})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ref = reference.load_reference(args.reference)
    results = out / "results.jsonl"
    done = {(r["method"], r["seed"]) for r in compare.load_rows(results)}
    todo = [(m, s) for s in range(args.seeds) for m in args.methods.split(",") if (m, s) not in done]
    logging.info("%d searches to run (%d done); budget %s", len(todo), len(done), budget)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(work, m, s, budget, str(out), args.reference) for m, s in todo]
        for fut in futures:
            row = fut.result()
            with open(results, "a") as f:
                f.write(json.dumps(row) + "\n")
            logging.info("%s seed %d: %s F-MNIST %.4f (pct %.0f), NB201 C10 valid %.2f, search %.0f s",
                         row["method"], row["seed"], row["genotype"], row["fmnist_test_acc"],
                         row["fmnist_percentile"], row["nb201_cifar10_val_acc"], row["search_wall_s"])
    rows = compare.load_rows(results)
    files = compare.write_outputs(rows, out, ref)
    print(files["md"].read_text())
    print("\n".join(f"{k}: {v}" for k, v in files.items()))


if __name__ == "__main__":
    main()
