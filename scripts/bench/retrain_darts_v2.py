"""Retrain the published DARTS-V2 cell (Liu et al. 2019) with the DARTS protocol, or just report its size.

    python scripts/bench/retrain_darts_v2.py --count-only            # 3.349342 M params, MACs at 32x32
    python scripts/bench/retrain_darts_v2.py --config configs/train_darts_cifar10.yaml --out runs/darts-v2

The count is the check every DARTS-based paper relies on ("3.3M"): C = 36, 20 cells, auxiliary head,
10 classes, auxiliary head left out of the count as in the reference code.
"""

from __future__ import annotations

import argparse
import json

from pyronas.nn.network import Network, count_parameters
from pyronas.nn.spaces import Genotype
from pyronas.train.config import load_train_config
from pyronas.train.protocol import run_train
from pyronas.train.trainer import count_flops

DARTS_V2 = Genotype(
    "darts",
    {
        "normal": [
            ("sep_conv_3x3", 0, 2), ("sep_conv_3x3", 1, 2), ("sep_conv_3x3", 0, 3), ("sep_conv_3x3", 1, 3),
            ("sep_conv_3x3", 1, 4), ("skip_connect", 0, 4), ("skip_connect", 0, 5), ("dil_conv_3x3", 2, 5),
        ],
        "reduce": [
            ("max_pool_3x3", 0, 2), ("max_pool_3x3", 1, 2), ("skip_connect", 2, 3), ("max_pool_3x3", 1, 3),
            ("max_pool_3x3", 0, 4), ("skip_connect", 2, 4), ("skip_connect", 2, 5), ("max_pool_3x3", 1, 5),
        ],
    },
    {"normal": [2, 3, 4, 5], "reduce": [2, 3, 4, 5]},
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/train_darts_cifar10.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="runs/darts-v2")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--count-only", action="store_true", help="report parameters and MACs, do not train")
    args = parser.parse_args()
    cfg = load_train_config(args.config, args.set)
    if args.count_only:
        net = Network.from_genotype(DARTS_V2, "darts", cfg.network.C, cfg.network.layers, 3, 10, cfg.network.auxiliary)
        flops, macs = count_flops(net, (3, 32, 32))
        print(json.dumps({"params_M": count_parameters(net) / 1e6, "macs_M": macs, "flops_M": flops}))
        return
    result = run_train(cfg, DARTS_V2, args.out, resume=args.resume)
    print(json.dumps({"test_acc": result.test_acc, "params_M": result.params_M, "macs_M": result.macs_M}))


if __name__ == "__main__":
    main()
