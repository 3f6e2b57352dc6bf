"""Method comparison on Fashion-MNIST at an equal search budget (``scripts/bench/compare_methods.py``).

Every method searches the NAS-Bench-201 space on the same data (Fashion-MNIST, ``portion`` of the training
set split in halves, ``image_size`` px), supernet and epochs, from its ``configs/*_nb201_fmnist.yaml`` with
the overrides of ``budget_overrides``; random search trains ``random_cells`` uniformly random cells with the
reference protocol on the weight half and keeps the best on the architecture half. Every found cell is then
retrained with the reference protocol (``pyronas.bench.reference``: Fashion-MNIST test accuracy and percentile
among the reference cells) and looked up in the NAS-Bench-201 validation tables (transfer to CIFAR-10/100 and
ImageNet16-120).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
import time
from pathlib import Path

import torch

from pyronas.bench import nb201, reference
from pyronas.nn.spaces import Genotype, get_space

log = logging.getLogger(__name__)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
METHODS: dict[str, tuple[str, list[str]]] = {
    # name: (base config, method-specific overrides)
    "darts": ("darts_nb201_fmnist.yaml", []),
    "drnas": ("drnas_nb201_fmnist.yaml", []),
    "vinnas": ("vinnas_nb201_fmnist.yaml", []),
    "balenas": ("balenas_nb201_fmnist.yaml", []),
    "balenas_tf": ("balenas_nb201_fmnist.yaml",
                   ["select.rule=sample_score", "select.params={num_samples: 100, proxy: synflow}"]),
    "vimnas": ("vimnas_nb201_fmnist.yaml", []),
    # combinations no paper has tried (mix and match per site group)
    "combo_dirichlet_lu": ("combo_dirichlet_lu.yaml", []),
    "combo_lowrank_alpha": ("combo_lowrank_alpha.yaml", []),
    "combo_balenas_bayesw": ("combo_balenas_bayesw.yaml", []),
}
TABLES = ("cifar10", "cifar100", "imagenet16-120")


@dataclasses.dataclass
class Budget:
    """The search budget every method gets: epochs (``warmup_epochs`` of them weights only) over a
    ``portion`` of Fashion-MNIST split in halves, at ``image_size`` px, supernet ``C`` / ``layers``;
    ``steps_per_epoch`` caps an epoch (None: one pass over the smaller split)."""

    epochs: int = 3
    warmup_epochs: int = 1
    portion: float = 0.2
    image_size: int = 16
    C: int = 8
    layers: int = 1
    batch_size: int = 64
    steps_per_epoch: int | None = None
    eval_batches: int | None = 8
    random_cells: int = 8


def budget_overrides(budget: Budget, seed: int) -> list[str]:
    """``--set`` overrides that give a method's config the common budget (and no diagnostic callbacks)."""
    b = budget
    return [
        f"seed={seed}", "device=cpu", f"data.portion={b.portion}", "data.split=0.5", f"data.image_size={b.image_size}",
        f"data.batch_size={b.batch_size}", f"supernet.C={b.C}", f"supernet.layers={b.layers}",
        f"search.epochs={b.epochs}", f"search.warmup_epochs={b.warmup_epochs}",
        f"search.steps_per_epoch={'null' if b.steps_per_epoch is None else b.steps_per_epoch}",
        f"search.eval_batches={'null' if b.eval_batches is None else b.eval_batches}",
        "search.callbacks=[]", "search.record_every_steps=0",
        "benchmark.name=nb201", "benchmark.dataset=cifar10",
    ]


