"""The method comparison v2 (issue #26 §2): two budgets, fixed seed lists, intervals and paired tests.

Budgets: ``short`` is v1's (``compare.Budget()``: 3 epochs, 1 of them weight-only warm-up, for every method);
``paper`` gives every method twice the epochs (6) in its paper's shape (``PAPER_SHAPES``: weight warm-up
epochs, then architecture epochs), and random search twice the cells (16). The search seeds of each budget
are fixed in ``scripts/bench/compare_methods.py`` before any run; ``stats.check_seed_list`` turns a results
file into complete / incomplete per method, never into a silently shorter average.

The table (``summary_table``): per budget and method, the mean with a 95 % BCa bootstrap interval of the found
cell's reference accuracy, its percentile, the NB201 validation accuracies (transfer) and the search seconds,
and the two-sided p-values of the paired Wilcoxon signed-rank and sign-flip permutation tests of the reference
accuracy against random search and against DARTS over the seeds both have, with the Holm-adjusted Wilcoxon p
over the table's family of tests (``paired_tests``).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from pathlib import Path

from pyronas.bench import reference, stats
from pyronas.bench.compare import TABLES, Budget

# (epochs, warmup_epochs) of the ``paper`` budget, from each paper's NAS-Bench-201 / Fashion-MNIST schedule scaled
# to 6 epochs: DARTS, DrNAS and BaLeNAS update alpha from the first epoch (50 / 100 / 50 epochs, no warm-up);
# VINNAS' F setting warms the weights up for 10 of 50 epochs (1 of 6); VIM-NAS pre-trains the weights and
# converges within one architecture epoch (5 + 1).
PAPER_SHAPES: dict[str, tuple[int, int]] = {
    "darts": (6, 0), "drnas": (6, 0), "balenas": (6, 0), "balenas_tf": (6, 0), "vinnas": (6, 1), "vimnas": (6, 5),
}
BUDGETS: dict[str, Budget] = {"short": Budget(), "paper": Budget(epochs=6, warmup_epochs=0, random_cells=16)}
ACC = "fmnist_test_acc"


def rerank(rows: list[dict], ref: dict) -> list[dict]:
    """The rows with ``fmnist_percentile`` recomputed among ``ref``'s cells (a row ranked against a reference
    set still being built gets its final percentile); a row of another protocol is refused."""
    means = reference.reference_means(ref)
    out = []
    for r in rows:
        if r.get("reference_protocol_hash", ref["protocol_hash"]) != ref["protocol_hash"]:
            raise ValueError(f"row {r['method']} seed {r['seed']} was evaluated with protocol "
                             f"{r['reference_protocol_hash']}, not the reference's {ref['protocol_hash']}")
        if len(r.get("fmnist_test_acc_seeds", ref["seeds"])) != len(ref["seeds"]):
            raise ValueError(f"row {r['method']} seed {r['seed']} has {len(r['fmnist_test_acc_seeds'])} training "
                             f"seeds, the reference {len(ref['seeds'])}: run compare_methods.py --extend-seeds")
        out.append(dict(r, fmnist_percentile=reference.percentile(r[ACC], means)))
    return out


def method_budget(method: str, budget: str) -> Budget:
    """The ``Budget`` of ``method`` under the named budget (``paper``: its epochs / warm-up shape)."""
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; known: {', '.join(BUDGETS)}")
    b = BUDGETS[budget]
    if budget == "paper" and method in PAPER_SHAPES:
        epochs, warmup = PAPER_SHAPES[method]
        b = dataclasses.replace(b, epochs=epochs, warmup_epochs=warmup)
    return b


def _interval(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    lo, hi = stats.bootstrap_ci(values, method="bca")
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _paired_p(rows: list[dict], method: str, other: str) -> tuple[float, float, int] | None:
    """Wilcoxon and permutation p of the reference accuracy of ``method`` vs ``other`` over common seeds,
    and the number of pairs (None against itself or with fewer than 2 pairs)."""
    mine = {r["seed"]: r[ACC] for r in rows if r["method"] == method}
    theirs = {r["seed"]: r[ACC] for r in rows if r["method"] == other}
    common = sorted(set(mine) & set(theirs))
    if method == other or len(common) < 2:
        return None
    x, y = [mine[s] for s in common], [theirs[s] for s in common]
    return stats.wilcoxon_signed_rank(x, y)["p"], stats.paired_permutation_test(x, y)["p"], len(common)


def paired_tests(rows: list[dict], methods: Sequence[str]) -> dict[tuple[str, str], str]:
    """``(method, other) -> "Wilcoxon p / permutation p (n=k; Holm p)"`` for ``other`` in random and DARTS; the
    Holm correction (``stats.holm``) is over the Wilcoxon p-values of the whole family (each unordered pair
    once, e.g. 6 methods against random plus 5 against DARTS)."""
    tests = {(m, o): _paired_p(rows, m, o) for m in methods for o in ("random", "darts") if o in methods}
    family = {frozenset(k): v for k, v in tests.items() if v is not None}
    adj = dict(zip(family, stats.holm([v[0] for v in family.values()]), strict=True))
    return {k: "—" if v is None else f"{v[0]:.3f} / {v[1]:.3f} (n={v[2]}; Holm {adj[frozenset(k)]:.3f})"
            for k, v in tests.items()}


def summary_table(rows: list[dict], budget: str, methods: Sequence[str], seeds: Sequence[int]) -> str:
    """Markdown table of one budget (see the module docstring); a method missing listed seeds is marked
    ``incomplete`` with the missing seeds, its figures over the seeds it has."""
    rows = [r for r in rows if r.get("budget") == budget]
    missing = stats.check_seed_list(rows, methods, seeds)
    head = ("| method | seeds | F-MNIST ref. acc. (%) | percentile | NB201 CIFAR-10 valid (transfer) | "
            "CIFAR-100 (transfer) | ImageNet16-120 (transfer) | search s | p vs random (Wilcoxon / perm.; Holm) | "
            "p vs DARTS (Wilcoxon / perm.; Holm) |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    tests = paired_tests(rows, methods)
    for m in methods:
        rs = sorted((r for r in rows if r["method"] == m), key=lambda r: r["seed"])
        if not rs:
            lines.append(f"| {m} | 0 of {len(seeds)} (not run) |" + " |" * 8)
            continue
        n = f"{len(rs)}" if not missing[m] else f"{len(rs)} of {len(seeds)}, incomplete (missing {missing[m]})"
        cells = [_interval([100 * r[ACC] for r in rs], 2), _interval([r["fmnist_percentile"] for r in rs], 1)]
        cells += [_interval([r[f"nb201_{ds}_val_acc"] for r in rs], 2) for ds in TABLES]
        cells += [_interval([r["search_wall_s"] for r in rs], 0), tests.get((m, "random"), "—"),
                  tests.get((m, "darts"), "—")]
        lines.append(f"| {m} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plots(rows: list[dict], budgets: Sequence[str], methods: Sequence[str], reference_means: list[float],
          out: Path) -> dict[str, Path]:
    """``out/strip_<budget>.png``: reference accuracy of every found cell per method with its mean and 95 %
    interval over the reference cells' band; ``out/transfer.png``: NB201 CIFAR-10 validation (transfer) against
    reference accuracy of every found cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    refs = [100 * v for v in reference_means]
    for budget in budgets:
        fig, ax = plt.subplots(figsize=(8, 4))
        if refs:
            lo, hi = sorted(refs)[int(0.05 * len(refs))], sorted(refs)[int(0.95 * (len(refs) - 1))]
            ax.axhspan(lo, hi, color="0.92", zorder=0, label="5-95 % of reference cells")
            ax.axhline(statistics.median(refs), color="0.5", ls="--", lw=1, label="median reference cell")
        for i, m in enumerate(methods):
            v = [100 * r[ACC] for r in rows if r["method"] == m and r.get("budget") == budget]
            if not v:
                continue
            ax.scatter([i] * len(v), v, alpha=0.6, s=18)
            mean = statistics.fmean(v)
            lo, hi = stats.bootstrap_ci(v) if len(v) > 1 else (mean, mean)
            ax.errorbar(i + 0.2, mean, yerr=[[mean - lo], [hi - mean]], fmt="o", color="k", capsize=3)
        ax.set_xticks(range(len(methods)), methods, rotation=30)
        ax.set_ylabel("Fashion-MNIST reference accuracy (%)")
        ax.set_title(f"budget: {budget} (mean, 95 % BCa interval)")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        files[f"strip_{budget}"] = out / f"strip_{budget}.png"
        fig.savefig(files[f"strip_{budget}"], dpi=110)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        if rs:
            ax.scatter([100 * r[ACC] for r in rs], [r["nb201_cifar10_val_acc"] for r in rs], label=m, alpha=0.7, s=18)
    ax.set_xlabel("Fashion-MNIST reference accuracy (%)")
    ax.set_ylabel("NB201 CIFAR-10 validation accuracy (transfer)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files["transfer"] = out / "transfer.png"
    fig.savefig(files["transfer"], dpi=110)
    plt.close(fig)
    return files
