"""BaLeNAS as a Pyro program, the whole thing in one page (BaLeNAS, Algorithm 1).

    python scripts/search_balenas.py --config configs/balenas_nb201_fmnist.yaml [--set k=v ...]
        [--out DIR] [--num-samples 10 50 100] [--proxy synflow] [--zero-cost]

1. model  = supernet + Gaussian prior p(α) = N(0, I/δ)           (models/gaussian.py, eq. 5)
2. guide  = q(α) = N(μ, σ²), σ² = 1/(N (s + δ̃)) from VAdam's state (guides/balenas.py)
3. search = the bilevel loop: SGD on w, VAdam on μ (eqs. 17-18)   (pyronas.infer.engine, order 1 or 2)
4. select = argmax of μ (``loc``), and BaLeNAS-TF: best proxy score among M draws from q(α)
   (``sample_score``), optionally against the zero-cost NAS baseline (M uniformly random
   architectures scored with the same proxy, Table 2).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from pyronas.config import load_config
from pyronas.infer import Search
from pyronas.select.proxies import score_genotype, zero_cost_nas
from pyronas.select.rules import SELECTORS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/balenas_nb201_fmnist.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default=None)
    parser.add_argument("--num-samples", type=int, nargs="+", default=[10, 50, 100], help="M of BaLeNAS-TF")
    parser.add_argument("--proxy", default="synflow", choices=["synflow", "snip", "grasp"])
    parser.add_argument("--zero-cost", action="store_true", help="also run the zero-cost NAS baseline")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    cfg = load_config(args.config, args.set)
    out = Path(args.out or cfg.output.dir or Path("runs") / cfg.name)
    search = Search(cfg, out)
    genotype = search.run()  # the config's select.rule (argmax of μ for BaLeNAS)

    results = {"loc": str(SELECTORS["loc"](search.state)), "final_val_acc": search.metrics[-1]["val_acc"]}
    for m in args.num_samples:
        g = SELECTORS["sample_score"](search.state, num_samples=m, proxy=args.proxy)
        results[f"balenas_tf_{m}"] = str(g)
    if args.zero_cost:
        data, sc = search.weight_data, cfg.supernet
        x, y = data.x[:64], data.y[:64]
        for m in args.num_samples:
            best, _, scores = zero_cost_nas(
                search.space,
                lambda g: score_genotype(g, args.proxy, x, y, sc.C, sc.layers, data.num_classes),
                num_samples=m,
                generator=torch.Generator().manual_seed(cfg.seed),
            )
            results[f"zero_cost_{m}"] = str(best)
    (out / "balenas_selection.json").write_text(json.dumps(results, indent=1))
    print(f"selected ({cfg.select.rule}): {genotype}")
    for k, v in results.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