def run_method(method: str, seed: int, budget: Budget, out_dir: Path, data=None) -> dict:
    """Search with ``method`` (or random search) under ``budget``; the found cell and the search wall time."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    if method == "random":
        genotype = random_search(seed, budget, data)
    else:
        from pyronas.config import load_config
        from pyronas.infer import run_search

        base, extra = METHODS[method]
        cfg = load_config(CONFIGS / base, budget_overrides(budget, seed) + extra)
        cfg.name = f"{method}-s{seed}"
        # an unfinished earlier try of this item starts again from scratch (run folders refuse that by default)
        genotype = run_search(cfg, out_dir / f"{method}_s{seed}", progress_bar=False, data=data, overwrite=True)
    return {"method": method, "seed": seed, "genotype": str(genotype), "search_wall_s": time.perf_counter() - start}


def random_search(seed: int, budget: Budget, data=None) -> Genotype:
    """``budget.random_cells`` uniformly random cells, each trained with the reference protocol on the weight
    half of the search data and scored on the architecture half (never on the test set); the best is returned."""
    from pyronas.data.datasets import bilevel_split, load_dataset
    from pyronas.train.trainer import Trainer

    cfg = reference.load_protocol()
    train = data if data is not None else load_dataset("fashion_mnist", None, True, False, budget.image_size)
    w_idx, a_idx = bilevel_split(len(train), budget.portion, 0.5, seed)
    tensors = (train.x[w_idx], train.y[w_idx], train.x[a_idx], train.y[a_idx])
    g = torch.Generator().manual_seed(seed)
    space = get_space("nb201")
    best, best_acc = None, -1.0
    for _ in range(budget.random_cells):
        genotype = space.random_genotype(g)
        trainer = Trainer(genotype, cfg.network, dataclasses.replace(cfg.train, progress=False), tensors,
                          train.num_classes, cfg.data.batch_size, cfg.data.eval_batch_size, None, seed, "cpu")
        acc = trainer.run().test_acc  # accuracy on the architecture half
        log.info("random search seed %d: %s arch-split accuracy %.4f", seed, genotype, acc)
        if acc > best_acc:
            best, best_acc = genotype, acc
    return best


def evaluate_found(row: dict, ref: dict, known: dict[str, list[float]] | None = None) -> dict:
    """Retrain the found cell with the reference protocol (or reuse its values: see
    ``reference.evaluate_against_reference``) and look it up in the NB201 validation tables."""
    result = reference.evaluate_against_reference(row["genotype"], ref, known)
    out = dict(row, fmnist_test_acc=result["test_acc_mean"], fmnist_test_acc_seeds=result["test_acc"],
               fmnist_percentile=result["percentile"], params_M=result["params_M"], retrain_wall_s=result["wall_s"],
               fmnist_source=result["source"])
    for ds in TABLES:
        rec = nb201.load_table(ds).query(row["genotype"])
        out[f"nb201_{ds}_val_acc"] = rec.val_acc_mean
        out[f"nb201_{ds}_val_percentile"] = rec.percentile
    return out


def summary_table(rows: list[dict]) -> str:
    """Markdown: per method, mean ± std over seeds of the Fashion-MNIST test accuracy, its percentile among
    the reference cells, the NB201 validation accuracies (transfer) and the search wall time."""

    def ms(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
        v = [x * scale for x in values]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        return f"{statistics.fmean(v):.{digits}f} ± {sd:.{digits}f}"

    head = ("| method | seeds | F-MNIST test acc. (%) | percentile among reference cells | "
            "NB201 CIFAR-10 valid acc. (transfer) | NB201 CIFAR-100 valid acc. (transfer) | "
            "NB201 ImageNet16-120 valid acc. (transfer) | search wall s |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        lines.append(
            f"| {m} | {len(rs)} | {ms([r['fmnist_test_acc'] for r in rs], 100)} | "
            f"{ms([r['fmnist_percentile'] for r in rs], digits=1)} | "
            + " | ".join(ms([r[f'nb201_{ds}_val_acc'] for r in rs]) for ds in TABLES)
            + f" | {ms([r['search_wall_s'] for r in rs], digits=0)} |"
        )
    return "\n".join(lines)


def write_outputs(rows: list[dict], out_dir: Path, ref: dict) -> dict[str, Path]:
    """``compare.csv``, ``compare.md`` and ``compare.png`` (strip plot per method over the reference cells)."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    keys = ["method", "seed", "genotype", "search_wall_s", "fmnist_test_acc", "fmnist_percentile", "params_M",
            "retrain_wall_s"] + [f"nb201_{ds}_val_acc" for ds in TABLES]
    keys += [f"nb201_{ds}_val_percentile" for ds in TABLES]
    csv_path = out_dir / "compare.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    md_path = out_dir / "compare.md"
    md_path.write_text(summary_table(rows) + "\n")
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    refs = [100 * v for v in reference.reference_means(ref)]
    for ax, key, scale, label in ((axes[0], "fmnist_test_acc", 100, "Fashion-MNIST test accuracy (%)"),
                                  (axes[1], "nb201_cifar10_val_acc", 1, "NB201 CIFAR-10 validation acc. (transfer)")):
        if key == "fmnist_test_acc":
            ax.axhspan(*sorted([float(min(refs)), float(max(refs))]), color="0.9", zorder=0)
            ax.axhline(statistics.median(refs), color="0.5", ls="--", lw=1, label="median reference cell")
        for i, m in enumerate(methods):
            v = [r[key] * scale for r in rows if r["method"] == m]
            ax.scatter([i] * len(v), v, alpha=0.7)
            ax.hlines(statistics.fmean(v), i - 0.25, i + 0.25, color="k")
        ax.set_xticks(range(len(methods)), methods, rotation=30)
        ax.set_ylabel(label)
        ax.legend(loc="lower right") if key == "fmnist_test_acc" else None
    fig.tight_layout()
    png_path = out_dir / "compare.png"
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return {"csv": csv_path, "md": md_path, "png": png_path}


def load_rows(path: Path) -> list[dict]:
    """The JSON lines of a results file, or [] when it does not exist yet."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
