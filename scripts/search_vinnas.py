"""VINNAS (Ferianc et al.) as a Pyro program, in a page, through the Python API.

    python scripts/search_vinnas.py [--config configs/vinnas_m_fmnist.yaml] [--out runs/vinnas] [--epochs N]

The same calls the CLI makes, spelled out so one piece can be swapped:
  model   = supernet + log-uniform prior on α and on every conv/linear weight (models/log_uniform.py)
  guide   = mean-field Gaussian q(α) q(w), local reparameterisation for w (guides/mean_field.py)
  loss    = −ELBO/N with the analytic Molchanov KL (TraceMeanField_ELBO), γ1 on ``w/``, γ2 on
            ``alpha/`` (Pyro scale/mask on both sides), + γ3 · Σ_edges H(E_q softmax α)  (eq. 8)
  loop    = weight step, architecture step after the warm-up, keep the lowest-error θ_α (Alg. 1)
  select  = positive SNR μ_α/σ_α² (and magnitude), # non-zero parameters after pruning at log λ ≥ 3
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pyro

from pyronas.config import load_config
from pyronas.infer import Search
from pyronas.nn.bayesian import sparsity
from pyronas.select.rules import select

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "vinnas_m_fmnist.yaml"))
    parser.add_argument("--out", default="runs/vinnas-script")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pyro.enable_validation(False)

    cfg = load_config(args.config, [f"search.epochs={args.epochs}"] if args.epochs else [])
    # 1. space + supernet + model (prior) + guide + objective + optimizers, all from the config
    search = Search(cfg, args.out)
    print("model:", type(search.model.prior).__name__, "| guide:", type(search.guide).__name__)
    print("random weights:", len(search.model.prior.weight_shapes), "tensors,",
          sum(p.numel() for p in search.guide.weight_parameters()) // 2, "values")
    # 2. the bilevel loop (keeps the lowest arch-split-error θ_α with search.keep: best)
    search.run(progress_bar=True)
    # 3. selection: positive SNR (the paper's default) and magnitude
    for rule in ("snr", "magnitude"):
        print(f"{rule:9s}", select(search.state, rule, {}))
    best = search.best or {}
    print(f"kept θ_α of epoch {best.get('epoch')} (arch-split accuracy {best.get('val_acc', float('nan')):.3f})")
    # 4. sparsity of the supernet: weights with log λ ≥ 3 pruned
    s = sparsity(search.guide.weights, search.supernet)
    print(f"non-zero parameters: {s.kept} of {s.total} ({100 * s.fraction:.1f}%)")


if __name__ == "__main__":
    main()
