"""A converged NUTS reference posterior of α on a trained supernet with its weights fixed.

1. a short search (``--config``, default configs/combo_lowrank_alpha.yaml made small: C = 4, 8 px,
   one cell per stage, so a gradient of the potential costs a few ms), or a finished run (``--run``);
   the search is kept in ``OUT/search`` and reloaded on a second call;
2. the supernet's weights fixed, NUTS over α on the first ``--images`` images of the architecture
   split, the log-likelihood scaled to the split size (the ELBO's scaling); ``--prior`` swaps the
   run's α prior for another on the same weights (e.g. ``dirichlet`` for DrNAS' guide);
3. ``--chains`` chains from dispersed starts (q(α)'s mean + ``--disperse`` · N(0, 1) in the
   unconstrained space), dense mass matrix adaptation by default; each finished chain is saved in
   ``OUT/chains`` and skipped on the next call (stop and continue);
4. R-hat, bulk and tail ESS of every α entry (Vehtari et al. 2021), divergences, a multimodality
   check (spread of the chain means in pooled sds), ``nuts.nc`` and ``nuts_reference.json``.

    OMP_NUM_THREADS=1 nice -n 19 python scripts/bench/nuts_reference.py --out runs/nuts_ref
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

import arviz as az
import numpy as np
import pyro
import torch

from pyronas.analysis.nuts import dispersed_inits, nuts_inference_data, run_nuts, supernet_log_likelihood
from pyronas.analysis.preconditioning import Unconstrained, distinct_modes, find_modes, laplace
from pyronas.config import ModelConfig, load_config
from pyronas.infer import Search, load_run
from pyronas.infer.build import build_model

SMALL = ["supernet.C=4", "data.image_size=8", "search.warmup_epochs=0"]


def convergence(idata: az.InferenceData, var: str = "alpha") -> dict:
    """Max R-hat, min bulk/tail ESS over the entries of ``var``, and the largest distance of a chain's
    mean from the pooled mean in pooled sds (≫ 1: chains sit in different modes)."""
    post = idata.posterior[[var]]
    rhat = az.rhat(post)[var].values
    bulk = az.ess(post, method="bulk")[var].values
    tail = az.ess(post, method="tail")[var].values
    x = idata.posterior[var]
    spread = (x.mean("draw") - x.mean(("chain", "draw"))).__abs__() / x.std(("chain", "draw"))
    return {
        f"nuts_max_rhat_{var}": float(np.nanmax(rhat)),
        f"nuts_min_ess_bulk_{var}": float(np.nanmin(bulk)),
        f"nuts_min_ess_tail_{var}": float(np.nanmin(tail)),
        f"max_chain_mean_offset_sd_{var}": float(spread.max()),
    }


def load_or_search(args: argparse.Namespace, out: Path) -> tuple[Search, float]:
    """The trained search: ``--run``, else ``OUT/search`` if it was run before, else a new short search."""
    t0 = time.perf_counter()
    if args.run:
        return load_run(args.run), 0.0
    if (out / "search" / "checkpoint.pt").exists():
        return load_run(out / "search"), 0.0
    cfg = load_config(args.config, [f"search.epochs={args.epochs}", *SMALL, *args.set])
    search = Search(cfg, out / "search")
    pyro.enable_validation(False)
    search.run(progress_bar=False)
    return search, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/combo_lowrank_alpha.yaml")
    p.add_argument("--set", action="append", default=[], help="config overrides for the search")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--run", help="use this finished run folder instead of searching")
    p.add_argument("--prior", choices=["run", "gaussian", "dirichlet"], default="run")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--max-tree-depth", type=int, default=6)
    p.add_argument("--diag-mass", action="store_true", help="adapt a diagonal mass matrix (default dense)")
    p.add_argument("--disperse", type=float, default=2.0, help="start spread (posterior sds)")
    p.add_argument("--starts", type=int, default=3, help="dispersed starts of the mode search")
    p.add_argument("--mode-iters", type=int, default=300, help="L-BFGS iterations per start (at most)")
    p.add_argument("--no-whiten", action="store_true", help="sample α directly (no Laplace preconditioning)")
    p.add_argument("--scale", choices=["split", "subset"], default="split")
    p.add_argument("--out", default="runs/nuts_reference")
    p.add_argument("--docs", help="copy nuts.nc and nuts_reference.json into this folder, with --tag")
    p.add_argument("--tag", default="")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only-chains", default=None,
                   help="e.g. 0,1: sample only these chains (run 2,3 in a second process on the same --out; the "
                        "search must exist first), then call again without it to assemble the summary")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    search, search_time = load_or_search(args, out)
    model, guide = search.model, search.guide
    for prm in model.parameters():
        prm.requires_grad_(False)
    model.eval()  # BatchNorm with its running statistics: a per-image likelihood Cat(y_n | supernet(x_n))
    if args.prior != "run":
        model = build_model(ModelConfig(name=args.prior, params={}), model.supernet)
    x, y = search.arch_data.x[: args.images], search.arch_data.y[: args.images]
    n_data = len(search.arch_data) if args.scale == "split" else len(y)
    weights = guide.weights.pruned_means() if model.prior.weight_shapes else None
    loglik = supernet_log_likelihood(model, x, y, n_data, weights)

    if args.prior == "run":
        center = {k: v.mean(0) for k, v in guide.sample_alpha(256).items()}
    else:  # another prior's support: start around its unconstrained origin
        center = None
    space = Unconstrained(model.prior)
    u0 = space.to_u(dispersed_inits(model.prior, 1, center, 0.0)[0]).requires_grad_(True)
    t1 = time.perf_counter()
    for _ in range(10):
        torch.autograd.grad(space.potential(loglik, u0), u0)
    grad_time = (time.perf_counter() - t1) / 10
    logging.info("one gradient of the potential: %.1f ms", 1e3 * grad_time)

    # multiple-start check: L-BFGS from q's mean and from --starts dispersed points; Laplace at the best
    t2 = time.perf_counter()
    starts = dispersed_inits(model.prior, args.starts, center, args.disperse, seed=search.cfg.seed + 100)
    optima = find_modes(space, loglik, [u0.detach()] + [space.to_u(s) for s in starts], 100, args.mode_iters // 100)
    whitening = laplace(space, loglik, optima[0].u)
    modes = distinct_modes(optima, whitening)
    mode_time = time.perf_counter() - t2
    logging.info("%d starts, %d distinct optima; potentials %s, |grad| %s", len(optima), len(modes),
                 [round(m.potential, 1) for m in modes], [f"{m.grad_norm:.1e}" for m in modes])
    # dispersed starts in posterior sds around the best mode: z ~ disperse · N(0, I)
    g = torch.Generator().manual_seed(search.cfg.seed)
    zs = args.disperse * torch.randn(args.chains, space.dim, generator=g)
    inits = [{f"alpha/{k}": v for k, v in whitening.to_alpha(z).items()} for z in zs]

    result = run_nuts(
        model.prior, loglik, args.draws, args.warmup, args.chains, seed=search.cfg.seed,
        max_tree_depth=args.max_tree_depth, init=inits, full_mass=not args.diag_mass,
        chain_dir=out / f"chains{args.tag}", progress=True, whitening=None if args.no_whiten else whitening,
        only=[int(c) for c in args.only_chains.split(",")] if args.only_chains else None,
    )
    if result is None:
        print(f"chains {args.only_chains} saved in {out / f'chains{args.tag}'}; the others are not yet: "
              "run again without --only-chains when they are")
        return
    idata = nuts_inference_data(result, model.prior, search.space)
    raw = idata.posterior.attrs["raw_variable"]
    idata.to_netcdf(str(out / f"nuts{args.tag}.nc"))
    summary = {
        "config": args.run or args.config,
        "overrides": [] if args.run else [f"search.epochs={args.epochs}", *SMALL, *args.set],
        "prior": type(model.prior.alpha).__name__ if hasattr(model.prior, "alpha") else type(model.prior).__name__,
        "images": len(y),
        "n_data": n_data,
        "alpha_entries": int(sum(np.prod(s) for s in model.prior.arch_shapes.values())),
        "chains": args.chains,
        "warmup": args.warmup,
        "draws": args.draws,
        "max_tree_depth": args.max_tree_depth,
        "full_mass": not args.diag_mass,
        "disperse": args.disperse,
        "whitened": not args.no_whiten,
        "mode_search_starts": len(optima),
        "distinct_modes": len(modes),
        "mode_potentials": [round(m.potential, 2) for m in modes],
        "mode_grad_norms": [m.grad_norm for m in modes],
        "mode_search_wall_s": round(mode_time, 1),
        "threads": args.threads,
        "search_wall_s": round(search_time, 1),
        "grad_eval_s": round(grad_time, 4),
        "nuts_wall_s": round(sum(result.chain_wall), 1),
        "chain_wall_s": [round(w, 1) for w in result.chain_wall],
        "accept_prob": result.accept_prob,
        "step_size": result.step_size,
        "divergences": result.divergences,
        **convergence(idata, raw),
        **{k.replace(raw, "op_probs"): v for k, v in convergence(idata, "op_probs").items()},
        "date": time.strftime("%Y-%m-%d"),
    }
    if raw != "alpha":  # keep today's field names comparable across priors
        summary["nuts_max_rhat_alpha"] = summary[f"nuts_max_rhat_{raw}"]
        summary["nuts_min_ess_bulk_alpha"] = summary[f"nuts_min_ess_bulk_{raw}"]
        summary["nuts_min_ess_tail_alpha"] = summary[f"nuts_min_ess_tail_{raw}"]
    summary["converged"] = bool(
        summary["nuts_max_rhat_alpha"] <= 1.01
        and min(summary["nuts_min_ess_bulk_alpha"], summary["nuts_min_ess_tail_alpha"]) >= 400
        and sum(result.divergences) == 0
    )
    (out / f"nuts_reference{args.tag}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    if args.docs:
        d = Path(args.docs)
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / f"nuts{args.tag}.nc", d / f"nuts{args.tag}.nc")
        shutil.copy(out / f"nuts_reference{args.tag}.json", d / f"nuts_reference{args.tag}.json")


if __name__ == "__main__":
    main()
