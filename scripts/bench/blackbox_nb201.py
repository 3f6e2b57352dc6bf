"""Black-box NAS baselines on the NAS-Bench-201 validation tables: random search, regularised evolution
(P = 20, S = 5) and GP-BO (pyronas.bo, MAP hyperparameters, EI / UCB / PI) for several seeds and datasets.

A query observes one training seed's validation accuracy (drawn uniformly; a re-query of a cell another seed);
a run is scored by the TRUE seed-mean validation accuracy of its leader, the cell with the best MEAN observation
(bb.best_so_far). Each finished (method, dataset, seed) run is appended
to ``--out`` (JSONL) and skipped when the script is re-run, so it can be stopped and resumed.
``--report`` turns the file into regret curves (PNG) and a markdown table.

    OMP_NUM_THREADS=1 python scripts/bench/blackbox_nb201.py --methods random,re --seeds 100
    OMP_NUM_THREADS=1 python scripts/bench/blackbox_nb201.py --methods bo-ei --datasets cifar10 --seeds 20
    python scripts/bench/blackbox_nb201.py --report --png docs/blackbox_nb201.png
    python scripts/bench/blackbox_nb201.py --report --out runs/bench/blackbox_v3.jsonl \
        --pairs bo-ei-hamming-rep:bo-ei-hamming
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from pyronas.bench import blackbox as bb
from pyronas.bench.nb201 import load_table, synflow_scores

# Method names: random, re, ls (local search), bananas (pyronas.bench.bananas),
# bo-<ei|ucb|pi|ts>[-full][-nuts][-hamming|-hamadd|-paths|-pathsnoskip|-wl|-wlK][-log][-rep|-repK][-inc|-chal][-exact]
#   [-afterK][-initK][-refitK][-localK][-xiK|-xidK][-zcK]
# (-rep: bo.replicate = the table's most seeds per cell, 3; -repK: replicate = K; -afterK: replicate_after = K;
# -xiK: EI margin xi = K / 100 of the standardised observations' sd, -xidK: the same decreasing to 0;
# -zcK: zero-cost warm-up, the initial design is the 10 best SynFlow-scored of K random cells).
# GP-BO settings of the runs: MAP hypers warm-started from the previous fit, re-optimised every 10th proposal
# with 50 L-BFGS iterations (the GP is conditioned on all data at every proposal).
BO_SETTINGS = dict(n_init=10, map_restart=False, refit_every=10, map_steps=50)
CHECKPOINTS = (25, 50, 100, 150)
LABELS = {"cifar10": "CIFAR-10 (valid)", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}


def run_one(method: str, dataset: str, seed: int, budget: int) -> dict:
    table = load_table(dataset)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    if method == "random":
        trace = bb.random_search(table, budget, rng)
    elif method == "ls":
        trace = bb.local_search(table, budget, rng)
    elif method == "bananas":  # White et al. (2021): ensemble of MLPs on the path encoding, ITS, mutation
        from pyronas.bench.bananas import bananas

        trace = bananas(table, budget, rng)
    elif method == "re":
        trace = bb.regularized_evolution(table, budget, rng, population_size=20, sample_size=5)
    elif method.startswith("bo-"):
        acq, *variants = method[3:].split("-")
        settings = dict(BO_SETTINGS, acquisition=acq)
        if "full" in variants:  # BOConfig's default MAP fitting: 100 L-BFGS steps from 2 starts at every proposal
            settings = dict(n_init=BO_SETTINGS["n_init"], acquisition=acq)
        if "nuts" in variants:  # NUTS hyperparameter samples, integrated acquisition
            settings.update(hypers="nuts")
        if "hamming" in variants:  # exponentiated Hamming kernel, one length scale per edge (pyronas.bo.kernels)
            settings.update(kernel="hamming")
        if "hamadd" in variants:  # the Hamming kernel plus its first-order additive part (pyronas.bo.kernels)
            settings.update(kernel="hamming_additive")
        if "paths" in variants:  # BANANAS path encoding of the cell (pyronas.bo.encodings)
            settings.update(encoding="paths")
        if "pathsnoskip" in variants:  # path encoding with skip_connect dropped from the op sequences
            settings.update(encoding="paths_noskip")
        if "wl" in variants:  # NAS-BOWL's WL features (h = 1) and the exponentiated WL kernel (pyronas.bo.kernels)
            settings.update(encoding="wl", kernel="wl")
        if "inc" in variants:  # with -rep: also verify the GP's noisy incumbent (bo.replicate_also)
            settings.update(replicate_also="incumbent")
        if "chal" in variants:  # with -rep: also verify the LUCB challenger (bo.replicate_also)
            settings.update(replicate_also="challenger")
        if "exact" in variants:  # diagnostic: a query observes the seed-mean accuracy (no seed noise)
            settings.update(noise_free=True)
        if "log" in variants:  # the GP models -log(100 - accuracy) (bb.bayesian_optimisation)
            settings.update(log_error=True)
        for v in variants:  # re-evaluate the leader (another seed) until it has K observations (bo.replicate)
            if v == "rep":
                settings.update(replicate=int(table.n_seeds.max()))
            elif v.startswith("rep") and v[3:].isdigit():
                settings.update(replicate=int(v[3:]))
            elif v.startswith("after") and v[5:].isdigit():  # replication starts after K queries (default 0)
                settings.update(replicate_after=int(v[5:]))
            elif v.startswith("local") and v[5:].isdigit():  # EI maximised within K edges of the 10 best cells
                settings.update(local_radius=int(v[5:]))
            elif v.startswith("init") and v[4:].isdigit():  # initial random design of K cells (default 10)
                settings.update(n_init=int(v[4:]))
            elif v.startswith("wl") and v[2:].isdigit():  # WL features of K iterations and the WL kernel
                settings.update(encoding="wl", kernel="wl", wl_iterations=int(v[2:]))
            elif v.startswith("xid") and v[3:].isdigit():  # EI margin xi = K / 100 sd, decreasing to 0 (Kushner)
                settings.update(xi=int(v[3:]) / 100, xi_schedule="decreasing")
            elif v.startswith("xi") and v[2:].isdigit():  # EI margin xi = K / 100 (standardised units), constant
                settings.update(xi=int(v[2:]) / 100)
            elif v.startswith("zc") and v[2:].isdigit():  # zero-cost warm-up: best 10 by SynFlow of K random cells
                settings.update(init_design="zero_cost", init_pool=int(v[2:]), proxy=synflow_scores())
            elif v.startswith("refit") and v[5:].isdigit():  # MAP hypers re-fitted every K-th proposal (default 10)
                settings.update(refit_every=int(v[5:]))
        numbered = ("rep", "after", "init", "refit", "local", "wl", "xi", "xid", "zc")
        unknown = {v for v in variants if not (v == "rep" or any(v.startswith(n) and v[len(n):].isdigit()
                                                                  for n in numbered))}
        unknown -= {"full", "nuts", "hamming", "hamadd", "log", "paths", "pathsnoskip", "wl", "inc", "chal", "exact"}
        if unknown:
            raise SystemExit(f"error: unknown GP-BO variant(s) {sorted(unknown)} in {method!r}; "
                             "known: full, nuts, hamming, hamadd, paths, pathsnoskip, wl, log, rep, inc, chal, exact, "
                             "rep<K>, after<K>, init<K>, refit<K>, local<K>, wl<K>, xi<K>, xid<K>, zc<K>")
        trace = bb.bayesian_optimisation(table, budget, seed, **settings)
    else:
        raise SystemExit(f"unknown method {method!r}")
    wall = time.perf_counter() - start
    curve = bb.best_so_far(trace, table.mean)
    out = {"method": method, "dataset": table.dataset, "seed": seed, "budget": budget, "wall_s": wall,
           "rows": trace.rows, "observed": trace.observed, "best_so_far": curve.tolist(), "optimum": table.best}
    if trace.incumbents:  # GP-BO: the cell it returns (noisy incumbent) after each query
        out["incumbent_so_far"] = bb.incumbent_so_far(trace, table.mean).tolist()
    return out


def load_results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean_sd(v: list[float]) -> str:
    return f"{np.mean(v):.2f} ± {np.std(v, ddof=1):.2f}"


def _true_values(run: dict, queries: int) -> list[float]:
    """True (seed-mean) values of the first ``queries`` queried cells of a run."""
    table = load_table(run["dataset"])
    return [float(table.mean[row]) for row in run["rows"][:queries]]


def report(results: list[dict], png: str | None, png_methods: list[str] | None = None) -> str:
    """Markdown table of best-so-far validation accuracy (mean ± std over seeds) and the regret-curve PNG (of
    ``png_methods`` only, when given)."""
    groups: dict[tuple[str, str], list[np.ndarray]] = {}
    optimum = {}
    walls: dict[tuple[str, str], list[float]] = {}
    runs: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["dataset"], r["method"]), []).append(np.array(r["best_so_far"]))
        walls.setdefault((r["dataset"], r["method"]), []).append(r["wall_s"])
        runs.setdefault((r["dataset"], r["method"]), []).append(r)
        optimum[r["dataset"]] = r["optimum"]
    last = CHECKPOINTS[-1]
    lines = ["| dataset (validation) | method | seeds | " + " | ".join(f"{c} queries" for c in CHECKPOINTS)
             + f" | optimum by {last}: queried / best observed / returned (GP incumbent) | returned cell at 100 / "
             f"{last} (GP-BO) | wall s / run (median) |", "|---|---|---|" + "---|" * len(CHECKPOINTS) + "---|---|---|"]
    for (ds, m), curves in sorted(groups.items()):
        c = np.stack(curves)
        cells = [f"{c[:, k - 1].mean():.2f} ± {c[:, k - 1].std(ddof=1) if len(c) > 1 else 0:.2f}"
                 if c.shape[1] >= k else "—" for k in CHECKPOINTS]
        rs, opt = runs[(ds, m)], optimum[ds]
        queried = sum(any(abs(v - opt) < 1e-9 for v in _true_values(r, last)) for r in rs)
        found = sum(abs(r["best_so_far"][last - 1] - opt) < 1e-9 for r in rs if len(r["best_so_far"]) >= last)
        inc = [r["incumbent_so_far"] for r in rs if "incumbent_so_far" in r]
        returned = sum(abs(x[last - 1] - opt) < 1e-9 for x in inc) if len(inc) == len(rs) else "—"
        inc_cells = " / ".join(_mean_sd([x[k - 1] for x in inc]) for k in (100, last)) if len(inc) > 1 else "—"
        if 1 < len(inc) < len(rs):  # runs recorded before the incumbents were kept
            inc_cells += f" ({len(inc)} runs)"
        lines.append(f"| {LABELS.get(ds, ds)} | {m} | {len(c)} | " + " | ".join(cells)
                     + f" | {queried} / {found} / {returned} of {len(rs)} | {inc_cells} | "
                     f"{np.median(walls[(ds, m)]):.1f} |")
    for ds, opt in sorted(optimum.items()):
        lines.append(f"| {LABELS.get(ds, ds)} | optimum | — | {opt:.2f} |" + " |" * (len(CHECKPOINTS) + 2))
    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        datasets = sorted(optimum)
        fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
        for ax, ds in zip(axes[0], datasets, strict=False):
            for (d, m), curves in sorted(groups.items()):
                if d != ds or (png_methods and m not in png_methods):
                    continue
                regret = optimum[ds] - np.stack(curves)
                x = np.arange(1, regret.shape[1] + 1)
                mu, se = regret.mean(0), regret.std(0) / np.sqrt(len(regret))
                ax.plot(x, mu, label=f"{m} ({len(regret)})")
                ax.fill_between(x, mu - se, mu + se, alpha=0.2)
            ax.set_yscale("symlog", linthresh=0.01)  # log above 0.01 pp, linear to 0 (runs that all end on the optimum)
            ax.set_ylim(bottom=0)
            ax.set_xlabel("queries")
            ax.set_ylabel("regret of validation accuracy (pp)")
            ax.set_title(f"NAS-Bench-201 {LABELS.get(ds, ds)}")
            ax.legend(fontsize=7, framealpha=0.6)
        fig.tight_layout()
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=110)
    return "\n".join(lines)


def write_summary(results: list[dict], path: str, methods: list[str] | None = None) -> int:
    """One CSV row per run (of ``methods``, all when None): the best-so-far value at each checkpoint, whether the
    optimum was the leader by the last one, the re-queries and the wall time -- enough to recompute the tables'
    means, intervals and paired tests without the full traces. Returns the number of rows."""
    import csv

    fields = ["method", "dataset", "seed", *(f"best_{k}" for k in CHECKPOINTS), "optimum_leader", "requeries",
              "wall_s"]
    rows = [r for r in results if methods is None or r["method"] in methods]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for r in sorted(rows, key=lambda r: (r["dataset"], r["method"], r["seed"])):
            curve = r["best_so_far"]
            w.writerow([r["method"], r["dataset"], r["seed"], *(f"{curve[k - 1]:.4f}" for k in CHECKPOINTS),
                        int(abs(curve[-1] - r["optimum"]) < 1e-9), len(r["rows"]) - len(set(r["rows"])),
                        f"{r['wall_s']:.2f}"])
    return len(rows)


def paired_tests(results: list[dict], pairs: list[str]) -> str:
    """Markdown lines of paired tests (same dataset and seeds) of ``A:B`` method pairs on the best-so-far value at
    100 and 150 queries: mean difference A - B, Wilcoxon signed-rank and sign-flip permutation p-values."""
    from pyronas.bench.stats import paired_permutation_test, wilcoxon_signed_rank

    by = {(r["dataset"], r["method"], r["seed"]): r["best_so_far"] for r in results}
    lines = ["| dataset | A | B | queries | seeds | mean A − B | Wilcoxon p | sign-flip p |",
             "|---|---|---|---|---|---|---|---|"]
    for pair in pairs:
        a, b = pair.split(":")
        for ds in sorted({d for d, _, _ in by}):
            seeds = sorted(s for d, m, s in by if d == ds and m == a and (ds, b, s) in by)
            for k in (100, CHECKPOINTS[-1]):
                x = [by[(ds, a, s)][k - 1] for s in seeds if len(by[(ds, a, s)]) >= k and len(by[(ds, b, s)]) >= k]
                y = [by[(ds, b, s)][k - 1] for s in seeds if len(by[(ds, a, s)]) >= k and len(by[(ds, b, s)]) >= k]
                if len(x) < 2:
                    continue
                w, perm = wilcoxon_signed_rank(x, y), paired_permutation_test(x, y)
                lines.append(f"| {LABELS.get(ds, ds)} | {a} | {b} | {k} | {len(x)} | {np.mean(x) - np.mean(y):+.3f} | "
                             f"{w['p']:.3g} | {perm['p']:.3g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="random,re,bo-ei")
    p.add_argument("--datasets", default="cifar10,cifar100,imagenet16-120")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--budget", type=int, default=150)
    p.add_argument("--out", default="runs/bench/blackbox_nb201.jsonl")
    p.add_argument("--report", action="store_true", help="summarise --out instead of running")
    p.add_argument("--png", default=None)
    p.add_argument("--png-methods", default="", help="with --png: plot only these methods (comma-separated)")
    p.add_argument("--pairs", default="", help="with --report: paired tests of methods A:B[,C:D] on the same seeds")
    p.add_argument("--summary", default=None, help="with --report: also write one CSV row per run (checkpoints only)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.report:
        print(report(load_results(out), args.png, [m for m in args.png_methods.split(",") if m]))
        if args.pairs:
            print("\n" + paired_tests(load_results(out), args.pairs.split(",")))
        if args.summary:
            methods = [m for m in args.png_methods.split(",") if m] or None
            print(f"\n{write_summary(load_results(out), args.summary, methods)} runs written to {args.summary}")
        return
    torch.set_num_threads(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["method"], r["dataset"], r["seed"]) for r in load_results(out)}
    for dataset in args.datasets.split(","):
        ds = load_table(dataset).dataset
        for method in args.methods.split(","):
            for seed in range(args.seed_start, args.seed_start + args.seeds):
                if (method, ds, seed) in done:
                    continue
                r = run_one(method, ds, seed, args.budget)
                with open(out, "a") as f:
                    f.write(json.dumps(r) + "\n")
                print(f"{method} {ds} seed {seed}: best {r['best_so_far'][-1]:.3f} ({r['wall_s']:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
