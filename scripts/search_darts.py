"""DARTS (Liu et al. 2019) as a Pyro program, in a page, through the Python API.

    python scripts/search_darts.py [--config configs/darts_nb201_fmnist.yaml] [--out runs/darts-script]

Every piece is built here explicitly, so a researcher can swap one (a prior, a guide, an extra
objective term, the loop itself) and keep the rest:
  model     = supernet + flat prior on α (models/flat.py) + categorical likelihood scaled to N
  guide     = point mass δ(α̂) (guides/delta.py)          => −ELBO/N is exactly DARTS' cross-entropy
  objective = Trace_ELBO per datum (+ no extra terms)
  engine    = BilevelSVI: per iteration an α step on the arch split, then a w step on the weight split
              (DARTS Alg. 1, 1st order), driven here by a plain for-loop
  select    = argmax of softmax(α̂) per edge, then the space's derivation rule

``pyronas search --config ...`` runs the same engine through ``pyronas.infer.Search`` (the runner),
which adds evaluation, history, checkpoints and resume.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pyro
import torch

from pyronas.config import load_config
from pyronas.data.datasets import Batches, bilevel_split, load_dataset
from pyronas.guides.delta import DeltaGuide
from pyronas.infer.engine import BilevelSVI
from pyronas.infer.objectives import Objective
from pyronas.infer.program import SupernetModel
from pyronas.models.flat import FlatPrior
from pyronas.nn.spaces import get_space
from pyronas.nn.supernet import Supernet
from pyronas.optim.factory import lr_at, make_optimizer, set_lr

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "darts_nb201_fmnist.yaml"))
    parser.add_argument("--out", default="runs/darts-script")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    # 0. the config names the data, sizes and optimizers
    cfg = load_config(args.config, args.set)
    torch.manual_seed(cfg.seed)
    data = load_dataset(cfg.data.name, cfg.data.root, True, cfg.data.download, cfg.data.image_size)
    w_idx, a_idx = bilevel_split(len(data), cfg.data.portion, cfg.data.split, cfg.seed)
    weight_data, arch_data = data.subset(w_idx), data.subset(a_idx)
    # 1. search space + one weight-sharing supernet (plain PyTorch)
    space = get_space(cfg.space)
    supernet = Supernet(space, C=cfg.supernet.C, layers=cfg.supernet.layers, in_channels=data.shape[0],
                        num_classes=data.num_classes)
    # 2. the Pyro program: prior on α (swap FlatPrior for any models/*.py) + likelihood
    model = SupernetModel(supernet, FlatPrior(supernet))
    # 3. the variational family (swap DeltaGuide for any guides/*.py)
    guide = DeltaGuide(model, init_scale=1e-3)
    # 4. the objective: per-datum negative ELBO (+ extra terms, e.g. TermSpec("entropy", Schedule(0.1)))
    objective = Objective(pyro.infer.Trace_ELBO())
    # 5. the bilevel engine: one optimizer per level, arch step first (DARTS Alg. 1)
    opt_w = make_optimizer(list(supernet.parameters()), cfg.optim.weights, "optim.weights")
    opt_a = make_optimizer(guide.arch_parameters(), cfg.optim.arch, "optim.arch")
    svi = BilevelSVI(model, guide, objective, opt_w, opt_a, weight_size=len(weight_data), arch_size=len(arch_data),
                     order=cfg.search.order, arch_first=True, weight_clip=cfg.optim.weights.grad_clip)
    # 6. the loop: plain Python
    wb, ab = Batches(weight_data, cfg.data.batch_size, cfg.seed), Batches(arch_data, cfg.data.batch_size, cfg.seed + 1)
    steps = min(len(wb), len(ab), cfg.search.steps_per_epoch or len(wb))
    with pyro.validation_enabled(False):  # validation on in tests, off in the hot loop
        for epoch in range(cfg.search.epochs):
            set_lr(opt_w, lr_at(cfg.optim.weights, epoch, cfg.search.epochs))
            for i, (w_batch, a_batch) in enumerate(zip(wb.epoch(epoch), ab.epoch(epoch), strict=False)):
                if i == steps:
                    break
                result = svi.step(w_batch, a_batch, progress=epoch + i / steps,
                                  update_arch=epoch >= cfg.search.warmup_epochs)
            print(f"epoch {epoch}: weight-split loss {result.weight_loss:.3f}",
                  space.derive({k: supernet.to_full(k, p) for k, p in guide.op_probs().items()}))
    # 7. selection ("mean": strongest op of the expected mixing weights) and results
    genotype = space.derive({k: supernet.to_full(k, p) for k, p in guide.op_probs().items()})
    Path(args.out).mkdir(parents=True, exist_ok=True)
    genotype.save(Path(args.out) / "genotype.json")
    print("genotype:", genotype)


if __name__ == "__main__":
    main()
