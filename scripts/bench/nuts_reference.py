"""NUTS reference posterior of α vs a VI guide's q(α), on a short real Fashion-MNIST search.

1. a short search (``--config``, default configs/combo_lowrank_alpha.yaml: Gaussian prior, low-rank
   MVN q(α)), or a finished run folder (``--run``);
2. the supernet's weights fixed, NUTS over α on the first ``--images`` images of the architecture
   split, the log-likelihood scaled to the split size (the ELBO's scaling, so the VI posterior is
   comparable), ``--chains`` chains one after the other;
3. R-hat / ESS of the chains, per-op posterior means and 94% HDIs of NUTS and VI side by side
   (``nuts_vs_vi.csv``, ``nuts_vs_vi.png``, ``nuts.nc``, ``vi.nc``, ``nuts_reference.json``).

``--threads`` torch threads (default 1). Wall times of the search, of one potential-gradient
evaluation and of NUTS are reported.

    python scripts/bench/nuts_reference.py --out runs/nuts_reference [--run runs/combo_lowrank_alpha-s0]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import pyro
import torch

from pyronas.analysis.nuts import compare, run_nuts, supernet_log_likelihood
from pyronas.config import load_config
from pyronas.infer import Search, load_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/combo_lowrank_alpha.yaml")
    p.add_argument("--set", action="append", default=[], help="config overrides for the search")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--run", help="use this finished run folder instead of searching")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--max-tree-depth", type=int, default=5)
    p.add_argument("--full-mass", action="store_true", help="adapt a dense mass matrix")
    p.add_argument("--scale", choices=["split", "subset"], default="split")
    p.add_argument("--out", default="runs/nuts_reference")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    if args.run:
        search = load_run(args.run)
    else:
        cfg = load_config(args.config, [f"search.epochs={args.epochs}", "search.warmup_epochs=0", *args.set])
        search = Search(cfg, out / "search")
        pyro.enable_validation(False)
        search.run(progress_bar=False)
    search_time = time.perf_counter() - t0
    model, guide = search.model, search.guide
    for prm in model.parameters():
        prm.requires_grad_(False)
    x, y = search.arch_data.x[: args.images], search.arch_data.y[: args.images]
    n_data = len(search.arch_data) if args.scale == "split" else len(y)
    weights = guide.weights.pruned_means() if model.prior.weight_shapes else None
    loglik = supernet_log_likelihood(model, x, y, n_data, weights)

    init = {k: v.mean(0) for k, v in guide.sample_alpha(256).items()}
    a = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    t1 = time.perf_counter()
    for _ in range(3):
        torch.autograd.grad(loglik(a), list(a.values()))
    grad_time = (time.perf_counter() - t1) / 3

    result = run_nuts(
        model.prior, loglik, args.draws, args.warmup, args.chains, seed=search.cfg.seed,
        max_tree_depth=args.max_tree_depth, init=init, full_mass=args.full_mass,
    )
    cmp = compare(result, model.prior, guide, search.space, num_samples=1000, out_dir=out)
    raw = compare(result, model.prior, guide, search.space, num_samples=1000, var_name="raw")
    t = cmp.table
    summary = {
        "config": args.run or args.config,
        "images": len(y),
        "n_data": n_data,
        "chains": args.chains,
        "warmup": args.warmup,
        "draws": args.draws,
        "max_tree_depth": args.max_tree_depth,
        "full_mass": args.full_mass,
        "threads": args.threads,
        "search_wall_s": round(search_time, 1),
        "grad_eval_s": round(grad_time, 4),
        "nuts_wall_s": round(result.wall_time, 1),
        "accept_prob": result.accept_prob,
        "step_size": result.step_size,
        "nuts_max_rhat_op_probs": cmp.max_rhat,
        "nuts_min_ess_bulk_op_probs": cmp.min_ess_bulk,
        "nuts_max_rhat_alpha": raw.max_rhat,
        "nuts_min_ess_bulk_alpha": raw.min_ess_bulk,
        "mean_abs_diff_op_probs": float((t["nuts_mean"] - t["vi_mean"]).abs().mean()),
        "max_abs_diff_op_probs": float((t["nuts_mean"] - t["vi_mean"]).abs().max()),
        "mean_sd_ratio_vi_over_nuts_alpha": float((raw.table["vi_sd"] / raw.table["nuts_sd"]).mean()),
        "argmax_agreement_edges": float(
            (
                t.loc[t.groupby(["cell", "edge"])["nuts_mean"].idxmax(), "op"].to_numpy()
                == t.loc[t.groupby(["cell", "edge"])["vi_mean"].idxmax(), "op"].to_numpy()
            ).mean()
        ),
        "files": {k: str(v) for k, v in cmp.files.items()},
    }
    (out / "nuts_reference.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    cols = ["cell", "edge", "op", "nuts_mean", "nuts_hdi_3%", "nuts_hdi_97%", "nuts_r_hat", "nuts_ess_bulk",
            "vi_mean", "vi_hdi_3%", "vi_hdi_97%"]
    print(t[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
