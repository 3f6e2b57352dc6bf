"""VIM-NAS (Wang et al., ICCV 2021) as a Pyro program, in a page, through the Python API.

    python scripts/search_vimnas.py [--config configs/vimnas_nb201_fmnist.yaml] [--out runs/vimnas] [--epochs N]

The same calls the CLI makes, spelled out so one piece can be swapped:
  model   = supernet + flat prior on A (models/flat.py), or log-uniform on A for VIM-NAS-Dropout
  guide   = the architectural network φ: fixed noise ε → μ_φ, A = μ_φ + ξ, ξ ~ N(0, 1)
            (guides/vim.py; params size small/default/large, point, dropout)
  loss    = −ELBO/N = mean CE of the sampled architecture + const (eq. 5-6; Trace_ELBO)
  loop    = weight step; after the warm-up ("pretraining stage") also a φ step with momentum SGD,
            lr 0.025 (Algorithm 1)
  record  = one-hotness and the first normal edge's op probabilities every k steps of the first
            architecture epoch and after every epoch (pyronas/onehot.py → onehot.json)
  select  = argmax of the expected op probabilities, the space's derivation rule
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pyro

from pyronas.callbacks.onehot import FILENAME
from pyronas.config import load_config
from pyronas.infer import Search

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "vimnas_nb201_fmnist.yaml"))
    parser.add_argument("--out", default="runs/vimnas-script")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pyro.enable_validation(False)

    overrides = ([f"search.epochs={args.epochs}"] if args.epochs else []) + args.set
    cfg = load_config(args.config, overrides)
    if not any(c.name == "onehot" for c in cfg.search.callbacks):  # always keep the convergence record
        cfg = load_config(args.config, overrides + ["search.callbacks=[{name: onehot}]"])
    # 1. space + supernet + model (prior) + guide (φ) + objective + optimizers, all from the config
    search = Search(cfg, args.out)
    g = search.guide
    print("model:", type(search.model.prior).__name__, "| guide:", type(g).__name__,
          f"(size {g.size}, point {g.point}, dropout {g.dropout}),",
          sum(p.numel() for p in search.guide.arch_parameters()), "parameters in φ")
    # 2. the bilevel loop (Algorithm 1)
    genotype = search.run(progress_bar=True)
    # 3. convergence: how one-hot the distribution became, epoch by epoch
    rows = json.loads((Path(args.out) / FILENAME).read_text())
    for r in rows:
        if r["at"] != "step":
            first = max(r["first_edge"], key=r["first_edge"].get)
            print(f"{r['at']:9s} epoch {r['epoch']:3d}: one-hot {r['onehot']:.3f}, first edge {r['edge']}: "
                  f"{first} {r['first_edge'][first]:.3f}")
    print("accuracy on the architecture split:", f"{search.metrics[-1]['val_acc']:.3f}")
    print("genotype:", genotype)


if __name__ == "__main__":
    main()
