"""VIM-NAS vs DARTS: how one-hot does the architecture distribution get on the same budget?

VIM-NAS' main claim (Wang et al., ICCV 2021, sec. 3.4, Figures 2 and 6) is a nearly one-hot
distribution within one epoch, where DARTS stays homogeneous. This script runs both methods
from their demo configs on the *same* data, supernet, weight optimizer, seed, warm-up and
number of steps (only the guide and the architecture optimizer differ, as in the papers) and
prints, for each, the one-hotness (mean over edges of the largest op probability) at the start
and after every epoch, plus the accuracy on the architecture split:

    python scripts/compare_onehot.py                       # the demo budget (a few minutes on CPU)
    python scripts/compare_onehot.py --set search.epochs=3 --set search.steps_per_epoch=20
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch

from pyronas.callbacks.onehot import onehotness
from pyronas.config import load_config
from pyronas.data.datasets import load_dataset
from pyronas.infer import Search

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "vimnas": ROOT / "configs" / "vimnas_nb201_fmnist.yaml",
    "darts": ROOT / "configs" / "darts_nb201_fmnist.yaml",
}
# keys that must agree for the comparison to be fair (everything but guide and optim.arch)
SHARED = ("seed", "space", "supernet", "data", "model", "optim.weights", "search.epochs", "search.warmup_epochs",
          "search.steps_per_epoch")


def _get(d: dict[str, Any], dotted: str) -> Any:
    for k in dotted.split("."):
        d = d[k]
    return d


def run_one(config: Path, overrides: list[str], data=None) -> dict[str, Any]:
    """Run one search without writing a run folder; return its one-hotness trajectory and accuracy."""
    cfg = load_config(config, overrides + ["search.callbacks=[]"])
    search = Search(cfg, None, data=data)
    start = onehotness(search.op_probs())
    search.run(progress_bar=False)
    return {
        "config": cfg,
        "onehot_start": start,
        "onehot": [m["onehot"] for m in search.metrics],
        "val_acc": [m["val_acc"] for m in search.metrics],
        "genotype": str(search.space.derive(search.op_probs())),
    }


def compare(overrides: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Run VIM-NAS and DARTS with the same ``overrides``; check the shared settings really agree."""
    overrides = list(overrides or [])
    cfgs = {m: load_config(p, overrides) for m, p in CONFIGS.items()}
    dicts = {m: c.to_dict() for m, c in cfgs.items()}
    for key in SHARED:
        if _get(dicts["vimnas"], key) != _get(dicts["darts"], key):
            raise ValueError(f"{key} differs between the two configs: not a same-budget comparison")
    dc = cfgs["vimnas"].data
    data = load_dataset(dc.name, dc.root, True, dc.download, dc.image_size)
    return {m: run_one(p, overrides, data) for m, p in CONFIGS.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override both configs")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = compare(args.set)
    print(f"{'method':8s} {'start':>6s}  one-hotness after each epoch        arch-split acc (last)")
    for name, r in results.items():
        traj = " ".join(f"{v:.3f}" for v in r["onehot"])
        print(f"{name:8s} {r['onehot_start']:6.3f}  {traj:34s}  {r['val_acc'][-1]:.3f}")
    for name, r in results.items():
        print(f"{name} genotype: {r['genotype']}")
    if args.json:
        out = {m: {k: v for k, v in r.items() if k != "config"} for m, r in results.items()}
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
