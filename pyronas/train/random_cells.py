"""Random-search baseline (VINNAS Table II; Li & Talwalkar 2019): sample genotypes uniformly under the
space's derivation rule and retrain each with the same protocol as the found architectures.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from pyronas.io import atomic_write_json
from pyronas.nn.spaces import Genotype, SearchSpace
from pyronas.train.trainer import TrainResult

logger = logging.getLogger(__name__)

SUMMARY = "random_summary.json"


def random_genotypes(space: SearchSpace, n: int, seed: int = 0) -> list[Genotype]:
    """``n`` genotypes drawn with ``space.random_genotype`` from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    return [space.random_genotype(generator) for _ in range(n)]


def summarise(results: list[TrainResult]) -> dict:
    """Mean ± standard deviation (and best) of test accuracy, parameters and MACs over the runs."""

    def stats(values: list[float]) -> dict:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": statistics.fmean(values), "std": std, "min": min(values), "max": max(values)}

    best = max(range(len(results)), key=lambda k: results[k].test_acc)
    return {
        "n": len(results),
        "test_acc": stats([r.test_acc for r in results]),
        "params_M": stats([r.params_M for r in results]),
        "macs_M": stats([r.macs_M for r in results]),
        "wall_time_s": sum(r.wall_time_s for r in results),
        "best": {"index": best, "test_acc": results[best].test_acc, "genotype": results[best].genotype},
        "runs": [
            {"genotype": r.genotype, "test_acc": r.test_acc, "params_M": r.params_M, "macs_M": r.macs_M}
            for r in results
        ],
    }


def random_search(
    space: SearchSpace,
    n: int,
    train_one: Callable[[Genotype, Path], TrainResult],
    out_dir: str | Path,
    seed: int = 0,
) -> dict:
    """Train ``n`` random genotypes, each in ``out_dir/arch_<k>`` via ``train_one(genotype, run_dir)``
    (which resumes an existing checkpoint), and write the summary to ``out_dir/random_summary.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for k, genotype in enumerate(random_genotypes(space, n, seed)):
        run_dir = out_dir / f"arch_{k:02d}"
        run_dir.mkdir(exist_ok=True)
        genotype.save(run_dir / "genotype.json")
        result = train_one(genotype, run_dir)
        logger.info("random architecture %d: %s test acc %.4f", k, genotype, result.test_acc)
        results.append(result)
    summary = summarise(results)
    atomic_write_json(out_dir / SUMMARY, summary, indent=2)
    return summary
