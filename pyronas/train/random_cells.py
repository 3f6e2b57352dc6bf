"""Random-search baseline (VINNAS Table II; Li & Talwalkar 2019): sample genotypes uniformly under the
space's derivation rule, retrain each with the same protocol as the found architectures, choose the best
on a validation split held out of the training set (``train.val_portion``) and report the test accuracy
of that one architecture only, once.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from pyronas.errors import ConfigError
from pyronas.io import atomic_write_json
from pyronas.nn.spaces import Genotype, SearchSpace
from pyronas.train.trainer import TrainResult

logger = logging.getLogger(__name__)

SUMMARY = "random_summary.json"
TEST_NOTE = "test accuracy (reported once, not used for selection)"


def random_genotypes(space: SearchSpace, n: int, seed: int = 0) -> list[Genotype]:
    """``n`` genotypes drawn with ``space.random_genotype`` from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    return [space.random_genotype(generator) for _ in range(n)]


def summarise(results: list[TrainResult], chosen: TrainResult | None = None) -> dict:
    """Validation accuracy, parameters and MACs (mean ± standard deviation, min, max) over the runs, the
    run chosen by validation accuracy, and -- given ``chosen`` (that run evaluated on the test set) --
    its test accuracy, labelled as reported once and not used for selection."""

    def stats(values: list[float]) -> dict:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": statistics.fmean(values), "std": std, "min": min(values), "max": max(values)}

    best = choose(results)
    summary = {
        "n": len(results),
        "selection": "validation accuracy (train.val_portion of the training set); the test set is not used",
        "val_acc": stats([r.val_acc for r in results]),
        "params_M": stats([r.params_M for r in results]),
        "macs_M": stats([r.macs_M for r in results]),
        "wall_time_s": sum(r.wall_time_s for r in results),
        "best": {"index": best, "val_acc": results[best].val_acc, "genotype": results[best].genotype},
        "runs": [
            {"genotype": r.genotype, "val_acc": r.val_acc, "params_M": r.params_M, "macs_M": r.macs_M}
            for r in results
        ],
    }
    if chosen is not None:
        summary["best"] |= {"test_acc": chosen.test_acc, "test_note": TEST_NOTE}
    return summary


def choose(results: list[TrainResult]) -> int:
    """Index of the run with the highest validation accuracy (ties: the first); the test set plays no part."""
    if any(math.isnan(r.val_acc) for r in results):
        raise ConfigError("train.val_portion: a random search selects on a validation split; set it > 0 (e.g. 0.1)")
    return max(range(len(results)), key=lambda k: results[k].val_acc)


def random_search(
    space: SearchSpace,
    n: int,
    train_one: Callable[[Genotype, Path], TrainResult],
    out_dir: str | Path,
    seed: int = 0,
    test_one: Callable[[Genotype, Path], TrainResult] | None = None,
) -> dict:
    """Train ``n`` random genotypes, each in ``out_dir/arch_<k>`` via ``train_one(genotype, run_dir)``
    (which resumes an existing checkpoint and reports the validation accuracy, no test accuracy), choose
    the one of highest validation accuracy, evaluate only that one on the test set with
    ``test_one(genotype, run_dir)`` (when given), and write the summary to ``out_dir/random_summary.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, genotypes = [], random_genotypes(space, n, seed)
    for k, genotype in enumerate(genotypes):
        run_dir = out_dir / f"arch_{k:02d}"
        run_dir.mkdir(exist_ok=True)
        genotype.save(run_dir / "genotype.json")
        result = train_one(genotype, run_dir)
        logger.info("random architecture %d: %s validation acc %.4f", k, genotype, result.val_acc)
        results.append(result)
    best = choose(results)
    chosen = test_one(genotypes[best], out_dir / f"arch_{best:02d}") if test_one is not None else None
    summary = summarise(results, chosen)
    if chosen is not None:
        logger.info("chosen by validation accuracy: architecture %d, %s %.4f", best, TEST_NOTE, chosen.test_acc)
    atomic_write_json(out_dir / SUMMARY, summary, indent=2)
    return summary
