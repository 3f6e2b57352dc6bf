"""What the Fashion-MNIST reference set v2 resolves (issue #26 §1), from the (possibly partial) v2 file alone:

- the noise ratio of the protocol over its random cells (``stats.noise_ratio``; chance-level cells left out),
  also for the mean of the first j < k training seeds (the seed-count lever);
- Spearman's rho between the v2 seed-mean accuracy and the NAS-Bench-201 CIFAR-10 validation accuracy of the same
  cells (transfer), with a 95 % bootstrap interval over cells;
- Spearman's rho between v1 and v2 on the cells both sets hold (v2's first 100 random cells are v1's).

    python scripts/bench/reference_v2_report.py
"""

from __future__ import annotations

import argparse

import numpy as np

from pyronas.bench import reference, stats
from pyronas.bench.nb201 import load_table


def rho_interval(x: list[float], y: list[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman's rho of ``(x, y)`` and its 95 % percentile bootstrap interval (cells resampled)."""
    x_, y_ = np.asarray(x), np.asarray(y)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(len(x_), size=len(x_))
        if len(set(x_[i])) > 2 and len(set(y_[i])) > 2:
            boots.append(stats.spearman(x_[i], y_[i]))
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return stats.spearman(x_, y_), float(lo), float(hi)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--v2", default=str(reference.REFERENCE_FILE_V2))
    p.add_argument("--v1", default=str(reference.REFERENCE_FILE))
    args = p.parse_args(argv)
    v2, v1 = reference.load_reference(args.v2), reference.load_reference(args.v1)
    k = len(v2["seeds"])
    cells = [c for c in v2["cells"] if c["kind"] == "random" and len(c["test_acc"]) == k]
    complete = sum(len(c["test_acc"]) == k for c in v2["cells"])
    print(f"v2: {complete} of {v2.get('cells_planned', '?')} cells with all {k} training seeds "
          f"({v2.get('partial', 'complete')}), {v2.get('training_hours', 0):.2f} training hours")
    for name, ref, seeds in (("v1", v1, len(v1["seeds"])), ("v2", v2, k)):
        accs = [[100 * a for a in c["test_acc"]] for c in ref["cells"] if c["kind"] == "random"
                and len(c["test_acc"]) == seeds]
        if len(accs) >= 3:
            n = stats.noise_ratio(accs, exclude_below=20.0)
            print(f"{name} noise: {n['cells']} cells x {n['seeds']} seeds, seed sd {n['seed_sd']:.2f} pp, mean |diff| "
                  f"{n['mean_abs_diff']:.2f} pp, cell sd {n['cell_sd']:.2f} pp, ratio {n['ratio']:.2f} per seed, "
                  f"{n['ratio_mean']:.2f} for the {n['seeds']}-seed mean")
            for j in range(2, seeds):  # the seed-count lever, measured: the first j seeds of the same cells
                nj = stats.noise_ratio([a[:j] for a in accs], exclude_below=20.0)
                print(f"  {name}, first {j} seeds: seed sd {nj['seed_sd']:.2f} pp, cell sd {nj['cell_sd']:.2f} pp, "
                      f"ratio {nj['ratio_mean']:.2f} for the {j}-seed mean")
    if len(cells) < 3:
        return
    table = load_table("cifar10")
    mean2 = {c["string"]: float(np.mean(c["test_acc"])) for c in cells}
    nb = [table.query(s).val_acc_mean for s in mean2]
    rho, lo, hi = rho_interval(list(mean2.values()), nb)
    print(f"Spearman v2 vs NB201 CIFAR-10 valid (transfer), {len(nb)} cells: {rho:.3f} [{lo:.3f}, {hi:.3f}]")
    mean1 = {c["string"]: float(np.mean(c["test_acc"])) for c in v1["cells"] if c["kind"] == "random"}
    common = [s for s in mean2 if s in mean1]
    if len(common) >= 3:
        rho, lo, hi = rho_interval([mean1[s] for s in common], [mean2[s] for s in common])
        print(f"Spearman v1 vs v2, {len(common)} common cells: {rho:.3f} [{lo:.3f}, {hi:.3f}]")
        rho1 = stats.spearman([mean1[s] for s in common], [table.query(s).val_acc_mean for s in common])
        print(f"Spearman v1 vs NB201 CIFAR-10 valid on the same {len(common)} cells: {rho1:.3f}")


if __name__ == "__main__":
    main()
