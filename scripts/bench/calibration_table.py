"""The calibration table: every α guide fitted on the reference's target, against the NUTS reference.

Reads the reference of ``scripts/bench/nuts_reference.py`` (``--ref``: its ``search`` run, fixed
weights, the first ``--images`` images, likelihood scaled to the split, and its ``nuts.nc``); fits
each guide's q(α) on exactly that posterior (the α-only model, full batch, no weight steps), then
``pyronas.analysis.calibration.calibration_metrics`` against the NUTS draws. Guides:

* ``delta`` (DARTS), ``mean_field`` (VINNAS), ``vim`` (VIM-NAS' generator), ``auto_normal``,
  ``auto_lowrank`` (rank 4), ``auto_iaf``: Adam on the ELBO (``Trace_ELBO``);
* ``balenas``: VAdam's natural-gradient VI (BaLeNAS eqs. 13-18), σ from its precision state;
* ``dirichlet`` (DrNAS): needs a simplex prior, so it is fitted with the Dirichlet(1) prior on the same
  weights and data, and compared with the Gaussian-prior NUTS draws on the op probabilities (the
  likelihood scaled to N dominates either prior; k̂ is against its own Dirichlet-prior target).

Each guide's row is appended to ``OUT/calibration.jsonl`` and skipped on the next call; then the table
(``calibration.md``) and an ArviZ forest of q vs NUTS (``calibration_forest.png``).

    OMP_NUM_THREADS=1 nice -n 19 python scripts/bench/calibration_table.py --ref runs/nuts_ref_small
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import arviz as az
import matplotlib
import numpy as np
import pandas as pd
import pyro
import torch

from pyronas.analysis.calibration import calibration_metrics, convergence, importance_log_weights, nuts_reference
from pyronas.analysis.nuts import alpha_model, supernet_log_likelihood
from pyronas.analysis.sbc import MixingProblem
from pyronas.config import GroupConfig, GuideConfig, ModelConfig
from pyronas.infer import load_run
from pyronas.infer.build import build_guide, build_model
from pyronas.optim.vadam import VAdam

matplotlib.use("Agg")

GUIDES = {
    "delta": ("delta", {}),
    "dirichlet": ("dirichlet", {}),
    "mean_field": ("mean_field", {"log_sigma2": -6.0}),
    "balenas": ("balenas", {}),
    "vim": ("vim", {}),
    "auto_normal": ("auto", {"family": "normal", "init_sigma": 0.05}),
    "auto_lowrank": ("auto", {"family": "lowrank_mvn", "rank": 4, "init_sigma": 0.05}),
    "auto_iaf": ("auto", {"family": "iaf"}),
}


def fit(name: str, alpha_guide, prior, loglik, n_data: int, steps: int, lr: float) -> list[float]:
    """Fit q(α) on p(α) · exp(loglik(α)); returns the loss every 50 steps."""
    losses = []
    if name == "balenas":  # natural-gradient VI: ĝ of the per-datum data loss at α ~ q, the prior in VAdam
        opt = VAdam(list(alpha_guide.parameters()), lr=lr, prior_precision=alpha_guide.delta, num_data=n_data)
        alpha_guide.bind_optimizer(opt)
        for t in range(steps):
            opt.zero_grad()
            alpha = {k: alpha_guide.alpha_dist(k).rsample() for k in prior.arch_shapes}
            loss = -loglik(alpha) / n_data
            loss.backward()
            opt.step()
            if t % 50 == 0:
                losses.append(float(loss))
        return losses
    model = alpha_model(prior, loglik)
    elbo = pyro.infer.Trace_ELBO()
    alpha_guide(None, None, n_data)  # create lazily built parameters (autoguides)
    opt = torch.optim.Adam(alpha_guide.parameters(), lr=lr)
    for t in range(steps):
        opt.zero_grad()
        loss = elbo.differentiable_loss(model, lambda: alpha_guide(None, None, n_data))
        loss.backward()
        opt.step()
        if t % 50 == 0:
            losses.append(float(loss))
    return losses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", default="runs/nuts_ref_small", help="the nuts_reference.py output folder")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--tag", default="", help="the reference's --tag (reads nuts<tag>.nc)")
    p.add_argument("--guides", nargs="+", default=list(GUIDES))
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--q-samples", type=int, default=300)
    p.add_argument("--out", default=None, help="default: --ref")
    p.add_argument("--docs", help="copy calibration.md / .jsonl / forest png here")
    p.add_argument("--problem", choices=["supernet", "mixing"], default="supernet",
                   help="supernet: the nuts_reference.py target; mixing: pyronas.analysis.sbc.MixingProblem")
    p.add_argument("--balenas-lr", type=float, default=0.1, help="VAdam's beta (BaLeNAS)")
    p.add_argument("--chains", type=int, default=4, help="mixing: NUTS chains")
    p.add_argument("--warmup", type=int, default=500, help="mixing: NUTS warm-up")
    p.add_argument("--draws", type=int, default=1000, help="mixing: NUTS draws per chain")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    out = Path(args.out or args.ref)
    out.mkdir(parents=True, exist_ok=True)
    targets = supernet_targets(args) if args.problem == "supernet" else mixing_targets(args, out)
    rows_path = out / "calibration.jsonl"
    done = {json.loads(line)["guide"] for line in rows_path.read_text().splitlines()} if rows_path.exists() else set()
    q_sets = {}
    for name in args.guides:
        saved = out / f"q_{name}.npy"
        if name in done and saved.exists():
            q_sets[name] = np.load(saved)
            continue
        gname, params = GUIDES[name]
        prior_name = "dirichlet" if name == "dirichlet" else "gaussian"
        m, loglik, n_data, ref_probs = targets[prior_name]
        torch.manual_seed(0)
        pyro.set_rng_seed(0)
        mc = ModelConfig(name=prior_name, params={})
        guide = build_guide(GuideConfig(alpha=GroupConfig(gname, params)), m, mc).alpha_guide
        t0 = time.perf_counter()
        lr = args.balenas_lr if name == "balenas" else args.lr
        losses = fit(name, guide, m.prior, loglik, n_data, args.steps, lr)
        fit_s = time.perf_counter() - t0
        guide_fn = lambda g=guide, n=n_data: g(None, None, n)  # noqa: E731
        lw, q_alpha = importance_log_weights(guide_fn, m.prior, loglik, args.q_samples)
        q_probs = np.stack([m.prior.to_weights(q_alpha[k]).numpy() for k in m.prior.arch_shapes], 1)
        q_sets[name] = q_probs
        np.save(saved, q_probs)
        cal = calibration_metrics(name, ref_probs, q_probs, None if name == "delta" else lw)
        row = {**cal.row(), "fit_s": round(fit_s, 1), "steps": args.steps, "loss_first_last": [losses[0], losses[-1]]}
        with rows_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        logging.info("%s: %s", name, row)
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    table = pd.DataFrame(rows).drop(columns=["loss_first_last", "point_mass"])
    (out / "calibration.md").write_text(table.to_markdown(index=False, floatfmt=".3g"))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    forest(targets["gaussian"][3], q_sets, out / "calibration_forest.png")
    if args.docs:
        d = Path(args.docs)
        for f in ("calibration.md", "calibration.jsonl", "calibration_forest.png"):
            (d / f).write_bytes((out / f).read_bytes())


def supernet_targets(args: argparse.Namespace) -> dict:
    """{prior name: (model, log-likelihood, N, NUTS op-probability draws)} of the nuts_reference.py run."""
    ref = Path(args.ref)
    search = load_run(ref / "search")
    model = search.model
    for prm in model.parameters():
        prm.requires_grad_(False)
    model.eval()
    data = search.arch_data
    loglik = supernet_log_likelihood(model, data.x[: args.images], data.y[: args.images], len(data))
    nuts = az.from_netcdf(str(ref / f"nuts{args.tag}.nc"))
    ref_probs = nuts.posterior["op_probs"].stack(s=("chain", "draw")).transpose("s", ...).values
    dirichlet = build_model(ModelConfig(name="dirichlet", params={}), model.supernet)
    return {"gaussian": (model, loglik, len(data), ref_probs), "dirichlet": (dirichlet, loglik, len(data), ref_probs)}


def mixing_targets(args: argparse.Namespace, out: Path) -> dict:
    """The same for ``MixingProblem`` (3 edges × 4 ops, 64 observations, one simulated data set), with
    its own NUTS reference per prior (``nuts_reference``: Laplace-whitened, dense mass, chains saved)."""
    targets, summary = {}, {}
    for prior_name in ("gaussian", "dirichlet"):
        problem = MixingProblem(edges=3, ops=4, n=64, noise=0.5, prior_name=prior_name, seed=0)
        _, y = problem.simulate(0)
        loglik = problem.log_likelihood(y)
        result = nuts_reference(problem.prior, loglik, None, args.chains, args.warmup, args.draws, 6,
                                chain_dir=out / f"chains_{prior_name}", progress=True)
        rhat, bulk, tail = convergence(result.alpha)
        summary[prior_name] = {"max_rhat": rhat, "min_ess_bulk": bulk, "min_ess_tail": tail,
                               "divergences": result.divergences, "nuts_wall_s": round(sum(result.chain_wall), 1),
                               "chains": args.chains, "warmup": args.warmup, "draws": args.draws}
        logging.info("mixing %s reference: %s", prior_name, summary[prior_name])
        probs = problem.prior.to_weights(result.alpha["cell"].flatten(0, 1)).numpy()[:, None]
        targets[prior_name] = (problem.model, loglik, problem.n, probs)
    (out / "reference_mixing.json").write_text(json.dumps(summary, indent=1))
    return targets


def forest(ref_probs: np.ndarray, q_sets: dict[str, np.ndarray], path: Path) -> None:
    """ArviZ forest of the op probabilities of edge 0 of each cell kind: NUTS and every guide (94% HDI)."""
    sets = {"NUTS": ref_probs, **q_sets}
    datasets = [az.convert_to_inference_data({"p": v[None, :, 0, 0, :]}) for v in sets.values()]
    axes = az.plot_forest(datasets, model_names=list(sets), var_names=["p"], combined=True, hdi_prob=0.94,
                          figsize=(7, 9))
    axes[0].set_title("op probabilities of edge 0 (per op): NUTS vs each q(α)")
    axes[0].figure.savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
