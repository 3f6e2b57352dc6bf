"""Compare pyronas' BO-NAS (pyro.contrib.gp, ARD Matern-5/2, EI) with BoTorch and random search.

BoTorch side: ``SingleTaskGP`` with a ``ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=D))`` and a
``Standardize`` outcome transform, fitted with ``fit_gpytorch_mll``, then ``LogExpectedImprovement``
maximised with ``optimize_acqf_discrete`` over the not-yet-evaluated architectures. Both methods start
from the same ``n_init`` random architectures of each seed and get the same budget. Reported: best value
found per evaluation averaged over seeds, and evaluations needed to reach the known optimum.

Needs the optional extra ``pip install 'pyronas[bo]'`` (botorch). Example (a few minutes on 2 CPU cores):

    python scripts/bench/compare_bo_botorch.py --seeds 0 1 2 --budget 50 --out runs/bo_vs_botorch.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from pyronas.bo.candidates import decode_op_indices, encode_op_indices, enumerate_op_indices, key
from pyronas.bo.loop import BayesOpt, BOConfig
from pyronas.bo.targets import SyntheticObjective, TableObjective
from pyronas.nn.spaces import get_space

METHODS = ("ours_ei", "botorch_logei", "random")


def run_ours(space, objective, budget, n_init, seed, acquisition="ei"):
    bo = BayesOpt(space, objective, BOConfig(budget=budget, n_init=n_init, acquisition=acquisition), seed=seed)
    bo.run()
    return [e.value for e in bo.evaluations], [e.arch for e in bo.evaluations]


def run_botorch(space, objective, budget, init_archs, seed):
    from botorch.acquisition import LogExpectedImprovement
    from botorch.exceptions.errors import ModelFittingError
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf_discrete
    from gpytorch.kernels import MaternKernel, ScaleKernel
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.manual_seed(seed)
    idx = enumerate_op_indices(space)
    X_all = encode_op_indices(space, idx).double()
    row = {key(decode_op_indices(space, r)): i for i, r in enumerate(idx)}
    chosen = [row[a] for a in init_archs]
    values = [objective(decode_op_indices(space, idx[i])) for i in chosen]
    failures = 0
    while len(values) < budget:
        X = X_all[chosen]
        Y = torch.tensor(values, dtype=torch.double).unsqueeze(-1)
        covar = ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=X.shape[-1]))
        model = SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        except ModelFittingError:  # seen on noise-free objectives: keep the initial hyperparameters this step
            failures += 1
        acq = LogExpectedImprovement(model, best_f=Y.max())
        mask = torch.ones(len(X_all), dtype=torch.bool)
        mask[chosen] = False
        free = mask.nonzero().squeeze(-1)
        cand, _ = optimize_acqf_discrete(acq, q=1, choices=X_all[free], max_batch_size=4096)
        i = int(free[(X_all[free] == cand[0]).all(-1).nonzero()[0, 0]])
        chosen.append(i)
        values.append(objective(decode_op_indices(space, idx[i])))
    if failures:
        print(f"botorch: {failures} of {budget - len(init_archs)} model fits failed (kept initial hyperparameters)")
    return values


def best_so_far(values):
    out, best = [], -float("inf")
    for v in values:
        best = max(best, v)
        out.append(best)
    return out


def summarise(results: dict, times: dict, optimum: float, budget: int) -> dict:
    """Mean best-so-far per evaluation over seeds and evaluations to the optimum; printed as a table."""
    summary = {}
    for name, curves in results.items():
        mean = torch.tensor(curves).mean(0)
        hits = [next((i + 1 for i, v in enumerate(c) if v >= optimum - 1e-9), None) for c in curves]
        summary[name] = {
            "mean_best_at": {n: float(mean[n - 1]) for n in (10, 20, 30, 40, 50, 75, 100) if n <= budget},
            "evals_to_optimum": hits,
            "seconds": times[name],
        }
    first = next(iter(summary.values()))
    print(f"{'method':<15}" + "".join(f"{'@' + str(n):>9}" for n in first["mean_best_at"]) +
          "  evals-to-optimum  seconds")
    for name, s in summary.items():
        print(f"{name:<15}" + "".join(f"{v:9.4f}" for v in s["mean_best_at"].values()) +
              f"  {s['evals_to_optimum']}  {s['seconds']:.0f}")
    return summary


def merge(files: list[str]) -> None:
    """Summarise several per-seed JSON outputs of this script together."""
    runs = [json.loads(Path(f).read_text()) for f in files]
    names = [m for m in METHODS if any(m in r["curves"] for r in runs)]
    results = {m: [c for r in runs for c in r["curves"].get(m, [])] for m in names}
    times = {m: sum(r["summary"][m]["seconds"] for r in runs if m in r["summary"]) for m in names}
    print("seeds per method: " + ", ".join(f"{m} {len(c)}" for m, c in results.items()))
    summarise(results, times, runs[0]["optimum"][1], min(len(c[0]) for c in results.values()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", type=int, default=50)
    p.add_argument("--n-init", type=int, default=5)
    p.add_argument("--objective", default="synthetic", help="'synthetic' or a table file (.json/.csv)")
    p.add_argument("--synthetic-seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.0, help="observation noise of the synthetic objective")
    p.add_argument("--out", help="write the per-seed curves and the summary as JSON")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--merge", nargs="+", metavar="JSON", help="only summarise earlier --out files together")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args.merge)
    torch.set_default_dtype(torch.float32)
    space = get_space("nb201")

    def make_objective():
        if args.objective == "synthetic":
            return SyntheticObjective(space, args.synthetic_seed, noise=args.noise)
        return TableObjective(args.objective)

    ref = make_objective()
    opt = ref.optimum() if isinstance(ref, SyntheticObjective) else (None, max(ref.table.values()))
    results = {m: [] for m in args.methods}
    times = {m: 0.0 for m in args.methods}
    for seed in args.seeds:
        # the first n_init evaluations of every method are the same random architectures
        _, init = run_ours(space, make_objective(), args.n_init, args.n_init, seed, acquisition="random")
        line = []
        for name in args.methods:
            t = time.perf_counter()
            if name == "botorch_logei":
                vals = run_botorch(space, make_objective(), args.budget, init, seed)
            else:
                acq = "ei" if name == "ours_ei" else "random"
                vals, archs = run_ours(space, make_objective(), args.budget, args.n_init, seed, acquisition=acq)
                assert archs[: args.n_init] == init
            times[name] += time.perf_counter() - t
            results[name].append(best_so_far(vals))
            line.append(f"{name} {max(vals):.4f}")
        print(f"seed {seed}: best after {args.budget}: " + ", ".join(line) + f" (optimum {opt[1]:.4f})")

    summary = summarise(results, times, opt[1], args.budget)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "optimum": opt, "curves": results, "summary": summary}, f, indent=2)


if __name__ == "__main__":
    main()
