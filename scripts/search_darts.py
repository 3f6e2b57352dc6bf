"""DARTS (Liu et al. 2019) as a Pyro program, in a page, through the Python API.

    python scripts/search_darts.py [--config configs/darts_nb201_fmnist.yaml] [--out runs/darts-script]

Every piece is built here explicitly, so a researcher can swap one (a prior, a guide, an extra
objective term) and keep the rest:
  model     = supernet + flat prior on α (models/flat.py) + categorical likelihood scaled to N
  guide     = point mass δ(α̂) (guides/delta.py)          => −ELBO/N is exactly DARTS' cross-entropy
  objective = Trace_ELBO per datum (+ no extra terms)
  loop      = bilevel: weight step on one half of the data, α step on the other (1st order)
  select    = argmax of softmax(α̂) per edge, then the space's derivation rule
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pyro

from pyronas.config import load_config
from pyronas.guides.delta import DeltaGuide
from pyronas.infer.objectives import Objective
from pyronas.infer.program import SupernetModel
from pyronas.infer.search import Search
from pyronas.models.flat import FlatPrior
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.select.rules import select

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "darts_nb201_fmnist.yaml"))
    parser.add_argument("--out", default="runs/darts-script")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pyro.enable_validation(False)  # validation on in tests, off in the hot loop

    # 0. the config names the data, sizes and optimizers
    cfg = load_config(args.config, args.set)
    # 1. search space + one weight-sharing supernet (plain PyTorch)
    space = get_space(cfg.space)
    supernet = Supernet(space, C=cfg.supernet.C, layers=cfg.supernet.layers, in_channels=1, num_classes=10)
    # 2. the Pyro program: prior on α (swap FlatPrior for any models/*.py) + likelihood
    model = SupernetModel(supernet, FlatPrior(supernet))
    # 3. the variational family (swap DeltaGuide for any guides/*.py)
    guide = DeltaGuide(model, init_scale=1e-3)
    # 4. the objective: per-datum negative ELBO (+ extra terms, e.g. TermSpec("entropy", Schedule(0.1)))
    objective = Objective(pyro.infer.Trace_ELBO())
    # 5. the bilevel loop (data split, optimizers, checkpoints, history from the config)
    search = Search(cfg, args.out, model=model, guide=guide, objective=objective)
    search.run(progress_bar=True)
    # 6. selection and results
    genotype = select(search, "mean", {})
    genotype.save(Path(args.out) / "genotype.json")
    print("genotype:", genotype)
    print("arch-split accuracy per epoch:", [round(m["val_acc"], 3) for m in search.metrics])


if __name__ == "__main__":
    main()
