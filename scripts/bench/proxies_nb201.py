"""Zero-cost proxy (SynFlow, Tanaka et al. 2020) on the NAS-Bench-201 CIFAR-10 validation table.

For each seed s, 100 distinct cells are drawn uniformly (numpy default_rng(s)); each is scored by SynFlow on
its discrete NB201 network at CIFAR shapes (C = 16, N = 5 cells per stage, 3x32x32, 10 classes, weights
initialised under torch seed 0; SynFlow needs no data), and the best-scored cell's seed-mean CIFAR-10 validation
accuracy is recorded (BaLeNAS Table 1: 90.19 ± 0.66). The Spearman rank correlation between SynFlow and
validation accuracy is taken over all scored cells. Scores are cached per cell in ``--cache`` (JSON, rewritten
atomically every 50 cells), so re-runs and more seeds reuse them.

    OMP_NUM_THREADS=1 python scripts/bench/proxies_nb201.py --seeds 20
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from pyronas.bench.nb201 import SYNFLOW_SCORES, cell_from_index, cell_string, load_table
from pyronas.io import atomic_write_json
from pyronas.nn.spaces import Genotype
from pyronas.select.proxies import score_genotype

CACHE = SYNFLOW_SCORES


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--cache", default=str(CACHE))
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--shard", default=None, help="K/N: score only the uncached cells with row K mod N, then exit")
    p.add_argument("--merge", nargs="+", default=None, help="add the scores of these cache files to --cache first")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    table = load_table(args.dataset)
    cache_path = Path(args.cache)
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {
        "description": "SynFlow score of NAS-Bench-201 cells: discrete network C=16, N=5, input 1x3x32x32 of ones, "
                       "10 classes, float64, torch.manual_seed(0) initialisation", "scores": {}, "seconds": 0.0}
    scores: dict[str, float] = cache["scores"]
    for extra in args.merge or []:
        other = json.loads(Path(extra).read_text())
        scores.update(other["scores"])
        cache["seconds"] += other["seconds"]
    if args.merge:
        atomic_write_json(cache_path, cache)
    x, y = torch.zeros(1, 3, 32, 32), torch.zeros(1, dtype=torch.long)
    draws = [np.random.default_rng(s).choice(len(table), size=args.samples, replace=False) for s in range(args.seeds)]
    todo = sorted({int(r) for d in draws for r in d} - {int(k) for k in scores})
    if args.shard:
        k, n = (int(v) for v in args.shard.split("/"))
        todo = [r for r in todo if r % n == k]
    logging.info("%d cells to score (%d cached)", len(todo), len(scores))
    for n, row in enumerate(todo, 1):
        start = time.perf_counter()
        g = Genotype.from_nb201_string(cell_string(cell_from_index(row)))
        scores[str(row)] = score_genotype(g, "synflow", x, y, C=16, layers=5, num_classes=10, seed=0)
        cache["seconds"] += time.perf_counter() - start
        if n % 50 == 0 or n == len(todo):
            atomic_write_json(cache_path, cache)
            logging.info("scored %d / %d (%.2f s per cell)", n, len(todo), cache["seconds"] / len(scores))
    if args.shard:
        return
    best = []
    for d in draws:
        s = np.array([scores[str(int(r))] for r in d])
        best.append(table.mean[int(d[int(np.argmax(s))])])
    rows = np.array([int(k) for k in scores])
    rho = spearmanr([scores[str(r)] for r in rows], table.mean[rows]).statistic
    print(f"SynFlow best-of-{args.samples} on NB201 {table.dataset} validation over {args.seeds} seeds: "
          f"{np.mean(best):.2f} ± {np.std(best, ddof=1):.2f} (min {np.min(best):.2f}, max {np.max(best):.2f})")
    print(f"Spearman rho(SynFlow, {table.dataset} validation accuracy) over {len(rows)} cells: {rho:.3f}")
    print(f"scoring time: {cache['seconds']:.0f} s in all, {cache['seconds'] / len(scores):.2f} s per cell")


if __name__ == "__main__":
    main()
