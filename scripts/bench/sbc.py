"""Simulation-based calibration (Talts et al. 2018) of NUTS and of each α guide on ``MixingProblem``.

For each method (``--methods``: ``nuts`` or a guide name of scripts/bench/calibration_table.py) and
prior (``--priors``: gaussian, dirichlet): ``--sims`` simulations α* ~ p(α), y ~ p(y | α*), the
method's posterior given y, the rank of α* among ``--draws`` of its draws (NUTS: one chain thinned
evenly; a guide: fitted by calibration_table.fit, then independent draws). Ranks are appended per
simulation to ``OUT/ranks.jsonl`` (a stopped run continues); ``OUT/sbc.json`` holds per method and
prior the χ² p-values (Bonferroni over the entries), the pooled rank histogram and the verdict.

    OMP_NUM_THREADS=1 nice -n 19 python scripts/bench/sbc.py --out runs/sbc --sims 100
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pyro
import torch
from calibration_table import GUIDES, fit

from pyronas.analysis.sbc import MixingProblem, nuts_sampler, rank_histogram_summary, sbc_ranks, uniformity
from pyronas.config import GroupConfig, GuideConfig, ModelConfig
from pyronas.infer.build import build_guide


def guide_sampler(name: str, steps: int, lr: float):
    """A guide fitted on each simulated data set, then ``num_draws`` independent draws of q."""
    gname, params = GUIDES[name]

    def sample(problem: MixingProblem, y: torch.Tensor, num_draws: int) -> torch.Tensor:
        pyro.set_rng_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
        mc = ModelConfig(name=problem.prior_name, params={})
        guide = build_guide(GuideConfig(alpha=GroupConfig(gname, params)), problem.model, mc).alpha_guide
        fit(name, guide, problem.prior, problem.log_likelihood(y), problem.n, steps, lr)
        return guide.sample_alpha(num_draws)["cell"]

    return sample


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["nuts"])
    p.add_argument("--priors", nargs="+", default=["gaussian", "dirichlet"])
    p.add_argument("--sims", type=int, default=100)
    p.add_argument("--draws", type=int, default=19, help="posterior draws per simulation (ranks 0..draws)")
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--samples", type=int, default=300, help="NUTS draws before thinning")
    p.add_argument("--steps", type=int, default=800, help="guide fitting steps")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--out", default="runs/sbc")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ranks.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    summary = {}
    for prior in args.priors:
        problem = MixingProblem(edges=2, ops=3, n=16, noise=0.5, prior_name=prior, seed=0)
        for method in args.methods:
            if method == "delta":
                continue  # a point mass: every rank is 0 or `draws`, nothing to test
            if (method == "dirichlet") != (prior == "dirichlet") and method not in ("nuts", "auto_normal",
                                                                                   "auto_lowrank", "auto_iaf"):
                continue  # a guide only on its prior's support (the autoguides transform to either)
            have = {r["sim"]: r["ranks"] for r in rows if r["method"] == method and r["prior"] == prior}
            sampler = nuts_sampler(args.warmup, args.samples, 5) if method == "nuts" else \
                guide_sampler(method, args.steps, 0.1 if method == "balenas" else args.lr)

            def record(s: int, r: np.ndarray, method: str = method, prior: str = prior) -> None:
                with path.open("a") as f:
                    f.write(json.dumps({"method": method, "prior": prior, "sim": s, "ranks": r.tolist()}) + "\n")
                logging.info("%s / %s: simulation %d", method, prior, s)

            todo = [s for s in range(args.sims) if s not in have]
            for s in todo:  # one at a time, so every finished simulation is on disk
                r = sbc_ranks(problem, sampler, 1, args.draws, seed=s)[0]
                record(s, r)
                have[s] = r.tolist()
            ranks = np.array([have[s] for s in range(args.sims)])
            u = uniformity(ranks, args.draws)
            summary[f"{method}/{prior}"] = {
                "sims": args.sims, "draws": args.draws, "min_p": u.min_p, "bonferroni_level": u.level / ranks.shape[1],
                "passed": u.passed, "pooled_histogram": rank_histogram_summary(ranks, args.draws),
            }
            logging.info("%s / %s: %s", method, prior, summary[f"{method}/{prior}"])
    (out / "sbc.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
